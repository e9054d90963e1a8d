"""Master keys and index keys: where secrets come from.

A :class:`KeyProvider` holds the master keys that wrap (encrypt) per-customer data keys. It is a
protocol shaped so that a KMS or Vault can implement it without ever releasing the master key:
custrec only asks it to :meth:`~KeyProvider.wrap` and :meth:`~KeyProvider.unwrap` small blobs.
Three implementations ship here, all AES-256-GCM over locally held keys:

- :class:`StaticKeyProvider`: keys given in memory (tests, demos, or keys from your own loader);
- :class:`EnvKeyProvider`: keys from an environment variable, ``"<id>:<base64>[,<id>:<base64>]"``
  with the first entry current;
- :class:`FileKeyProvider`: keys from a JSON file readable only by its owner.

:class:`IndexKeys` holds the separate secrets behind blind indexes; they are never derived from
master or data keys. :func:`generate_key_file` writes a fresh key file (mode 0600) and
:func:`rotate_key_file` adds a new current key to one.

>>> provider = StaticKeyProvider({"k1": bytes(32)}, current="k1")
>>> key_id, wrapped = provider.wrap(b"secret", aad=b"c-1")
>>> key_id, provider.unwrap(key_id, wrapped, aad=b"c-1")
('k1', b'secret')
>>> provider
StaticKeyProvider(key_ids=['k1'], current='k1')

Errors never contain key material or the value of a variable or file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custrec.errors import InsecureKeyFile, KeyConfigurationError, KeyUnavailable
from custrec.security._common import KEY_SIZE, check_key, check_key_id, pack
from custrec.security.crypto import DecryptionFailed

__all__ = [
    "DEFAULT_AUDIT_VARIABLE",
    "DEFAULT_INDEX_VARIABLE",
    "DEFAULT_MASTER_VARIABLE",
    "EnvKeyProvider",
    "FileKeyProvider",
    "IndexKeys",
    "InsecureKeyFile",
    "KeyConfigurationError",
    "KeyProvider",
    "KeyUnavailable",
    "StaticKeyProvider",
    "generate_key_file",
    "load_key_file",
    "read_audit_key_from_env",
    "rotate_key_file",
]

DEFAULT_MASTER_VARIABLE: Final = "CUSTREC_MASTER_KEYS"
DEFAULT_INDEX_VARIABLE: Final = "CUSTREC_INDEX_KEYS"
DEFAULT_AUDIT_VARIABLE: Final = "CUSTREC_AUDIT_KEY"

_WRAP_VERSION: Final = 1
_WRAP_LABEL: Final = b"custrec/wrap/v1"
_NONCE_SIZE: Final = 12
_WRAP_HEADER: Final = bytes([_WRAP_VERSION])


@runtime_checkable
class KeyProvider(Protocol):
    """Holds master keys and wraps/unwraps data keys with them.

    Implement it over a KMS or Vault: the master key never has to leave the service. ``aad`` is
    associated data that must be presented again to unwrap (map it to an AWS KMS encryption
    context, a Vault ``context``, ...). ``wrap`` uses the current key and returns its id;
    ``unwrap`` takes the id that ``wrap`` returned, and raises :class:`KeyUnavailable` for an
    unknown id and :class:`~custrec.errors.DecryptionFailed` when authentication fails.
    """

    @property
    def current_key_id(self) -> str:
        """The id of the key :meth:`wrap` uses."""
        ...

    def wrap(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        """Encrypt ``plaintext`` under the current key; return ``(key id, wrapped bytes)``."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, *, aad: bytes) -> bytes:
        """Decrypt bytes made by :meth:`wrap` under the key ``key_id``."""
        ...

    def key_ids(self) -> frozenset[str]:
        """Every key id this provider can unwrap with."""
        ...


def _check_keys(keys: object, current: object, *, what: str) -> tuple[dict[str, bytes], str]:
    if not isinstance(keys, Mapping):
        raise TypeError(f"{what} must be a mapping of key id to key bytes")
    if not keys:
        raise ValueError(f"{what} must hold at least one key")
    checked: dict[str, bytes] = {}
    for key_id, key in keys.items():
        kid = check_key_id(key_id, what=f"{what} id")
        checked[kid] = check_key(key, what=f"{what} {kid!r}")
    current_id = check_key_id(current, what=f"current {what} id")
    if current_id not in checked:
        raise ValueError(f"current {what} id {current_id!r} is not among the keys")
    return checked, current_id


