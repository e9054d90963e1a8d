"""Key providers, index keys and the KeyRing.

Key files on disk are in tests/integration/security/test_security_keys_files.py.
"""

from __future__ import annotations

import base64

import pytest

from custrec.errors import CustrecError
from custrec.security import (
    DecryptionFailed,
    EnvKeyProvider,
    IndexKeys,
    KeyConfigurationError,
    KeyProvider,
    KeyRing,
    KeyUnavailable,
    StaticKeyProvider,
)

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
I1 = bytes(range(64, 96))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


# ------------------------------------------------------------------------ StaticKeyProvider


def test_static_provider_round_trip_and_fresh_nonce() -> None:
    provider = StaticKeyProvider({"k1": K1}, current="k1")
    key_id, wrapped = provider.wrap(b"data key", aad=b"c-1")
    _, again = provider.wrap(b"data key", aad=b"c-1")
    assert key_id == "k1"
    assert wrapped != again
    assert provider.unwrap("k1", wrapped, aad=b"c-1") == b"data key"
    assert isinstance(provider, KeyProvider)


def test_static_provider_refuses_wrong_aad_and_tampering() -> None:
    provider = StaticKeyProvider({"k1": K1}, current="k1")
    _, wrapped = provider.wrap(b"data key", aad=b"c-1")
    with pytest.raises(DecryptionFailed):
        provider.unwrap("k1", wrapped, aad=b"c-2")
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        provider.unwrap("k1", bytes(flipped), aad=b"c-1")
    with pytest.raises(DecryptionFailed):
        provider.unwrap("k1", wrapped[:10], aad=b"c-1")


def test_unknown_key_id_is_key_unavailable_not_key_error() -> None:
    provider = StaticKeyProvider({"k1": K1}, current="k1")
    _, wrapped = provider.wrap(b"x", aad=b"")
    with pytest.raises(KeyUnavailable) as info:
        provider.unwrap("k9", wrapped, aad=b"")
    assert not isinstance(info.value, KeyError)
    assert isinstance(info.value, CustrecError)
    assert "k9" in str(info.value)


def test_key_moved_to_another_key_id_fails() -> None:
    provider = StaticKeyProvider({"k1": K1, "k2": K1}, current="k1")
    _, wrapped = provider.wrap(b"x", aad=b"")
    with pytest.raises(DecryptionFailed):  # same bytes, but the key id is bound
        provider.unwrap("k2", wrapped, aad=b"")


@pytest.mark.parametrize(
    ("keys", "current", "error"),
    [
        ({"k1": b"short"}, "k1", ValueError),
        ({"k1": K1 + b"x"}, "k1", ValueError),
        ({"k1": "not bytes"}, "k1", TypeError),
        ({}, "k1", ValueError),
        ({"k1": K1}, "k2", ValueError),
        ({"bad:id": K1}, "bad:id", ValueError),
        ({"": K1}, "", ValueError),
    ],
)
def test_static_provider_validates_eagerly(
    keys: dict[str, object], current: str, error: type
) -> None:
    with pytest.raises(error) as info:
        StaticKeyProvider(keys, current=current)  # type: ignore[arg-type]
    assert K1.hex() not in str(info.value)


def test_wrong_length_message_is_clear_and_keyless() -> None:
    secret = b"0123456789abcdef"
    with pytest.raises(ValueError, match="exactly 32 bytes") as info:
        StaticKeyProvider({"k1": secret}, current="k1")
    assert secret.decode() not in str(info.value)


def test_repr_shows_ids_only() -> None:
    provider = StaticKeyProvider({"k1": K1, "k2": K2}, current="k2")
    text = repr(provider)
    assert text == "StaticKeyProvider(key_ids=['k1', 'k2'], current='k2')"
    assert K1.hex() not in text and b64(K1) not in text


