"""Field encryption: AES-256-GCM bound to one customer and one field path.

Every ciphertext is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``. The
nonce is fresh and random for every call, so encrypting the same value twice gives different
bytes. The associated data is a length-prefixed encoding of a format label, the version byte,
the customer id and the field path, so a ciphertext moved to another field or another customer
fails to decrypt with :class:`DecryptionFailed` instead of yielding somebody else's value.

>>> key = bytes(range(32))
>>> token = encrypt_field(key, b"+8613800138000", customer_id="c-1", field="contacts[0].phones")
>>> token[0], len(token) == 1 + 12 + 14 + 16
(1, True)
>>> decrypt_field(key, token, customer_id="c-1", field="contacts[0].phones")
b'+8613800138000'
>>> decrypt_field(key, token, customer_id="c-2", field="contacts[0].phones")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
custrec.errors.DecryptionFailed: ciphertext could not be authenticated ...

:class:`DocumentCipher` applies this to a JSON-safe record document: it replaces the value at every
personal path (from :func:`custrec.model.records.personal_fields`) with ``{"$enc": "<base64>"}`` and
leaves every other field alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custrec.errors import DecryptionFailed
from custrec.model.records import PersonalField, personal_fields
from custrec.security._common import check_customer_id, check_key, pack

__all__ = [
    "DETACHED",
    "ENCRYPTED_KEY",
    "FORMAT_VERSION",
    "DataKey",
    "DecryptionFailed",
    "DocumentCipher",
    "decrypt_field",
    "decrypt_json",
    "encrypt_field",
    "encrypt_json",
]

FORMAT_VERSION: Final = 1
"""The version byte at the start of every field ciphertext."""

ENCRYPTED_KEY: Final = "$enc"
"""The key of the one-entry object that stands for an encrypted value in a sealed document."""

DETACHED: Final = 0
"""What stands for a personal value in a document sealed by
:meth:`DocumentCipher.seal_detached` (its ciphertext is kept beside the document)."""

_HEADER: Final = bytes([FORMAT_VERSION])
_NONCE_SIZE: Final = 12
_TAG_SIZE: Final = 16
_LABEL: Final = b"custrec/field/v1"


def _check_field(field: object) -> str:
    if not isinstance(field, str):
        raise TypeError(f"field must be a string, not {type(field).__name__}")
    if not field:
        raise ValueError("field must not be empty")
    return field


def _aad(customer_id: str, field: str) -> bytes:
    return pack(_LABEL, _HEADER, customer_id.encode("utf-8"), field.encode("utf-8"))


class DataKey:
    """A 32-byte data key with its AES-GCM context, built once for the many fields it seals.

    Building the cipher context costs more than encrypting a short field, so whoever uses one
    key for several values (a unit of work sealing a customer and its history) wraps it once and
    keeps it as long as it needs it, no longer: this module holds no key material of its own.
    The functions and :class:`DocumentCipher` accept a ``DataKey`` wherever they take the raw
    key bytes. The repr never shows the key.
    """

    __slots__ = ("__weakref__", "_aead")

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(bytes(check_key(key, what="data key")))

    def __repr__(self) -> str:
        return "DataKey(<hidden>)"


def _cipher(key: bytes | DataKey) -> AESGCM:
    """The AES-GCM context of a key: the one a :class:`DataKey` holds, or a new one."""
    if isinstance(key, DataKey):
        return key._aead
    return AESGCM(bytes(check_key(key, what="data key")))


def encrypt_field(
    data_key: bytes | DataKey, plaintext: bytes, *, customer_id: str, field: str
) -> bytes:
    """Encrypt ``plaintext`` for one field of one customer under a 32-byte data key.

    Raises ``ValueError`` if the key is not 32 bytes, ``TypeError`` for non-bytes input.
    """
    aead = _cipher(data_key)
    if not isinstance(plaintext, bytes | bytearray | memoryview):
        raise TypeError(f"plaintext must be bytes, not {type(plaintext).__name__}")
    aad = _aad(check_customer_id(customer_id), _check_field(field))
    return _encrypt(aead, bytes(plaintext), aad)


def _encrypt(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt one value under a fresh random 96-bit nonce (see :func:`_seal_with`)."""
    return _seal_with(aead, os.urandom(_NONCE_SIZE), plaintext, aad)