def _check_bytes(value: object, *, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


class StaticKeyProvider:
    """A :class:`KeyProvider` over 32-byte AES-256 keys held in memory.

    ``keys`` maps key ids (1-64 characters of letters, digits, ``_ . -``) to keys; ``current``
    names the key new wraps use. Wrapping is AES-256-GCM with a fresh 96-bit nonce; the
    associated data binds the key id and ``aad``. Raises ``ValueError`` for a key of the wrong
    length or an unknown ``current``.
    """

    __slots__ = ("_aeads", "_current", "_keys", "_wrap_head")

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        self._keys, self._current = _check_keys(keys, current, what="master key")
        # == the first two parts of pack(_WRAP_LABEL, key id, aad) for the current key
        self._wrap_head = pack(_WRAP_LABEL, self._current.encode())
        # the AES-GCM object of each master key, built once (setting up the cipher costs more
        # than wrapping one 32-byte data key)
        self._aeads: dict[str, AESGCM] = {}

    @classmethod
    def generate(cls, key_id: str = "k1") -> StaticKeyProvider:
        """Return a provider with one fresh random key (for tests and demos)."""
        return cls({key_id: AESGCM.generate_key(bit_length=256)}, current=key_id)

    def with_key(self, key_id: str, key: bytes, *, current: bool = True) -> StaticKeyProvider:
        """Return a new provider with ``key`` added (and made current unless ``current=False``).

        Raises ``ValueError`` if ``key_id`` is already used.
        """
        if key_id in self._keys:
            raise ValueError(f"master key id {key_id!r} is already used")
        keys = {**self._keys, key_id: key}
        return StaticKeyProvider(keys, current=key_id if current else self._current)

    @property
    def current_key_id(self) -> str:
        """The id of the key :meth:`wrap` uses."""
        return self._current

    def key_ids(self) -> frozenset[str]:
        """Every configured key id."""
        return frozenset(self._keys)

    def _key(self, key_id: str) -> bytes:
        if not isinstance(key_id, str):
            raise TypeError(f"key id must be a string, not {type(key_id).__name__}")
        key = self._keys.get(key_id)
        if key is None:
            raise KeyUnavailable(f"master key {key_id!r} is not available")
        return key

    def _aead(self, key_id: str) -> AESGCM:
        aead = self._aeads.get(key_id) if isinstance(key_id, str) else None
        if aead is None:
            aead = AESGCM(self._key(key_id))
            self._aeads[key_id] = aead
        return aead

    def wrap(self, plaintext: bytes, *, aad: bytes) -> tuple[str, bytes]:
        """Encrypt ``plaintext`` under the current key; return ``(key id, wrapped bytes)``."""
        data = _check_bytes(plaintext, what="plaintext")
        context = _check_bytes(aad, what="aad")
        key_id = self._current
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead(key_id).encrypt(nonce, data, self._wrap_head + pack(context))
        return key_id, _WRAP_HEADER + nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes, *, aad: bytes) -> bytes:
        """Decrypt bytes made by :meth:`wrap`.

        Raises :class:`KeyUnavailable` for an unknown key id and :class:`DecryptionFailed` if
        the bytes do not authenticate under that key with that ``aad``.
        """
        aead = self._aead(key_id)
        data = _check_bytes(wrapped, what="wrapped key")
        context = _check_bytes(aad, what="aad")
        if len(data) < 1 + _NONCE_SIZE + 16 or data[0] != _WRAP_VERSION:
            raise DecryptionFailed("wrapped key is truncated or in an unknown format")
        nonce = data[1 : 1 + _NONCE_SIZE]
        try:
            return aead.decrypt(
                nonce, data[1 + _NONCE_SIZE :], pack(_WRAP_LABEL, key_id.encode(), context)
            )
        except InvalidTag:
            raise DecryptionFailed(
                "wrapped key could not be authenticated (wrong master key, customer or data)"
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_ids={sorted(self._keys)!r}, current={self._current!r})"


# ------------------------------------------------------------------------------ loading