def test_with_key_rotates_and_keeps_old_keys() -> None:
    old = StaticKeyProvider({"k1": K1}, current="k1")
    _, wrapped = old.wrap(b"dk", aad=b"a")
    new = old.with_key("k2", K2)
    assert new.current_key_id == "k2"
    assert new.key_ids() == frozenset({"k1", "k2"})
    assert new.unwrap("k1", wrapped, aad=b"a") == b"dk"
    assert new.wrap(b"dk", aad=b"a")[0] == "k2"
    assert old.with_key("k3", K2, current=False).current_key_id == "k1"
    with pytest.raises(ValueError, match="already used"):
        old.with_key("k1", K2)


# ---------------------------------------------------------------------------- env provider


def test_env_provider_first_entry_is_current() -> None:
    env = {"CUSTREC_MASTER_KEYS": f"k2:{b64(K2)}, k1:{b64(K1)}"}
    provider = EnvKeyProvider(environ=env)
    assert provider.current_key_id == "k2"
    assert provider.key_ids() == frozenset({"k1", "k2"})
    assert "CUSTREC_MASTER_KEYS" in repr(provider)
    assert b64(K2) not in repr(provider)


def test_env_provider_accepts_urlsafe_unpadded_base64() -> None:
    key = bytes([251] * 32)  # encodes with '+'/'/' in standard base64
    encoded = base64.urlsafe_b64encode(key).decode().rstrip("=")
    provider = EnvKeyProvider("MY_KEYS", environ={"MY_KEYS": f"main:{encoded}"})
    other = StaticKeyProvider({"main": key}, current="main")
    _, wrapped = other.wrap(b"x", aad=b"")
    assert provider.unwrap("main", wrapped, aad=b"") == b"x"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "k1",
        f"{b64(K1)}",
        "k1:not-base64!!",
        f"k1:{b64(b'short key')}",
        f"k1:{b64(K1)},k1:{b64(K2)}",
        f"bad id:{b64(K1)}",
        f"k1:{b64(K1)},",
    ],
)
def test_env_provider_malformed_values_never_echoed(value: str) -> None:
    with pytest.raises(KeyConfigurationError) as info:
        EnvKeyProvider(environ={"CUSTREC_MASTER_KEYS": value})
    message = str(info.value)
    assert "CUSTREC_MASTER_KEYS" in message
    for part in value.replace(",", ":").split(":"):
        if len(part.strip()) > 4:
            assert part.strip() not in message
    assert isinstance(info.value, ValueError)


def test_env_provider_unset_variable() -> None:
    with pytest.raises(KeyConfigurationError, match="CUSTREC_MASTER_KEYS is not set"):
        EnvKeyProvider(environ={})


# ----------------------------------------------------------------------------- index keys


def test_index_keys_order_and_lookup() -> None:
    keys = IndexKeys({"i1": I1, "i2": K2, "i3": K1}, current="i2")
    assert keys.key_ids() == ("i2", "i1", "i3")
    assert keys.secret("i1") == I1
    with pytest.raises(KeyUnavailable):
        keys.secret("nope")
    assert I1.hex() not in repr(keys)
    trimmed = keys.without_key("i1")
    assert trimmed.key_ids() == ("i2", "i3")
    with pytest.raises(ValueError, match="current"):
        keys.without_key("i2")
    with pytest.raises(KeyUnavailable):
        keys.without_key("i9")
    with pytest.raises(ValueError, match="exactly 32 bytes"):
        IndexKeys({"i1": b"x" * 16}, current="i1")


def test_index_keys_from_env() -> None:
    keys = IndexKeys.from_env(environ={"CUSTREC_INDEX_KEYS": f"i2:{b64(K2)},i1:{b64(I1)}"})
    assert keys.key_ids() == ("i2", "i1")
    with pytest.raises(KeyConfigurationError, match="CUSTREC_INDEX_KEYS"):
        IndexKeys.from_env(environ={})


# -------------------------------------------------------------------------------- KeyRing


def test_keyring_data_keys_are_bound_to_the_customer() -> None:
    ring = KeyRing.generate()
    data_key, master_id, wrapped = ring.new_data_key("c-1")
    assert len(data_key) == 32
    assert master_id == ring.provider.current_key_id
    assert ring.unwrap_data_key("c-1", master_id, wrapped) == data_key
    with pytest.raises(DecryptionFailed):
        ring.unwrap_data_key("c-2", master_id, wrapped)
    other, _, _ = ring.new_data_key("c-1")
    assert other != data_key
    with pytest.raises(ValueError, match="customer_id"):
        ring.new_data_key("")


