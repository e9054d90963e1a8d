"""Field encryption and the DocumentCipher."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    IdentifierScheme,
    Interaction,
    InteractionKind,
)
from custrec.model.serialization import make_converter
from custrec.security import (
    ENCRYPTED_KEY,
    DecryptionFailed,
    DocumentCipher,
    crypto,
    decrypt_field,
    decrypt_json,
    encrypt_field,
    encrypt_json,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

customer_ids = st.text(min_size=1, max_size=20)
field_names = st.text(min_size=1, max_size=30)


# ---------------------------------------------------------------------------- fields


def test_round_trip_and_format() -> None:
    blob = encrypt_field(KEY, b"hello", customer_id="c-1", field="name")
    assert blob[0] == 1
    assert len(blob) == 1 + 12 + 5 + 16
    assert decrypt_field(KEY, blob, customer_id="c-1", field="name") == b"hello"


def test_fresh_nonce_every_call() -> None:
    blobs = {encrypt_field(KEY, b"same", customer_id="c", field="f") for _ in range(50)}
    assert len(blobs) == 50
    assert len({blob[1:13] for blob in blobs}) == 50


@pytest.mark.parametrize(
    ("key", "customer_id", "field"),
    [
        (OTHER_KEY, "c-1", "name"),
        (KEY, "c-2", "name"),
        (KEY, "c-1", "notes"),
        (KEY, "c-1", "name "),
    ],
)
def test_wrong_key_customer_or_field_fails(key: bytes, customer_id: str, field: str) -> None:
    blob = encrypt_field(KEY, b"value", customer_id="c-1", field="name")
    with pytest.raises(DecryptionFailed) as info:
        decrypt_field(key, blob, customer_id=customer_id, field=field)
    assert "value" not in str(info.value).replace("authenticated", "")


def test_associated_data_encoding_is_unambiguous() -> None:
    blob = encrypt_field(KEY, b"x", customer_id="ab", field="c")
    with pytest.raises(DecryptionFailed):
        decrypt_field(KEY, blob, customer_id="a", field="bc")


def test_tampering_truncation_and_unknown_version() -> None:
    blob = encrypt_field(KEY, b"value", customer_id="c", field="f")
    for index in range(len(blob)):
        broken = bytearray(blob)
        broken[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            decrypt_field(KEY, bytes(broken), customer_id="c", field="f")
    with pytest.raises(DecryptionFailed, match="truncated"):
        decrypt_field(KEY, blob[:20], customer_id="c", field="f")
    with pytest.raises(DecryptionFailed, match="version 2"):
        decrypt_field(KEY, b"\x02" + blob[1:], customer_id="c", field="f")


def test_argument_validation() -> None:
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        encrypt_field(b"k" * 16, b"x", customer_id="c", field="f")
    with pytest.raises(TypeError, match="plaintext"):
        encrypt_field(KEY, "text", customer_id="c", field="f")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="customer_id"):
        encrypt_field(KEY, b"x", customer_id="", field="f")
    with pytest.raises(ValueError, match="field"):
        encrypt_field(KEY, b"x", customer_id="c", field="")
    with pytest.raises(TypeError, match="ciphertext"):
        decrypt_field(KEY, "blob", customer_id="c", field="f")  # type: ignore[arg-type]


@given(plaintext=st.binary(max_size=512), customer_id=customer_ids, field=field_names)
@settings(max_examples=200)
def test_round_trip_property(plaintext: bytes, customer_id: str, field: str) -> None:
    blob = encrypt_field(KEY, plaintext, customer_id=customer_id, field=field)
    assert decrypt_field(KEY, blob, customer_id=customer_id, field=field) == plaintext
    if plaintext and len(plaintext) >= 8:
        assert plaintext not in blob


@given(
    plaintext=st.binary(max_size=64),
    a=st.tuples(customer_ids, field_names),
    b=st.tuples(customer_ids, field_names),
)
@settings(max_examples=200)
def test_aad_binding_property(plaintext: bytes, a: tuple[str, str], b: tuple[str, str]) -> None:
    blob = encrypt_field(KEY, plaintext, customer_id=a[0], field=a[1])
    if a == b:
        assert decrypt_field(KEY, blob, customer_id=b[0], field=b[1]) == plaintext
    else:
        with pytest.raises(DecryptionFailed):
            decrypt_field(KEY, blob, customer_id=b[0], field=b[1])


def test_json_helpers() -> None:
    value = {"b": ["张三", 1, 2.5, True, None], "a": "x"}
    blob = encrypt_json(KEY, value, customer_id="c", field="f")
    assert decrypt_json(KEY, blob, customer_id="c", field="f") == value
    with pytest.raises(ValueError, match="JSON compliant"):
        encrypt_json(KEY, float("nan"), customer_id="c", field="f")
    with pytest.raises(TypeError):
        encrypt_json(KEY, {1, 2}, customer_id="c", field="f")


# --------------------------------------------------------------------------- documents

PERSONAL_STRINGS = (
    "张三丰",
    "北京张氏科技有限公司",
    "李四",
    "+8613800138000",
    "+8613900139000",
    "zsf@example.com",
    "lisi@example.cn",
    "zsf_wechat",
    "11010519491231002X",
    "E12345678",
    "建国路88号",
    "朝阳区",
    "100020",
    "prefers calls after 6pm",
    "王五",
)


def customer_document() -> dict[str, Any]:
    """A realistic unstructured Customer, built by hand."""
    return {
        "id": "0190aa00-0000-7000-8000-000000000001",
        "version": 3,
        "kind": "individual",
        "name": "张三丰",
        "registered_name": "北京张氏科技有限公司",
        "gender": "male",
        "birth_date": "1949-12-31",
        "industry": None,
        "employee_band": None,
        "revenue_band": None,
        "founded_on": None,
        "legal_representative": "王五",
        "identifiers": [
            {"scheme": "CN-RIC", "value": "11010519491231002X", "system": None},
            {"scheme": "PASSPORT", "value": "E12345678", "system": None},
        ],
        "contacts": [
            {
                "name": "张三丰",
                "title": "owner",
                "phones": ["+8613800138000", "+8613900139000"],
                "emails": ["zsf@example.com"],
                "wechat": "zsf_wechat",
                "primary": True,
            },
            {
                "name": "李四",
                "title": "assistant",
                "phones": [],
                "emails": ["lisi@example.cn"],
                "wechat": None,
                "primary": False,
            },
        ],
        "addresses": [
            {
                "kind": "office",
                "country": "CN",
                "province": "北京市",
                "city": "北京市",
                "district": "朝阳区",
                "street": "建国路88号",
                "postal_code": "100020",
            }
        ],
        "category": "individual",
        "stage": "active",
        "intent": "high",
        "product_interests": ["erp"],
        "needs": [],
        "tags": ["vip"],
        "notes": "prefers calls after 6pm",
        "owner": "u-1",
        "team": "east",
        "source": "referral",
        "grade": "A",
        "milestones": {
            "contract_signed_on": None,
            "contract_amount": None,
            "first_payment_on": None,
            "service_expires_on": None,
            "satisfaction": 5,
        },
        "created_at": "2025-01-01T00:00:00+00:00",
        "updated_at": "2025-01-02T00:00:00+00:00",
        "last_verified_at": None,
        "verification": "verified",
    }


CUSTOMER_ID = "0190aa00-0000-7000-8000-000000000001"


def test_customer_document_round_trip_hides_every_personal_value() -> None:
    cipher = DocumentCipher.for_type(Customer)
    document = customer_document()
    original = copy.deepcopy(document)
    sealed = cipher.seal(document, data_key=KEY, customer_id=CUSTOMER_ID)
    assert document == original  # input untouched
    text = json.dumps(sealed, ensure_ascii=False)
    for value in PERSONAL_STRINGS:
        assert value not in text, value
    assert "1949-12-31" not in text  # birth dates are personal too
    # non-personal fields are untouched
    for key in ("id", "kind", "stage", "owner", "team", "grade", "tags", "milestones"):
        assert sealed[key] == document[key]
    assert sealed["contacts"][0]["title"] == "owner"
    assert sealed["identifiers"][0]["scheme"] == "CN-RIC"
    assert sealed["addresses"][0]["city"] == "北京市"
    assert sealed["contacts"][1]["wechat"] is None  # None stays None
    assert set(sealed["name"]) == {ENCRYPTED_KEY}
    assert set(sealed["contacts"][0]["phones"]) == {ENCRYPTED_KEY}  # the list is one value
    assert cipher.open(sealed, data_key=KEY, customer_id=CUSTOMER_ID) == document


def test_customer_document_from_the_real_converter() -> None:
    customer = Customer(
        id="c-42",
        kind=CustomerKind.INDIVIDUAL,
        name="张三丰",
        birth_date=date(1949, 12, 31),
        identifiers=[Identifier(scheme=IdentifierScheme.RIC, value="11010519491231002X")],
        contacts=[Contact(name="张三丰", phones=("+8613800138000",), emails=("zsf@example.com",))],
        addresses=[Address(province="北京", city="北京", street="建国路88号")],
        notes="prefers calls after 6pm",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    converter = make_converter()
    data = converter.unstructure(customer)
    cipher = DocumentCipher.for_type(Customer)
    sealed = cipher.seal(data, data_key=KEY, customer_id="c-42")
    text = json.dumps(sealed, ensure_ascii=False)
    for value in ("张三丰", "+8613800138000", "zsf@example.com", "11010519491231002X", "建国路"):
        assert value not in text
    opened = cipher.open(sealed, data_key=KEY, customer_id="c-42")
    assert converter.structure(opened, Customer) == customer


def test_concrete_paths_bind_tokens_to_their_place() -> None:
    cipher = DocumentCipher.for_type(Customer)
    sealed = cipher.seal(customer_document(), data_key=KEY, customer_id=CUSTOMER_ID)
    swapped = copy.deepcopy(sealed)
    contacts = swapped["contacts"]
    contacts[0]["emails"], contacts[1]["emails"] = contacts[1]["emails"], contacts[0]["emails"]
    with pytest.raises(DecryptionFailed):
        cipher.open(swapped, data_key=KEY, customer_id=CUSTOMER_ID)
    moved = copy.deepcopy(sealed)
    moved["legal_representative"] = moved["name"]
    with pytest.raises(DecryptionFailed):
        cipher.open(moved, data_key=KEY, customer_id=CUSTOMER_ID)
    with pytest.raises(DecryptionFailed):
        cipher.open(sealed, data_key=KEY, customer_id="another-customer")
    with pytest.raises(DecryptionFailed):
        cipher.open(sealed, data_key=OTHER_KEY, customer_id=CUSTOMER_ID)


def test_open_refuses_plaintext_and_malformed_tokens() -> None:
    cipher = DocumentCipher.for_type(Customer)
    sealed = cipher.seal(customer_document(), data_key=KEY, customer_id=CUSTOMER_ID)
    injected = copy.deepcopy(sealed)
    injected["contacts"][0]["phones"] = ["+8613700000000"]
    with pytest.raises(DecryptionFailed, match=r"contacts\[0\]\.phones is not encrypted") as info:
        cipher.open(injected, data_key=KEY, customer_id=CUSTOMER_ID)
    assert "+8613700000000" not in str(info.value)
    for bad in ({ENCRYPTED_KEY: 5}, {ENCRYPTED_KEY: "%%%"}, {ENCRYPTED_KEY: "AAAA", "x": 1}):
        broken = copy.deepcopy(sealed)
        broken["name"] = bad
        with pytest.raises(DecryptionFailed):
            cipher.open(broken, data_key=KEY, customer_id=CUSTOMER_ID)


def test_record_id_binds_interaction_documents() -> None:
    cipher = DocumentCipher.for_type(Interaction)
    assert cipher.paths == ("summary",)
    first = {"id": "i-1", "customer_id": "c-1", "kind": "call", "summary": "asked about 王五"}
    second = {**first, "id": "i-2", "summary": "other"}
    sealed_1 = cipher.seal(first, data_key=KEY, customer_id="c-1", record_id="i-1")
    sealed_2 = cipher.seal(second, data_key=KEY, customer_id="c-1", record_id="i-2")
    assert cipher.open(sealed_1, data_key=KEY, customer_id="c-1", record_id="i-1") == first
    forged = {**sealed_2, "summary": sealed_1["summary"]}
    with pytest.raises(DecryptionFailed):
        cipher.open(forged, data_key=KEY, customer_id="c-1", record_id="i-2")
    assert InteractionKind.CALL.value == first["kind"]


def test_document_shape_and_path_validation() -> None:
    with pytest.raises(ValueError, match="malformed personal path"):
        DocumentCipher(["contacts[.phones"])
    with pytest.raises(TypeError):
        DocumentCipher("name")
    cipher = DocumentCipher(["contacts[].phones", "tags[]"])
    with pytest.raises(ValueError, match="contacts is not a list"):
        cipher.seal({"contacts": {"phones": []}}, data_key=KEY, customer_id="c")
    with pytest.raises(ValueError, match=r"contacts\[0\] is not an object"):
        cipher.seal({"contacts": ["x"]}, data_key=KEY, customer_id="c")
    sealed = cipher.seal(
        {"tags": ["a", None, "b"], "contacts": None}, data_key=KEY, customer_id="c"
    )
    assert sealed["tags"][1] is None and ENCRYPTED_KEY in sealed["tags"][0]
    assert cipher.personal_paths({"tags": ["a", None], "contacts": [{"phones": []}]}) == [
        "contacts[0].phones",
        "tags[0]",
    ]
    assert "DocumentCipher(paths=" in repr(cipher)


def _parent(document: Any, path: str) -> tuple[Any, Any]:
    """The container of a concrete path (``contacts[0].phones``) and the key in it."""
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    container = document
    for part in parents:
        container = container[int(part)] if part.isdigit() else container[part]
    return container, int(last) if last.isdigit() else last


def test_every_sealed_field_gets_its_own_fresh_nonce() -> None:
    cipher = DocumentCipher.for_type(Customer)
    paths = cipher.personal_paths(customer_document())
    nonces: list[bytes] = []
    for _ in range(20):
        sealed = cipher.seal(customer_document(), data_key=KEY, customer_id=CUSTOMER_ID)
        for path in paths:
            container, key = _parent(sealed, path)
            nonces.append(base64.b64decode(container[key][ENCRYPTED_KEY])[1:13])
    assert len(nonces) == 20 * len(paths) > 20 * 10
    assert len(set(nonces)) == len(nonces)


def test_documents_sealed_field_by_field_still_open() -> None:
    # what earlier versions wrote: encrypt_json per concrete path, standard padded base64
    cipher = DocumentCipher.for_type(Customer)
    document = customer_document()
    written = copy.deepcopy(document)
    for path in cipher.personal_paths(document):
        container, key = _parent(written, path)
        blob = encrypt_json(KEY, container[key], customer_id=CUSTOMER_ID, field=path)
        container[key] = {ENCRYPTED_KEY: base64.b64encode(blob).decode("ascii")}
    assert cipher.open(written, data_key=KEY, customer_id=CUSTOMER_ID) == document


def test_sealed_tokens_are_the_documented_field_ciphertexts() -> None:
    cipher = DocumentCipher.for_type(Customer)
    sealed = cipher.seal(customer_document(), data_key=KEY, customer_id=CUSTOMER_ID)
    blob = base64.b64decode(sealed["contacts"][0]["phones"][ENCRYPTED_KEY], validate=True)
    assert blob[0] == 1
    assert decrypt_json(KEY, blob, customer_id=CUSTOMER_ID, field="contacts[0].phones") == [
        "+8613800138000",
        "+8613900139000",
    ]


@settings(max_examples=200)
@given(st.one_of(st.text(), st.lists(st.text(), max_size=4)))
def test_json_of_strings_is_the_canonical_encoding(value: str | list[str]) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    try:
        expected_bytes = expected.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            crypto._dump_json(value)
        return
    assert crypto._dump_json(value) == expected_bytes


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300)
@given(_JSON_VALUES)
def test_a_value_reads_back_as_json_reads_its_text(value: Any) -> None:
    """The unescaped-string shortcut of reading gives what ``json.loads`` gives, for strings
    with quotes, backslashes, control characters or any other text, and for every other
    value."""
    try:
        text = crypto._dump_json(value)
    except UnicodeEncodeError:  # lone surrogates: never stored
        return
    assert crypto._load_json(text) == json.loads(text.decode("utf-8")) == value


@settings(max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=12),
        st.builds(lambda b: b'"' + b + b'"', st.binary(max_size=10)),
        st.text(max_size=8).map(lambda t: ('"' + t + '"').encode("utf-8", "surrogatepass")),
    )
)
def test_any_plaintext_reads_as_json_loads_reads_it(plaintext: bytes) -> None:
    """Even a plaintext our encoder never makes reads as ``json.loads`` reads it, or fails."""
    try:
        expected = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        with pytest.raises(DecryptionFailed):
            crypto._load_json(plaintext)
        return
    assert crypto._load_json(plaintext) == expected


@settings(max_examples=100)
@given(st.lists(st.text(), min_size=1, max_size=3), st.text(min_size=1, max_size=8))
def test_a_detached_document_opens_to_what_was_sealed(phones: list[str], name: str) -> None:
    cipher = DocumentCipher.for_type(Customer)
    document = {"name": name, "contacts": [{"phones": phones, "emails": [name]}]}
    try:
        sealed, blobs = cipher.seal_detached(document, data_key=KEY, customer_id=CUSTOMER_ID)
    except UnicodeEncodeError:
        return
    opened = cipher.open_detached(
        copy.deepcopy(sealed), blobs, data_key=KEY, customer_id=CUSTOMER_ID
    )
    assert opened == document
    # each ciphertext is bound to its customer and its field: moved, it does not open
    with pytest.raises(DecryptionFailed):
        cipher.open_detached(copy.deepcopy(sealed), blobs, data_key=KEY, customer_id="c-other")
    if len(blobs) > 1:
        with pytest.raises(DecryptionFailed):
            cipher.open_detached(
                copy.deepcopy(sealed), blobs[::-1], data_key=KEY, customer_id=CUSTOMER_ID
            )


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=8))
def test_a_detached_value_is_the_documented_field_ciphertext(name: str) -> None:
    """What open_detached opens is what encrypt_json makes for the field's path, and back."""
    cipher = DocumentCipher.for_type(Customer)
    try:
        blob = encrypt_json(KEY, name, customer_id=CUSTOMER_ID, field="name")
    except UnicodeEncodeError:
        return
    opened = cipher.open_detached({"name": 0}, [blob], data_key=KEY, customer_id=CUSTOMER_ID)
    assert opened == {"name": name}
    _, blobs = cipher.seal_detached({"name": name}, data_key=KEY, customer_id=CUSTOMER_ID)
    assert decrypt_json(KEY, blobs[0], customer_id=CUSTOMER_ID, field="name") == name


