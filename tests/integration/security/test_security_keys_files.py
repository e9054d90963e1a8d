"""Key files on disk: generated private and loadable, refused when others may read them or when
malformed or missing, and rotated in place keeping the old keys."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from custrec.security import (
    FileKeyProvider,
    IndexKeys,
    KeyConfigurationError,
    KeyRing,
    generate_key_file,
    rotate_key_file,
)

K1 = bytes(range(32))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@posix_only
def test_generate_key_file_is_private_and_loadable(tmp_path: Path) -> None:
    path = generate_key_file(tmp_path / "keys.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    provider = FileKeyProvider(path)
    assert provider.current_key_id == "k1"
    index = IndexKeys.from_file(path)
    assert index.current == "i1"
    assert str(path) in repr(provider)
    with pytest.raises(KeyConfigurationError, match="already exists"):
        generate_key_file(path)


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_file_provider_refuses_group_or_world_access(tmp_path: Path, mode: int) -> None:
    path = generate_key_file(tmp_path / "keys.json")
    path.chmod(mode)
    with pytest.raises(KeyConfigurationError, match="chmod 600"):
        FileKeyProvider(path)
    with pytest.raises(KeyConfigurationError):
        IndexKeys.from_file(path)
    with pytest.raises(KeyConfigurationError):
        KeyRing.from_file(path)
    assert FileKeyProvider(path, allow_insecure_permissions=True).current_key_id == "k1"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"keys": {}, "current": "k1"}',
        '{"keys": {"k1": "AAAA"}, "current": "k1"}',
        f'{{"keys": {{"k1": "{b64(K1)}"}}, "current": "k2"}}',
        f'{{"keys": {{"k1": "{b64(K1)}"}}}}',
        f'{{"keys": {{"bad id": "{b64(K1)}"}}, "current": "bad id"}}',
    ],
)
def test_file_provider_malformed_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyConfigurationError) as info:
        FileKeyProvider(path)
    assert b64(K1) not in str(info.value)


def test_file_provider_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigurationError, match="does not exist"):
        FileKeyProvider(tmp_path / "nope.json")


@posix_only
def test_rotate_key_file_adds_current_keys_and_keeps_old(tmp_path: Path) -> None:
    path = generate_key_file(tmp_path / "keys.json")
    before = KeyRing.from_file(path)
    data_key, master_id, wrapped = before.new_data_key("c-1")
    token = before.blind_index.token("phone", "+8613800138000")

    rotate_key_file(path, master_key_id="k2", index_key_id="i2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    after = KeyRing.from_file(path)
    assert after.provider.current_key_id == "k2"
    assert after.index_keys.key_ids() == ("i2", "i1")
    assert after.needs_rewrap(master_id)
    new_id, rewrapped = after.rewrap("c-1", master_id, wrapped)
    assert new_id == "k2"
    assert after.unwrap_data_key("c-1", new_id, rewrapped) == data_key
    assert token in after.blind_index.lookup_tokens("phone", "+8613800138000")
    assert after.audit_key() == before.audit_key()  # pinned in the file
    with pytest.raises(ValueError, match="already used"):
        rotate_key_file(path, master_key_id="k1")
    with pytest.raises(ValueError, match="give"):
        rotate_key_file(path)