def _decode_key(text: object, *, where: str) -> bytes:
    if not isinstance(text, str):
        raise KeyConfigurationError(f"{where}: a key must be a base64 string")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigurationError(f"{where}: a key is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise KeyConfigurationError(
            f"{where}: a key must decode to {KEY_SIZE} bytes (got {len(key)} bytes)"
        )
    return key


def _encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _parse_key_list(text: str, *, where: str) -> tuple[dict[str, bytes], str]:
    """Parse ``"<id>:<base64>[,<id>:<base64>...]"``; the first entry is current."""
    keys: dict[str, bytes] = {}
    entries = [entry.strip() for entry in text.split(",")]
    if not entries or not entries[0]:
        raise KeyConfigurationError(f"{where} is empty (expected '<id>:<base64 key>[,...]')")
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise KeyConfigurationError(
                f"{where}: entry {position} is malformed (expected '<id>:<base64 key>')"
            )
        try:
            check_key_id(key_id)
        except ValueError:
            raise KeyConfigurationError(
                f"{where}: entry {position} has an invalid key id "
                "(1-64 letters, digits, '_', '.' or '-')"
            ) from None
        if key_id in keys:
            raise KeyConfigurationError(f"{where}: key id {key_id!r} appears twice")
        keys[key_id] = _decode_key(encoded, where=f"{where} entry {position}")
    return keys, next(iter(keys))


def _read_variable(variable: str, environ: Mapping[str, str] | None) -> str:
    if not isinstance(variable, str) or not variable:
        raise TypeError("variable must be a non-empty string")
    env = os.environ if environ is None else environ
    value = env.get(variable)
    if value is None or not value.strip():
        raise KeyConfigurationError(
            f"environment variable {variable} is not set (expected '<id>:<base64 key>[,...]')"
        )
    return value


def _check_permissions(path: Path, allow_insecure: bool) -> None:
    if os.name != "posix" or allow_insecure:
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureKeyFile(path, stat.S_IMODE(mode))