def _seal_with(aead: AESGCM, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """How ciphertexts are made: header byte, nonce, AES-GCM output (``_ciphertexts`` does
    the same inline, per field of a document).

    ``nonce`` must be 12 fresh bytes from ``os.urandom`` used for this value only (a document
    draws the nonces of all its fields in one call, then gives each field its own slice).
    """
    return _HEADER + nonce + aead.encrypt(nonce, plaintext, aad)


def decrypt_field(
    data_key: bytes | DataKey, ciphertext: bytes, *, customer_id: str, field: str
) -> bytes:
    """Decrypt a value made by :func:`encrypt_field` for the same customer and field.

    Raises :class:`DecryptionFailed` if authentication fails or the format is unknown.
    """
    aead = _cipher(data_key)
    if not isinstance(ciphertext, bytes | bytearray | memoryview):
        raise TypeError(f"ciphertext must be bytes, not {type(ciphertext).__name__}")
    return _open_with(aead, ciphertext, _aad(check_customer_id(customer_id), _check_field(field)))


_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


_encode_str: Final = json.encoder.encode_basestring  # what _ENCODER does with a str
_b64: Final = binascii.b2a_base64
_MAX_TAILS: Final = 4096


def _dump_json(value: Any) -> bytes:
    # strings and lists of strings (most personal values) skip the general encoder; the text
    # is the same as _ENCODER's
    if type(value) is str:
        return _encode_str(value).encode("utf-8")
    if type(value) is list and all(type(item) is str for item in value):
        return ("[" + ",".join(map(_encode_str, value)) + "]").encode("utf-8")
    return _ENCODER.encode(value).encode("utf-8")


def encrypt_json(data_key: bytes | DataKey, value: Any, *, customer_id: str, field: str) -> bytes:
    """Encrypt a JSON-safe value (str, number, bool, None, lists and objects of those).

    Raises ``TypeError``/``ValueError`` for values JSON cannot encode (NaN included).

    >>> key = bytes(32)
    >>> blob = encrypt_json(key, ["a", 1], customer_id="c-1", field="tags")
    >>> decrypt_json(key, blob, customer_id="c-1", field="tags")
    ['a', 1]
    """
    return encrypt_field(data_key, _dump_json(value), customer_id=customer_id, field=field)


def _open_with(aead: AESGCM, ciphertext: object, aad: bytes) -> bytes:
    """The plaintext of one value made by :func:`_seal_with` (what :func:`decrypt_field` does
    once its key, customer id and field are checked)."""
    if not isinstance(ciphertext, bytes | bytearray | memoryview):
        raise TypeError(f"ciphertext must be bytes, not {type(ciphertext).__name__}")
    data = bytes(ciphertext)
    if len(data) < 1 + _NONCE_SIZE + _TAG_SIZE:
        raise DecryptionFailed("ciphertext is truncated")
    if data[0] != FORMAT_VERSION:
        raise DecryptionFailed(f"unsupported ciphertext format version {data[0]}")
    try:
        return aead.decrypt(data[1 : 1 + _NONCE_SIZE], data[1 + _NONCE_SIZE :], aad)
    except InvalidTag:
        raise DecryptionFailed() from None


_CONTROL: Final = re.compile(rb"[\x00-\x1f]")  # never raw in a JSON string


def _load_json(plaintext: bytes) -> Any:
    """The value of an authenticated plaintext :func:`_dump_json` made. A string without any
    escape (two quotes, at its ends, no backslash, no control character) is its bytes between
    the quotes: the encoder escapes every quote, backslash and control character, so such a
    string's JSON text is its own UTF-8; anything else is read by ``json.loads``."""
    if (
        plaintext[:1] == b'"'
        and plaintext.count(b'"') == 2
        and plaintext[-1:] == b'"'
        and b"\\" not in plaintext
        and _CONTROL.search(plaintext) is None
    ):
        try:
            return plaintext[1:-1].decode("utf-8")
        except UnicodeDecodeError:  # pragma: no cover - authenticated, so ours
            raise DecryptionFailed("decrypted value is not JSON") from None
    try:
        return json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):  # pragma: no cover - authenticated, so ours
        raise DecryptionFailed("decrypted value is not JSON") from None


def decrypt_json(
    data_key: bytes | DataKey, ciphertext: bytes, *, customer_id: str, field: str
) -> Any:
    """Decrypt a value made by :func:`encrypt_json`; raises :class:`DecryptionFailed`."""
    return _load_json(decrypt_field(data_key, ciphertext, customer_id=customer_id, field=field))


