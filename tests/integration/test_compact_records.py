"""Customers stored compactly (issue 16): the creation entry of the history does not repeat the
record, sealed customers are packed (compact JSON and raw ciphertexts), and what stores written
before hold (JSON payloads with base64 tokens, creation entries holding the whole record) reads
as it did."""

from __future__ import annotations

import hashlib
import json
import warnings
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, KeyRing, PlaintextStorageWarning, Registry, SQLiteStore
from custrec.backends import MemoryStore
from custrec.errors import DecryptionFailed, StorageError
from custrec.model.records import Customer
from custrec.model.serialization import make_converter
from custrec.security import mask_record
from custrec.security.crypto import DocumentCipher
from custrec.storage import CustomerRow, HistoryRecord, Store, _packed
from custrec.storage.codec import EncryptingCodec
from custrec.testing import TickingClock
from custrec.validation import parse_customer

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask"})
MASKED_ADMIN = Actor(id="admin-2", roles={"admin"})
CONVERTER = make_converter()
SKELETON_DICTIONARY_SHA256 = "0ec2fe3bd6a892698793756f67bc324500bfb15047800bc8de9a2e7cd237ff04"


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"钱{n:04d}",
        "contacts": [{"phones": [f"1360000{n:04d}"], "emails": [f"p{n}@example.cn"]}],
        "addresses": [{"city": "北京", "street": f"长安街{n}号", "postal_code": "100000"}],
        "tags": ["vip"],
        **extra,
    }


@pytest.fixture(params=["memory", "memory-plaintext", "sqlite"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Registry, Store]]:
    store: Store = (
        SQLiteStore(tmp_path / "crm.sqlite") if request.param == "sqlite" else MemoryStore()
    )
    keyring = None if request.param == "memory-plaintext" else KeyRing.generate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(store, keyring=keyring, clock=TickingClock(T0))
    yield registry, store
    store.close()