def _read_key_file(
    path: str | os.PathLike[str], allow_insecure: bool
) -> tuple[Path, dict[str, Any]]:
    file = Path(path)
    try:
        _check_permissions(file, allow_insecure)
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyConfigurationError(f"key file {file} does not exist") from None
    except OSError as exc:
        raise KeyConfigurationError(f"key file {file} cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise KeyConfigurationError(f"key file {file} is not valid JSON") from None
    if not isinstance(data, dict):
        raise KeyConfigurationError(f"key file {file} must hold a JSON object")
    return file, data


def _keys_from_document(
    data: Mapping[str, Any], *, file: Path, keys_name: str, current_name: str
) -> tuple[dict[str, bytes], str]:
    raw = data.get(keys_name)
    current = data.get(current_name)
    if not isinstance(raw, dict) or not raw:
        raise KeyConfigurationError(f"key file {file}: {keys_name!r} must be a non-empty object")
    if not isinstance(current, str):
        raise KeyConfigurationError(f"key file {file}: {current_name!r} must name a key id")
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw.items():
        try:
            check_key_id(key_id)
        except ValueError:
            raise KeyConfigurationError(
                f"key file {file}: {keys_name!r} has an invalid key id"
            ) from None
        keys[key_id] = _decode_key(encoded, where=f"key file {file}, {keys_name}[{key_id!r}]")
    if current not in keys:
        raise KeyConfigurationError(
            f"key file {file}: {current_name!r} names a key id that is not in {keys_name!r}"
        )
    return keys, current


def _optional_key_from_document(data: Mapping[str, Any], *, file: Path, name: str) -> bytes | None:
    if data.get(name) is None:
        return None
    return _decode_key(data[name], where=f"key file {file}, {name!r}")


class EnvKeyProvider(StaticKeyProvider):
    """A :class:`StaticKeyProvider` loaded from an environment variable.

    The value is ``"<id>:<base64 key>[,<id>:<base64 key>...]"``; the FIRST entry is current, so
    rotation is "prepend a new key, restart". Raises :class:`KeyConfigurationError` (never
    echoing the value) if the variable is unset or malformed. ``environ`` replaces
    ``os.environ`` (tests).
    """

    __slots__ = ("_variable",)

    def __init__(
        self,
        variable: str = DEFAULT_MASTER_VARIABLE,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        keys, current = _parse_key_list(
            _read_variable(variable, environ), where=f"environment variable {variable}"
        )
        super().__init__(keys, current=current)
        self._variable = variable

    def __repr__(self) -> str:
        return (
            f"EnvKeyProvider(variable={self._variable!r}, key_ids={sorted(self._keys)!r}, "
            f"current={self._current!r})"
        )


class FileKeyProvider(StaticKeyProvider):
    """A :class:`StaticKeyProvider` loaded from a JSON key file.

    The file holds ``{"current": "<id>", "keys": {"<id>": "<base64>"}}`` (plus, optionally,
    ``"current_index"``/``"index_keys"`` for :class:`IndexKeys` and ``"audit_key"``). On POSIX
    a file readable or writable by group or others is refused with
    :class:`KeyConfigurationError` unless ``allow_insecure_permissions=True``.
    """

    __slots__ = ("_path",)

    def __init__(
        self, path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False
    ) -> None:
        file, data = _read_key_file(path, allow_insecure_permissions)
        self._load(file, data)

    def _load(self, file: Path, data: Mapping[str, Any]) -> None:
        keys, current = _keys_from_document(
            data, file=file, keys_name="keys", current_name="current"
        )
        StaticKeyProvider.__init__(self, keys, current=current)
        self._path = file

    def __repr__(self) -> str:
        return (
            f"FileKeyProvider(path={str(self._path)!r}, key_ids={sorted(self._keys)!r}, "
            f"current={self._current!r})"
        )


# ---------------------------------------------------------------------------- index keys


class IndexKeys:
    """The secrets behind blind indexes: 32-byte keys by id, one of them current.

    They are separate from master and data keys (a leaked index key reveals nothing about
    ciphertexts, and erasing a customer never needs them). Keep old keys configured while a
    rotation re-indexes; :class:`~custrec.security.blind_index.BlindIndexer` looks values up
    under every key.

    >>> keys = IndexKeys({"i1": bytes(32), "i2": bytes(range(32))}, current="i2")
    >>> keys.current, keys.key_ids()
    ('i2', ('i2', 'i1'))
    >>> keys
    IndexKeys(key_ids=['i2', 'i1'], current='i2')
    """

    __slots__ = ("_current", "_keys")

    def __init__(self, keys: Mapping[str, bytes], *, current: str) -> None:
        self._keys, self._current = _check_keys(keys, current, what="index key")

    @classmethod
    def generate(cls, key_id: str = "i1") -> IndexKeys:
        """Return index keys holding one fresh random key (for tests and demos)."""
        return cls({key_id: os.urandom(KEY_SIZE)}, current=key_id)

    @classmethod
    def from_env(
        cls,
        variable: str = DEFAULT_INDEX_VARIABLE,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> IndexKeys:
        """Load ``"<id>:<base64>[,...]"`` from an environment variable; the first is current."""
        keys, current = _parse_key_list(
            _read_variable(variable, environ), where=f"environment variable {variable}"
        )
        return cls(keys, current=current)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False
    ) -> IndexKeys:
        """Load ``"index_keys"`` and ``"current_index"`` from a key file (see
        :class:`FileKeyProvider` for the permission check)."""
        file, data = _read_key_file(path, allow_insecure_permissions)
        keys, current = _keys_from_document(
            data, file=file, keys_name="index_keys", current_name="current_index"
        )
        return cls(keys, current=current)

    def with_key(self, key_id: str, key: bytes, *, current: bool = True) -> IndexKeys:
        """Return new index keys with ``key`` added (and made current unless ``current=False``)."""
        if key_id in self._keys:
            raise ValueError(f"index key id {key_id!r} is already used")
        keys = {**self._keys, key_id: key}
        return IndexKeys(keys, current=key_id if current else self._current)

    def without_key(self, key_id: str) -> IndexKeys:
        """Return new index keys without ``key_id`` (after a re-index); the current stays."""
        if key_id == self._current:
            raise ValueError("cannot remove the current index key")
        if key_id not in self._keys:
            raise KeyUnavailable(f"index key {key_id!r} is not available")
        return IndexKeys(
            {k: v for k, v in self._keys.items() if k != key_id}, current=self._current
        )

    @property
    def current(self) -> str:
        """The id of the key new index tokens use."""
        return self._current

    def key_ids(self) -> tuple[str, ...]:
        """Every key id, the current one first, then the others in configuration order."""
        return (self._current, *(k for k in self._keys if k != self._current))

    def secret(self, key_id: str) -> bytes:
        """Return the key material for ``key_id``: derive from it, never log or store it.

        Raises :class:`KeyUnavailable` for an unknown id.
        """
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise KeyUnavailable(f"index key {key_id!r} is not available")
        return key

    def __repr__(self) -> str:
        return f"IndexKeys(key_ids={list(self.key_ids())!r}, current={self._current!r})"


def load_key_file(
    path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False
) -> tuple[FileKeyProvider, IndexKeys, bytes | None]:
    """Read a key file once: its master keys, index keys and optional ``"audit_key"``.

    Reading once means a concurrent :func:`rotate_key_file` cannot pair old master keys with
    new index keys. Raises :class:`KeyConfigurationError` like :class:`FileKeyProvider`, and
    also when the file has no index keys.
    """
    file, data = _read_key_file(path, allow_insecure_permissions)
    provider = FileKeyProvider.__new__(FileKeyProvider)
    provider._load(file, data)
    keys, current = _keys_from_document(
        data, file=file, keys_name="index_keys", current_name="current_index"
    )
    audit_key = _optional_key_from_document(data, file=file, name="audit_key")
    return provider, IndexKeys(keys, current=current), audit_key


def read_audit_key_from_env(
    variable: str = DEFAULT_AUDIT_VARIABLE, *, environ: Mapping[str, str] | None = None
) -> bytes | None:
    """Return the base64 key in ``variable``, or ``None`` if it is unset."""
    env = os.environ if environ is None else environ
    value = env.get(variable)
    if value is None or not value.strip():
        return None
    return _decode_key(value, where=f"environment variable {variable}")


# ----------------------------------------------------------------------------- key files


def _write_private_json(path: Path, data: Mapping[str, Any], *, overwrite: bool) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if not overwrite:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise KeyConfigurationError(f"key file {path} already exists") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    # Replace atomically: write a private temporary file next to the target, then rename.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate_key_file(
    path: str | os.PathLike[str],
    *,
    master_key_id: str = "k1",
    index_key_id: str = "i1",
    audit_key: bool = True,
) -> Path:
    """Write a new key file (mode 0600) with one random master key and one random index key.

    With ``audit_key=True`` (the default) it also holds a random ``"audit_key"`` for the audit
    chain, which then survives index-key rotation. Raises :class:`KeyConfigurationError` if the
    file already exists. Returns the path.
    """
    file = Path(path)
    data: dict[str, Any] = {
        "current": check_key_id(master_key_id, what="master key id"),
        "keys": {master_key_id: _encode_key(os.urandom(KEY_SIZE))},
        "current_index": check_key_id(index_key_id, what="index key id"),
        "index_keys": {index_key_id: _encode_key(os.urandom(KEY_SIZE))},
    }
    if audit_key:
        data["audit_key"] = _encode_key(os.urandom(KEY_SIZE))
    _write_private_json(file, data, overwrite=False)
    return file


def rotate_key_file(
    path: str | os.PathLike[str],
    *,
    master_key_id: str | None = None,
    index_key_id: str | None = None,
    allow_insecure_permissions: bool = False,
) -> Path:
    """Add a fresh random master key and/or index key to a key file and make it current.

    Old keys stay in the file so existing data keys and index tokens remain usable; remove them
    by hand once the registry has re-wrapped and re-indexed everything. The file is replaced
    atomically with mode 0600. Raises ``ValueError`` if neither id is given or an id is taken.
    """
    if master_key_id is None and index_key_id is None:
        raise ValueError("give master_key_id, index_key_id or both")
    file, data = _read_key_file(path, allow_insecure_permissions)
    for new_id, keys_name, current_name in (
        (master_key_id, "keys", "current"),
        (index_key_id, "index_keys", "current_index"),
    ):
        if new_id is None:
            continue
        check_key_id(new_id)
        keys, _ = _keys_from_document(
            data, file=file, keys_name=keys_name, current_name=current_name
        )
        if new_id in keys:
            raise ValueError(f"key id {new_id!r} is already used in {keys_name!r}")
        data[keys_name] = {**data[keys_name], new_id: _encode_key(os.urandom(KEY_SIZE))}
        data[current_name] = new_id
    _write_private_json(file, data, overwrite=True)
    return file