# ------------------------------------------------------------------------------ documents

_SEGMENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\])?")


def _parse_path(path: str) -> tuple[str, ...]:
    if not isinstance(path, str):
        raise TypeError(f"a personal path must be a string, not {type(path).__name__}")
    segments = tuple(path.split("."))
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise ValueError(f"malformed personal path {path!r} (expected e.g. 'contacts[].phones')")
    return segments


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


_Tree = dict[str, "_Tree | None"]


def _tree(paths: Iterable[tuple[str, ...]]) -> _Tree:
    """Merge parsed paths into a tree of segments (``None`` marks a leaf), so one walk of a
    document visits every personal location, sharing the walk down common prefixes."""
    root: _Tree = {}
    for segments in paths:
        node = root
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            child = node.get(segment)
            if last:
                node.setdefault(segment, None)
            else:
                if child is None:
                    child = {}
                    node[segment] = child
                node = child
    return root


_Node = tuple[tuple[str, bool, "_Node | None"], ...]
"""A compiled :data:`_Tree`: ``(key, is a list, subtree or None for a leaf)`` per segment."""


def _compile(tree: _Tree) -> _Node:
    return tuple(
        (
            segment[:-2] if segment.endswith("[]") else segment,
            segment.endswith("[]"),
            None if subtree is None else _compile(subtree),
        )
        for segment, subtree in tree.items()
    )


def _locations(node: Any, tree: _Node, prefix: str, out: list[tuple[Any, Any, str]]) -> None:
    """Append ``(container, key, concrete path)`` for each location of ``tree`` in ``node``
    that holds a value (``None`` and absent values are skipped: there is nothing to seal)."""
    if not isinstance(node, dict):
        raise ValueError(f"document shape mismatch: {prefix or '<document>'} is not an object")
    for name, many, subtree in tree:
        value = node.get(name)
        if value is None:
            continue
        here = f"{prefix}.{name}" if prefix else name
        if not many:
            if subtree is None:
                out.append((node, name, here))
            else:
                _locations(value, subtree, here, out)
            continue
        if not isinstance(value, list):
            raise ValueError(f"document shape mismatch: {here} is not a list")
        for index, item in enumerate(value):
            if subtree is None:
                if item is not None:
                    out.append((value, index, f"{here}[{index}]"))
            else:
                _locations(item, subtree, f"{here}[{index}]", out)


def _find(document: dict[str, Any], tree: _Node) -> list[tuple[Any, Any, str]]:
    """Every personal location of ``document`` that holds a (non-``None``) value."""
    found: list[tuple[Any, Any, str]] = []
    _locations(document, tree, "", found)
    return found


