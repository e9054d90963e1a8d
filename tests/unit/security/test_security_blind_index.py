"""Blind indexes: determinism, key separation, rotation, never a bare hash."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.security import BlindIndexer, IndexKeys, KeyRing, StaticKeyProvider

I1 = bytes(range(32))
I2 = bytes(range(100, 132))
PHONE = "+8613800138000"


def indexer(length: int = 16) -> BlindIndexer:
    return BlindIndexer(IndexKeys({"i1": I1}, current="i1"), length=length)


def digest_of(token: str) -> bytes:
    return bytes.fromhex(token.rsplit(":", 1)[1])


def test_token_format() -> None:
    token = indexer().token("phone", PHONE)
    assert re.fullmatch(r"phone:i1:[0-9a-f]{32}", token)
    assert len(digest_of(token)) == 16
    assert BlindIndexer.key_id_of(token) == "i1"


@pytest.mark.parametrize("length", [8, 12, 16, 24, 32])
def test_length_is_configurable(length: int) -> None:
    token = indexer(length).token("email", "a@example.com")
    assert len(digest_of(token)) == length
    longest = indexer(32).token("email", "a@example.com")
    assert digest_of(longest)[:length] == digest_of(token)  # truncation of the same HMAC


@pytest.mark.parametrize("length", [0, 7, 33, 64, -1])
def test_length_out_of_range(length: int) -> None:
    with pytest.raises(ValueError, match="length must be an integer from 8 to 32"):
        indexer(length)


def test_length_type_and_kind_validation() -> None:
    with pytest.raises(TypeError):
        BlindIndexer(IndexKeys({"i1": I1}, current="i1"), length=True)
    with pytest.raises(TypeError):
        BlindIndexer({"i1": I1})  # type: ignore[arg-type]
    for kind in ("", " phone", "ph\none", "x" * 201):
        with pytest.raises(ValueError, match="kind"):
            indexer().token(kind, PHONE)
    with pytest.raises(TypeError):
        indexer().token("phone", 13800138000)  # type: ignore[arg-type]


def test_tokens_are_stable_known_answers() -> None:
    # tokens are stored: any change of the construction would hide every stored customer
    rotated = BlindIndexer(IndexKeys({"i1": I1, "i2": I2}, current="i2"))
    assert rotated.lookup_tokens("phone", PHONE) == (
        "phone:i2:039eaab61abc28d9150b26b95310311e",
        "phone:i1:3a245159323ad4f263c8c0273eea2325",
    )
    assert (
        rotated.token("blk.name", "p:wei zhang") == "blk.name:i2:ec8e8ca166b846f463603c2dfd64b844"
    )
    # repeated use of the cached keyed state gives the same token every time
    assert {rotated.token("phone", PHONE) for _ in range(3)} == {
        rotated.lookup_tokens("phone", PHONE)[0]
    }


def test_unhashable_or_non_string_kinds_raise_type_error() -> None:
    for kind in (["phone"], 7, None):
        with pytest.raises(TypeError, match="kind must be a string"):
            indexer().token(kind, PHONE)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="kind must be a string"):
            indexer().lookup_tokens(kind, PHONE)  # type: ignore[arg-type]


def test_not_a_bare_hash_nor_an_hmac_under_the_raw_index_key() -> None:
    digest = digest_of(indexer().token("phone", PHONE))
    value = PHONE.encode()
    candidates = [
        hashlib.sha256(value).digest(),
        hashlib.sha256(b"phone" + value).digest(),
        hashlib.sha256(b"phone:" + value).digest(),
        hmac.new(I1, value, hashlib.sha256).digest(),
        hmac.new(I1, b"phone:" + value, hashlib.sha256).digest(),
    ]
    assert all(candidate[:16] != digest for candidate in candidates)


def test_kinds_and_keys_are_separated() -> None:
    one = indexer()
    assert digest_of(one.token("phone", PHONE)) != digest_of(one.token("email", PHONE))
    other = BlindIndexer(IndexKeys({"i1": I2}, current="i1"))
    assert one.token("phone", PHONE) != other.token("phone", PHONE)


def test_rotation_lookup_uses_every_key_current_first() -> None:
    old = indexer()
    stored = old.token("phone", PHONE)
    rotated = BlindIndexer(IndexKeys({"i1": I1, "i2": I2}, current="i2"))
    tokens = rotated.lookup_tokens("phone", PHONE)
    assert len(tokens) == 2
    assert tokens[0] == rotated.token("phone", PHONE)
    assert tokens[0].startswith("phone:i2:")
    assert tokens[1] == stored
    assert not rotated.is_current(stored)
    assert rotated.is_current(tokens[0])
    assert rotated.current_key_id == "i2"


def test_tokens_helper_and_key_id_of() -> None:
    idx = indexer()
    tokens = idx.tokens([("phone", PHONE), ("email", "a@example.com")])
    assert tokens == {idx.token("phone", PHONE), idx.token("email", "a@example.com")}
    assert BlindIndexer.key_id_of("id:CUSTOM:i1:abc") == "i1"  # kinds may contain ':'
    for bad in ("nocolons", "a:b", "::"):
        with pytest.raises(ValueError, match="not a blind-index token"):
            BlindIndexer.key_id_of(bad)


def test_repr_has_no_key_material() -> None:
    text = repr(indexer())
    assert I1.hex() not in text and "i1" in text


def test_independent_of_master_and_data_keys() -> None:
    index = IndexKeys({"i1": I1}, current="i1")
    first = KeyRing(StaticKeyProvider({"k1": bytes(32)}, current="k1"), index)
    second = KeyRing(StaticKeyProvider({"k9": bytes(range(32))}, current="k9"), index)
    assert first.blind_index.token("phone", PHONE) == second.blind_index.token("phone", PHONE)
    data_key, _, _ = first.new_data_key("c-1")
    with_data_key = BlindIndexer(IndexKeys({"i1": data_key}, current="i1"))
    assert with_data_key.token("phone", PHONE) != first.blind_index.token("phone", PHONE)


@given(kind=st.sampled_from(["phone", "email", "ric", "id:X"]), value=st.text(max_size=40))
@settings(max_examples=200)
def test_deterministic_property(kind: str, value: str) -> None:
    a = indexer()
    b = BlindIndexer(IndexKeys({"i1": I1}, current="i1"))
    assert a.token(kind, value) == a.token(kind, value) == b.token(kind, value)
    assert a.lookup_tokens(kind, value) == (a.token(kind, value),)


@given(a=st.text(max_size=30), b=st.text(max_size=30))
@settings(max_examples=200)
def test_distinct_values_give_distinct_tokens(a: str, b: str) -> None:
    idx = indexer()
    assert (idx.token("email", a) == idx.token("email", b)) == (a == b)


@given(value=st.text(min_size=1, max_size=30))
@settings(max_examples=100)
def test_key_separation_property(value: str) -> None:
    one = BlindIndexer(IndexKeys({"i1": I1}, current="i1"))
    two = BlindIndexer(IndexKeys({"i1": I2}, current="i1"))
    assert digest_of(one.token("phone", value)) != digest_of(two.token("phone", value))
    assert digest_of(one.token("phone", value)) != digest_of(one.token("email", value))


@given(
    kind=st.sampled_from(["phone", "email", "ric", "blk.name", "名字"]),
    value=st.text(max_size=200),
    length=st.integers(8, 32),
)
@settings(max_examples=200)
def test_token_is_the_hmac_of_the_value_under_the_kind_key(
    kind: str, value: str, length: int
) -> None:
    # the precomputed inner and outer pads give exactly hmac.new's digest (RFC 2104), for
    # values of any length (shorter and longer than SHA-256's 64-byte block)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from custrec.security.blind_index import INFO_PREFIX

    kind_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=INFO_PREFIX + kind.encode()
    ).derive(I1)
    expected = hmac.new(kind_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    token = indexer(length).token(kind, value)
    assert token == f"{kind}:i1:{expected.digest()[:length].hex()}"


class _Text(str):
    """A string subclass: never on the fast path, the same token."""


def _outcome(call: object) -> tuple[str, str]:
    try:
        return "token", call()  # type: ignore[operator]
    except (TypeError, ValueError) as exc:
        return type(exc).__name__, str(exc)


_KINDS = st.one_of(
    st.sampled_from(["phone", "email", "blk.name", "名字", "", " phone", "a\nb"]),
    st.text(max_size=8),
    st.builds(_Text, st.sampled_from(["phone", "email"])),
    st.sampled_from([None, 7, b"phone"]),
)
_VALUES = st.one_of(
    st.text(max_size=80),
    st.builds(_Text, st.text(max_size=20)),
    st.sampled_from([None, 7, b"+86"]),
)


@given(calls=st.lists(st.tuples(_KINDS, _VALUES), min_size=1, max_size=12))
@settings(max_examples=200)
def test_token_fast_path_answers_as_the_general_path(calls: list[tuple[object, object]]) -> None:
    # an indexer that has seen a kind takes the fast path for it; each answer (token or error)
    # is the general path's, whatever came before, and lookup_tokens of one key gives it too
    from custrec.security.blind_index import _check_value

    warm = indexer()
    for kind, value in calls * 2:
        general = _outcome(lambda k=kind, v=value: indexer()._token("i1", k, _check_value(v)))  # type: ignore[misc]
        assert _outcome(lambda k=kind, v=value: warm.token(k, v)) == general  # type: ignore[misc]
        looked_up = _outcome(lambda k=kind, v=value: warm.lookup_tokens(k, v)[0])  # type: ignore[misc]
        assert looked_up == general