def as_first_stored(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = CONVERTER.unstructure(attrs.evolve(customer, version=1))
    return data


def test_the_creation_entry_holds_no_copy_of_the_record(setup: tuple[Registry, Store]) -> None:
    registry, store = setup
    c = registry.customers.intake(person(1), actor=ADMIN)
    with store.transaction(readonly=True) as session:
        [created] = session.history.list_for(c.id)
    assert (created.action, created.path, created.payload) == ("create", "", b"")
    [entry] = registry.customers.history(c.id, actor=ADMIN)
    assert (entry.action, entry.old, entry.new) == ("create", None, as_first_stored(c))


def test_history_rebuilds_the_first_version_through_every_kind_of_change(
    setup: tuple[Registry, Store],
) -> None:
    registry, _ = setup
    c = registry.customers.intake(person(2, milestones={"satisfaction": 3}), actor=ADMIN)
    first = as_first_stored(c)
    contact = {"phones": ["13600009999"], "emails": ["second@example.cn"], "name": "李四"}
    steps: list[dict[str, Any]] = [
        {"name": "钱新名", "tags": ["vip", "b2b"]},
        {"contacts": [*first["contacts"], contact]},  # an element added
        {"contacts": [contact]},  # one changed, one removed
        {"milestones": {"satisfaction": 5, "contract_signed_on": "2026-01-02"}},
        {"addresses": [], "notes": "注意"},
        {"state": "archived"},
        {"state": "live", "stage": "active", "owner": "someone"},
    ]
    for step in steps:
        registry.customers.update(c.id, step, actor=ADMIN, reason="step")
    history = registry.customers.history(c.id, actor=ADMIN)
    assert history[0].action == "create"
    assert history[0].new == first
    assert len(history) > len(steps)
    masked = registry.customers.history(c.id, actor=MASKED_ADMIN)
    assert masked[0].new == CONVERTER.unstructure(mask_record(attrs.evolve(c, version=1)))
    current = registry.customers.get(c.id, actor=ADMIN)
    assert CONVERTER.unstructure(current)["name"] != first["name"]


def test_a_merged_record_keeps_its_first_version(setup: tuple[Registry, Store]) -> None:
    registry, _ = setup
    survivor = registry.customers.intake(person(3), actor=ADMIN)
    other = registry.customers.intake(person(4, notes="早期"), actor=ADMIN)
    registry.customers.update(other.id, {"name": "钱改名"}, actor=ADMIN, reason="typo")
    registry.matching.merge(survivor.id, [other.id], actor=ADMIN, reason="same person")
    history = registry.customers.history(other.id, actor=ADMIN)
    assert [h.action for h in history] == ["create", "update", "merged"]
    assert history[0].new == as_first_stored(other)
    assert (history[-1].old, history[-1].new) == (None, {"merged_into": survivor.id})
    assert registry.customers.history(survivor.id, actor=ADMIN)[0].new == as_first_stored(survivor)


def legacy_customer(registry: Registry, store: Store, n: int, *, packed: bool = False) -> Customer:
    """A customer written as custrec wrote them before issue 16: the row's payload in JSON with
    base64 tokens (``packed`` keeps the packed form) and a creation entry holding that payload."""
    parsed = parse_customer(person(n), region="CN", as_of=T0).record
    assert parsed is not None
    record = attrs.evolve(parsed, version=1, owner="legacy", created_at=T0, updated_at=T0)
    codec = registry._context.codec
    document = {"schema_version": 1, "data": CONVERTER.unstructure(record)}
    with pytest.MonkeyPatch.context() as patch, store.transaction() as session:
        if not packed:
            patch.setattr(EncryptingCodec, "_shape", lambda self, record_type: None)
        sealer = codec.begin(session)
        payload = sealer.seal_record(Customer, document, customer_id=record.id, new_customer=True)
        sealer.flush()
        session.customers.add(
            CustomerRow(
                id=record.id,
                version=1,
                payload=payload,
                index_keys=frozenset(),
                kind=record.kind.value,
                stage=record.stage.value,
                state=record.state.value,
                owner=record.owner,
                team=None,
                grade=None,
                tags=record.tags,
                created_at=T0,
                updated_at=T0,
            )
        )
        session.history.append(
            [
                HistoryRecord(
                    customer_id=record.id,
                    at=T0,
                    actor_id="legacy",
                    action="create",
                    path="",
                    reason=None,
                    payload=payload,
                )
            ]
        )
        session.commit()
    if registry.encrypted and not packed:
        assert payload.startswith(b'{"schema_version":1,"data":') and b'"$enc"' in payload
    return record


def test_records_written_before_read_as_they_did(setup: tuple[Registry, Store]) -> None:
    registry, store = setup
    record = legacy_customer(registry, store, 5)
    assert registry.customers.get(record.id, actor=ADMIN) == record
    [entry] = registry.customers.history(record.id, actor=ADMIN)
    assert entry.new == CONVERTER.unstructure(record)
    registry.customers.update(record.id, {"name": "钱新"}, actor=ADMIN, reason="rename")
    with store.transaction(readonly=True) as session:
        rewritten = session.customers.get(record.id).payload
    assert _packed.is_packed(rewritten) == registry.encrypted
    history = registry.customers.history(record.id, actor=ADMIN)
    assert history[0].new == CONVERTER.unstructure(record)
    assert (history[1].path, history[1].old, history[1].new) == ("name", "钱0005", "钱新")


def test_a_packed_customer_is_compact_and_holds_no_personal_value(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "crm.sqlite")
    registry = Registry(store, keyring=KeyRing.generate(), clock=TickingClock(T0))
    c = registry.customers.intake(person(6), actor=ADMIN)
    with store.transaction(readonly=True) as session:
        payload = session.customers.get(c.id).payload
    store.close()
    assert _packed.is_packed(payload)
    assert b"$enc" not in payload and b"null" not in payload and c.id.encode() not in payload
    for value in ("钱0006", "13600000006", "p6@example.cn", "长安街6号", "100000"):
        assert value.encode() not in payload
    skeleton = _packed.unpack(payload, c.id).skeleton
    assert skeleton["stage"] == "lead"  # non-personal fields stay readable without the keys
    # what the row holds beside the payload (owner, tags, instants...) is left out
    for column in ("owner", "tags", "created_at"):
        assert column not in skeleton
    assert b"2026-03-01" not in payload
    assert len(payload) < 360  # the skeleton is deflated


def test_a_payload_that_left_out_its_row_facts_needs_them(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "crm.sqlite")
    registry = Registry(store, keyring=KeyRing.generate(), clock=TickingClock(T0))
    c = registry.customers.intake(person(8), actor=ADMIN)
    codec = registry._context.codec
    with store.transaction(readonly=True) as session:
        row = session.customers.get(c.id)
        sealer = codec.begin(session)
        with pytest.raises(StorageError, match="facts of its row"):
            sealer.open_record(Customer, row.payload, customer_id=c.id)
        facts = {
            "kind": row.kind,
            "state": row.state,
            "owner": row.owner,
            "team": row.team,
            "grade": row.grade,
            "tags": list(row.tags),
            "created_at": CONVERTER.unstructure(row.created_at),
            "updated_at": CONVERTER.unstructure(row.updated_at),
        }
        document = sealer.open_record(Customer, row.payload, customer_id=c.id, facts=facts)
    store.close()
    assert document["data"] == CONVERTER.unstructure(c)


def test_compaction_round_trips_every_field_and_keeps_unknown_ones() -> None:
    shape = _packed.Shape.of(Customer)
    record = parse_customer(person(7, milestones={"satisfaction": 4}), as_of=T0).record
    assert record is not None
    data = CONVERTER.unstructure(attrs.evolve(record, created_at=T0, updated_at=T0))
    data["from_the_future"] = {"x": None}
    compact = _packed.compact(dict(data), shape, record.id)
    assert compact is not None
    assert "id" not in compact and "birth_date" not in compact and "needs" not in compact
    assert compact["milestones"] == {"satisfaction": 4}
    assert compact["contacts"][0].keys() == {"phones", "emails", "primary"}
    expanded = _packed.expand(compact, shape, record.id)
    assert expanded == data and list(expanded) == list(data)
    elsewhere = _packed.compact(dict(data), shape, "other")
    assert elsewhere is not None and elsewhere["id"] == record.id
    assert _packed.expand(elsewhere, shape, "other") == data
    # a document the converter did not make (a field missing here or in a contact) is not
    # compacted, so that it opens unchanged
    partial = {k: v for k, v in data.items() if k != "needs"}
    assert _packed.compact(partial, shape, record.id) is None
    data["contacts"][0].pop("wechat")
    assert _packed.compact(data, shape, record.id) is None


def test_a_partial_document_opens_as_it_was_sealed() -> None:
    codec = EncryptingCodec(KeyRing.generate())
    store = MemoryStore()
    document = {"schema_version": 1, "data": {"name": "张", "contacts": [], "notes": None}}
    with store.transaction() as session:
        sealer = codec.begin(session)
        payload = sealer.seal_record(
            Customer, {"schema_version": 1, "data": dict(document["data"])}, customer_id="c-1"
        )
        assert _packed.is_packed(payload)
        assert _packed.unpack(payload, "c-1").skeleton["contacts"] == []
        assert sealer.open_record(Customer, payload, customer_id="c-1") == document


def test_a_packed_payload_refuses_what_it_cannot_have_made() -> None:
    payload = _packed.pack(1, {"name": 0}, [b"\x01" * 40])
    assert _packed.unpack(payload, "c-1") == (1, _packed.COMPACTED, {"name": 0}, [b"\x01" * 40])
    for broken in (
        payload[:-1],
        payload[:4],
        _packed.MAGIC + b"\x01\x01\x05[1,2]",  # not an object
        _packed.MAGIC + b"\x01\x08\x02{}",  # an unknown flag
        _packed.MAGIC + b"\x01\x05\x02{}",  # "deflated", but no DEFLATE stream
        _packed.MAGIC + b"\x01\x02\x02{}",  # facts left out of a document not compacted
        _packed.MAGIC,
    ):
        with pytest.raises(StorageError):
            _packed.unpack(broken, "c-1")

    cipher = DocumentCipher(["data.name", "data.notes"])
    key = bytes(32)
    sealed, blobs = cipher.seal_detached(
        {"data": {"name": "钱", "notes": None}}, data_key=key, customer_id="c-1"
    )
    assert sealed == {"data": {"name": 0, "notes": None}} and len(blobs) == 1
    opened = cipher.open_detached(
        {"data": {"name": 0, "notes": None}}, blobs, data_key=key, customer_id="c-1"
    )
    assert opened == {"data": {"name": "钱", "notes": None}}
    for document, ciphertexts in (
        ({"data": {"name": "injected"}}, blobs),  # a plaintext value at a personal path
        ({"data": {"name": 0, "notes": 0}}, blobs),  # more placeholders than ciphertexts
        ({"data": {"name": 0}}, [*blobs, *blobs]),  # more ciphertexts than placeholders
        ({"data": {"name": 0}}, [blobs[0][:-1] + b"\x00"]),  # a forged ciphertext
    ):
        with pytest.raises(DecryptionFailed):
            cipher.open_detached(document, ciphertexts, data_key=key, customer_id="c-1")
    with pytest.raises(DecryptionFailed):  # moved to another customer
        cipher.open_detached({"data": {"name": 0}}, blobs, data_key=key, customer_id="c-2")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
SKELETONS = st.dictionaries(st.text(), JSON_VALUES, max_size=8)


@given(
    st.integers(0, 127),  # one varint byte: the flags are the fourth byte
    SKELETONS,
    st.lists(st.binary(max_size=80), max_size=6),
    st.sampled_from([_packed.COMPACTED, _packed.COMPACTED | _packed.WITH_FACTS, 0]),
)
def test_a_packed_payload_unpacks_to_what_was_packed(
    version: int, skeleton: dict[str, Any], ciphertexts: list[bytes], flags: int
) -> None:
    payload = _packed.pack(version, skeleton, ciphertexts, flags=flags)
    assert _packed.unpack(payload, "c-1") == (version, flags, skeleton, ciphertexts)
    plain = json.dumps(skeleton, ensure_ascii=False, separators=(",", ":")).encode()
    assert payload[3] & _packed.DEFLATED or plain in payload  # deflated only when that is shorter


@given(SKELETONS)
def test_the_primed_compressor_deflates_as_a_new_one_with_the_dictionary(
    skeleton: dict[str, Any],
) -> None:
    encoded = json.dumps(skeleton, ensure_ascii=False, separators=(",", ":")).encode()
    new = zlib.compressobj(
        6, zlib.DEFLATED, -11, 2, zlib.Z_DEFAULT_STRATEGY, _packed.SKELETON_DICTIONARY
    )
    primed = _packed._PRIMED.copy()
    expected = new.compress(encoded) + new.flush()
    assert primed.compress(encoded) + primed.flush() == expected


def test_the_skeleton_is_deflated_with_the_fixed_dictionary() -> None:
    skeleton = {
        "version": 1,
        "name": 0,
        "identifiers": [{"scheme": "CN-RIC", "value": 0}],
        "contacts": [{"phones": 0, "emails": 0, "primary": False}],
        "addresses": [{"kind": "home", "country": "CN", "city": "北京", "street": 0}],
        "stage": "lead",
        "verification": "unverified",
    }
    payload = _packed.pack(1, skeleton, [], flags=_packed.COMPACTED)
    assert payload[3] == _packed.COMPACTED | _packed.DEFLATED
    assert len(payload) < 50  # about 230 bytes of JSON
    assert _packed.unpack(payload, "c-1").skeleton == skeleton
    # the dictionary is part of the stored format: payloads written with it must stay readable
    digest = hashlib.sha256(_packed.SKELETON_DICTIONARY).hexdigest()
    assert digest == SKELETON_DICTIONARY_SHA256


def test_a_payload_packed_before_deflation_still_unpacks() -> None:
    body = b'{"stage":"lead","contacts":[]}'
    payload = _packed.MAGIC + bytes([1, _packed.COMPACTED, len(body)]) + body + b"\x02ab"
    assert _packed.unpack(payload, "c-1") == (1, 1, {"stage": "lead", "contacts": []}, [b"ab"])


@given(st.binary(max_size=60))
def test_a_corrupt_deflated_skeleton_is_a_storage_error(stream: bytes) -> None:
    payload = _packed.MAGIC + bytes([1, _packed.COMPACTED | _packed.DEFLATED, len(stream)]) + stream
    try:
        unpacked = _packed.unpack(payload, "c-1")
    except StorageError as exc:
        message = str(exc)
    else:
        message = "" if isinstance(unpacked.skeleton, dict) else "not an object"
    assert message in ("", "payload of c-1 is a malformed packed document")