def _copy(document: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON-safe document (a JSON round trip is several times faster than
    :func:`copy.deepcopy`); values JSON cannot hold raise ``TypeError``/``ValueError``."""
    copied: dict[str, Any] = json.loads(json.dumps(dict(document), allow_nan=False))
    return copied


class DocumentCipher:
    """Encrypts the personal values of a JSON-safe record document, field by field.

    ``paths`` are personal-field paths as :func:`~custrec.model.records.personal_fields` writes them
    (``"name"``, ``"contacts[].phones"``, ``"identifiers[].value"``); :meth:`for_type` reads them
    from a record class. :meth:`seal` replaces every non-``None`` value at those paths (a whole
    list of phones counts as one value) with ``{"$enc": "<base64>"}``, encrypted with the
    associated data ``customer_id`` + the concrete path (``"contacts[0].phones"``, followed by
    ``"@<record_id>"`` when a ``record_id`` is given, for documents such as interactions that
    are not the customer itself). :meth:`open` reverses it. The input is never modified.

    >>> from custrec.model.records import Contact
    >>> cipher = DocumentCipher.for_type(Contact)
    >>> key = bytes(32)
    >>> doc = {"name": "Li Lei", "title": "CEO", "phones": ["+8613800138000"], "wechat": None}
    >>> sealed = cipher.seal(doc, data_key=key, customer_id="c-1")
    >>> sorted(sealed["name"]), sealed["title"], sealed["wechat"]
    (['$enc'], 'CEO', None)
    >>> cipher.open(sealed, data_key=key, customer_id="c-1") == doc
    True
    """

    __slots__ = ("_paths", "_tails", "_tree")

    def __init__(self, paths: Iterable[str | PersonalField]) -> None:
        if isinstance(paths, str):
            raise TypeError("paths must be an iterable of paths, not a single string")
        names = tuple(p.path if isinstance(p, PersonalField) else p for p in paths)
        self._tree = _compile(_tree(_parse_path(p) for p in names))
        self._paths = names
        # the length-prefixed encoding of each concrete field path seen (``contacts[0].phones``),
        # the per-field end of the associated data; concrete paths are few, the cache is bounded
        self._tails: dict[str, bytes] = {}

    @classmethod
    def for_type(cls, record_type: type) -> DocumentCipher:
        """Build a cipher for the personal fields of an attrs record class."""
        return cls(personal_fields(record_type))

    @property
    def paths(self) -> tuple[str, ...]:
        """The personal paths this cipher encrypts."""
        return self._paths

    def __repr__(self) -> str:
        return f"DocumentCipher(paths={list(self._paths)!r})"

    def personal_paths(self, document: Mapping[str, Any]) -> list[str]:
        """List the concrete paths (with indexes) holding a non-``None`` personal value."""
        data = dict(document)
        return [path for _, _, path in _find(data, self._tree)]

    @staticmethod
    def _field(path: str, record_id: str | None) -> str:
        if record_id is None:
            return path
        return f"{path}@{check_customer_id(record_id, what='record_id')}"

    def seal(
        self,
        document: Mapping[str, Any],
        *,
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None = None,
        in_place: bool = False,
    ) -> dict[str, Any]:
        """Return a copy of ``document`` with every personal value replaced by a token.

        With ``in_place=True`` the (dict) document itself is sealed and returned, which saves a
        copy when the caller built it just for this. Raises ``ValueError`` if the document's
        shape does not match the paths (a list where an object is expected, ...), ``TypeError``
        if a personal value is not JSON-safe.
        """
        data, found, blobs = self._seal_all(document, data_key, customer_id, record_id, in_place)
        for (container, item, _), blob in zip(found, blobs, strict=True):
            container[item] = {ENCRYPTED_KEY: _b64(blob, newline=False).decode("ascii")}
        return data

    def seal_detached(
        self,
        document: Mapping[str, Any],
        *,
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None = None,
        in_place: bool = False,
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Like :meth:`seal`, but the ciphertexts are returned beside the document, raw.

        Every personal value is replaced by the placeholder :data:`DETACHED` (``0``) and its
        ciphertext (the same layout and associated data as :meth:`seal` makes) is listed, in the
        order :meth:`open_detached` expects them: a container format can then store the raw
        bytes instead of base64 inside JSON. Raises like :meth:`seal`.
        """
        data, found, blobs = self._seal_all(document, data_key, customer_id, record_id, in_place)
        for container, item, _ in found:
            container[item] = DETACHED
        return data, blobs

    def _seal_all(
        self,
        document: Mapping[str, Any],
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None,
        in_place: bool,
    ) -> tuple[dict[str, Any], list[tuple[Any, Any, str]], list[bytes]]:
        """The document to seal (a copy unless ``in_place``), its personal locations and the
        ciphertext of each, in order; the values are not replaced yet."""
        aead = _cipher(data_key)
        check_customer_id(customer_id)
        if not isinstance(document, Mapping):
            raise TypeError("document must be a mapping")
        data = document if in_place and isinstance(document, dict) else _copy(document)
        suffix = "" if record_id is None else self._field("", record_id)
        found = _find(data, self._tree)
        if not found:
            return data, found, []
        values = [(path, container[item]) for container, item, path in found]
        return data, found, self._ciphertexts(aead, values, customer_id, suffix)

    def seal_values(
        self,
        values: Sequence[tuple[str, Any]],
        *,
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None = None,
    ) -> list[bytes]:
        """The ciphertexts :meth:`seal_detached` makes for the personal values of a document,
        given as ``(concrete path, value)`` in its order (a caller that built the skeleton
        itself: see :mod:`custrec.storage._direct`)."""
        aead = _cipher(data_key)
        check_customer_id(customer_id)
        suffix = "" if record_id is None else self._field("", record_id)
        if not values:
            return []
        return self._ciphertexts(aead, values, customer_id, suffix)

    def _ciphertexts(
        self,
        aead: AESGCM,
        values: Sequence[tuple[str, Any]],
        customer_id: str,
        suffix: str,
    ) -> list[bytes]:
        """The ciphertext of each value, at its path (followed by ``suffix``)."""
        # pack() is a concatenation of length-prefixed parts, so the customer's part of the
        # associated data is encoded once: prefix + pack(field) == _aad(customer_id, field)
        prefix = pack(_LABEL, _HEADER, customer_id.encode("utf-8"))
        tails = self._tails
        # one urandom call for the nonces of every field: each field still gets its own 12
        # fresh random bytes (a slice), at a fraction of the cost of one system call per field
        nonces = os.urandom(_NONCE_SIZE * len(values))
        start = 0
        blobs: list[bytes] = []
        encrypt = aead.encrypt
        encode_str = _encode_str
        for path, value in values:
            # the same bytes as encrypt_json(), without re-checking the key and id per field;
            # _seal_with and _dump_json's case of a str, inline (one value a field, many fields)
            field = path + suffix if suffix else path
            tail = tails.get(field) or self._tail(field)
            end = start + _NONCE_SIZE
            nonce = nonces[start:end]
            start = end
            if type(value) is str:
                plaintext = encode_str(value).encode("utf-8")
            else:
                plaintext = _dump_json(value)
            blobs.append(_HEADER + nonce + encrypt(nonce, plaintext, prefix + tail))
        return blobs

    def _tail(self, field: str) -> bytes:
        """The field's part of the associated data (``prefix + tail == _aad(customer, field)``),
        remembered for the next documents of this type (up to :data:`_MAX_TAILS` fields)."""
        tail = pack(field.encode("utf-8"))
        if len(self._tails) < _MAX_TAILS:
            self._tails[field] = tail
        return tail

    def open_detached(
        self,
        document: dict[str, Any],
        ciphertexts: Sequence[bytes],
        *,
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        """Open a document sealed by :meth:`seal_detached`, **in place**, and return it.

        ``ciphertexts`` are the ones :meth:`seal_detached` returned, in order. Raises
        :class:`DecryptionFailed` if a ciphertext does not authenticate, if a personal path
        holds anything but the placeholder (an injected value is refused, not trusted), or if
        there are more or fewer ciphertexts than placeholders.
        """
        key = data_key if isinstance(data_key, DataKey) else DataKey(data_key)
        check_customer_id(customer_id)
        if not isinstance(document, dict):
            raise TypeError("document must be a dict")
        found = _find(document, self._tree)
        if len(found) != len(ciphertexts):
            raise DecryptionFailed("the sealed values do not match the document's personal fields")
        # the same checks and associated data as decrypt_json(), the customer's part of it
        # encoded once (as _seal_all does)
        aead = _cipher(key)
        suffix = "" if record_id is None else self._field("", record_id)
        prefix = pack(_LABEL, _HEADER, customer_id.encode("utf-8"))
        tails = self._tails
        for (container, item, path), blob in zip(found, ciphertexts, strict=True):
            value = container[item]
            if type(value) is not int or value != DETACHED:
                raise DecryptionFailed(f"personal field {path} is not encrypted")
            tail = tails.get(path + suffix) or self._tail(path + suffix)
            container[item] = _load_json(_open_with(aead, blob, prefix + tail))
        return document

    def open(
        self,
        document: Mapping[str, Any],
        *,
        data_key: bytes | DataKey,
        customer_id: str,
        record_id: str | None = None,
    ) -> dict[str, Any]:
        """Return a copy of a sealed document with every token decrypted.

        Raises :class:`DecryptionFailed` if a token does not authenticate (wrong key, moved to
        another customer or path) or if a personal path holds a plaintext value, which a
        sealed document never does (an injected value is refused, not trusted).
        """
        key = data_key if isinstance(data_key, DataKey) else DataKey(data_key)
        check_customer_id(customer_id)
        if not isinstance(document, Mapping):
            raise TypeError("document must be a mapping")
        data = _copy(document)
        for container, item, path in _find(data, self._tree):
            token = container[item]
            if not (isinstance(token, dict) and set(token) == {ENCRYPTED_KEY}):
                raise DecryptionFailed(f"personal field {path} is not encrypted")
            encoded = token[ENCRYPTED_KEY]
            if not isinstance(encoded, str):
                raise DecryptionFailed(f"personal field {path} has a malformed token")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise DecryptionFailed(f"personal field {path} has a malformed token") from None
            container[item] = decrypt_json(
                key, blob, customer_id=customer_id, field=self._field(path, record_id)
            )
        return data