def test_missing_fields_are_skipped() -> None:
    cipher = DocumentCipher.for_type(Customer)
    sealed = cipher.seal({"name": "x"}, data_key=KEY, customer_id="c")
    assert set(sealed) == {"name"}
    assert cipher.open(sealed, data_key=KEY, customer_id="c") == {"name": "x"}


@settings(max_examples=300)
@given(
    st.lists(st.tuples(field_names, _JSON_VALUES), max_size=5),
    customer_ids,
    st.none() | customer_ids,
)
def test_each_sealed_value_is_the_field_ciphertext_of_its_json_text(
    values: list[tuple[str, Any]], customer_id: str, record_id: str | None
) -> None:
    """A document's values sealed at once (text inline, any other value by the general
    encoder) decrypt, under their concrete path (and ``@record_id``), to the text
    ``encrypt_json`` encrypts for them, each under its own nonce."""
    cipher = DocumentCipher.for_type(Customer)
    try:
        expected = [crypto._dump_json(value) for _, value in values]
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            cipher.seal_values(values, data_key=KEY, customer_id=customer_id, record_id=record_id)
        return
    blobs = cipher.seal_values(values, data_key=KEY, customer_id=customer_id, record_id=record_id)
    suffix = "" if record_id is None else f"@{record_id}"
    opened = [
        decrypt_field(KEY, blob, customer_id=customer_id, field=path + suffix)
        for (path, _), blob in zip(values, blobs, strict=True)
    ]
    assert opened == expected
    assert len({blob[1:13] for blob in blobs}) == len(blobs)