def test_keyring_rewrap_is_a_no_op_under_the_current_key() -> None:
    ring = KeyRing.generate()
    _, master_id, wrapped = ring.new_data_key("c-1")
    assert not ring.needs_rewrap(master_id)
    assert ring.rewrap("c-1", master_id, wrapped) == (master_id, wrapped)


def test_keyring_rotation_with_static_provider() -> None:
    provider = StaticKeyProvider({"k1": K1}, current="k1")
    index = IndexKeys({"i1": I1}, current="i1")
    ring = KeyRing(provider, index)
    data_key, master_id, wrapped = ring.new_data_key("c-1")
    rotated = KeyRing(provider.with_key("k2", K2), index)
    new_id, new_wrapped = rotated.rewrap("c-1", master_id, wrapped)
    assert new_id == "k2"
    assert rotated.unwrap_data_key("c-1", "k2", new_wrapped) == data_key
    retired = KeyRing(StaticKeyProvider({"k2": K2}, current="k2"), index)
    with pytest.raises(KeyUnavailable):
        retired.unwrap_data_key("c-1", master_id, wrapped)
    assert retired.unwrap_data_key("c-1", new_id, new_wrapped) == data_key


class FakeKms:
    """A provider that keeps its master key inside and offers only wrap/unwrap."""

    def __init__(self) -> None:
        self._inner = StaticKeyProvider({"arn-1": K1}, current="arn-1")
        self.calls: list[str] = []

    @property
    def current_key_id(self) -> str:
        return "arn-1"

    def wrap(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        self.calls.append("wrap")
        return self._inner.wrap(plaintext, aad=aad)

    def unwrap(self, key_id: str, wrapped: bytes, *, aad: bytes) -> bytes:
        self.calls.append("unwrap")
        return self._inner.unwrap(key_id, wrapped, aad=aad)

    def key_ids(self) -> frozenset[str]:
        return frozenset({"arn-1"})


def test_keyring_accepts_any_key_provider() -> None:
    kms = FakeKms()
    ring = KeyRing(kms, IndexKeys({"i1": I1}, current="i1"))
    data_key, key_id, wrapped = ring.new_data_key("c-1")
    assert ring.unwrap_data_key("c-1", key_id, wrapped) == data_key
    assert kms.calls == ["wrap", "unwrap"]
    with pytest.raises(TypeError, match="KeyProvider"):
        KeyRing(object(), IndexKeys({"i1": I1}, current="i1"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="IndexKeys"):
        KeyRing(kms, {"i1": I1})  # type: ignore[arg-type]


def test_keyring_from_env_and_repr() -> None:
    env = {
        "CUSTREC_MASTER_KEYS": f"k1:{b64(K1)}",
        "CUSTREC_INDEX_KEYS": f"i1:{b64(I1)}",
    }
    ring = KeyRing.from_env(environ=env)
    text = repr(ring)
    assert "k1" in text and "i1" in text and "derived" in text
    for secret in (K1, I1, ring.audit_key()):
        assert secret.hex() not in text and b64(secret) not in text
    pinned = KeyRing.from_env(environ={**env, "CUSTREC_AUDIT_KEY": b64(K2)})
    assert pinned.audit_key() == K2
    assert "pinned" in repr(pinned)


def test_audit_key_is_separate_from_every_other_secret() -> None:
    index = IndexKeys({"i1": I1}, current="i1")
    ring = KeyRing(StaticKeyProvider({"k1": K1}, current="k1"), index)
    audit = ring.audit_key()
    assert len(audit) == 32
    assert audit not in (I1, K1)
    data_key, _, _ = ring.new_data_key("c-1")
    assert data_key not in (I1, K1, audit)
    rotated = KeyRing(ring.provider, index.with_key("i2", K2))
    assert rotated.audit_key() != audit
    assert rotated.audit_key(index_key_id="i1") == audit
    with pytest.raises(ValueError, match="audit key"):
        KeyRing(ring.provider, index, audit_key=b"short")
