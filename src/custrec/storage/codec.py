"""The codec seam between records and stored bytes.

The registry turns a record into a JSON-safe document (:mod:`custrec.serialization`) and hands it
to a :class:`RecordCodec`, which seals it into the payload bytes a backend stores, and turns
strong identifiers into opaque index keys. :class:`PlaintextCodec` stores plain JSON and plain
index keys; it is for tests and demos only, and the registry warns when it is used. The
encrypting codec of :mod:`custrec.security` replaces it in production.

:func:`strong_keys` lists the identifiers that decide identity on their own (normalised phones,
e-mails, credit codes, resident ids, passports, external ids): the registry indexes them for
exact lookup and refuses duplicates on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Protocol

from custrec.errors import StorageError
from custrec.records import Contact, Customer, Identifier, IdentifierScheme
from custrec.storage.protocols import Session

__all__ = ["PlaintextCodec", "RecordCodec", "StrongKey", "strong_keys"]

StrongKey = tuple[str, str]
"""``(kind, normalised value)``, for example ``("phone", "+8613800138000")``."""

_SCHEME_KINDS: Final = {
    IdentifierScheme.USCC.value: "uscc",
    IdentifierScheme.RIC.value: "ric",
    IdentifierScheme.PASSPORT.value: "passport",
}


def strong_keys(customer: Customer) -> frozenset[StrongKey]:
    """Return the strong identifiers of a (normalised) customer.

    E-mails are compared case-insensitively; external ids are qualified by their system
    (``("external", "legacy-crm:42")``).
    """
    keys: set[StrongKey] = set()
    for contact in customer.contacts:
        if not isinstance(contact, Contact):
            continue
        keys.update(("phone", p) for p in contact.phones if isinstance(p, str) and p)
        keys.update(("email", e.casefold()) for e in contact.emails if isinstance(e, str) and e)
    for ident in customer.identifiers:
        if isinstance(ident, Identifier) and isinstance(ident.value, str) and ident.value:
            keys.add(identifier_key(ident))
    return frozenset(keys)


def identifier_key(ident: Identifier) -> StrongKey:
    """Return the strong key of one identifier."""
    if ident.scheme == IdentifierScheme.EXTERNAL:
        return ("external", f"{ident.system or ''}:{ident.value}")
    kind = _SCHEME_KINDS.get(str(ident.scheme))
    if kind is not None:
        return (kind, ident.value.upper())
    return (f"id:{ident.scheme}", ident.value)


class RecordCodec(Protocol):
    """Seals documents into payload bytes and turns strong keys into index keys."""

    @property
    def encrypted(self) -> bool:
        """Whether payloads and index keys hide personal data."""
        ...

    def seal(self, document: Mapping[str, Any], *, customer_id: str, session: Session) -> bytes:
        """Turn a JSON-safe document belonging to ``customer_id`` into payload bytes."""
        ...

    def open(self, payload: bytes, *, customer_id: str, session: Session) -> dict[str, Any]:
        """Turn payload bytes back into the document; raises ``StorageError`` if unreadable."""
        ...

    def index_key(self, key: StrongKey) -> str:
        """Turn a strong key into the opaque string the backend indexes."""
        ...


class PlaintextCodec:
    """Stores documents as plain UTF-8 JSON and index keys as ``kind:value``.

    Anyone who can read the database can read every personal value: use it only for tests and
    demos.
    """

    @property
    def encrypted(self) -> bool:
        """Always ``False``."""
        return False

    def seal(self, document: Mapping[str, Any], *, customer_id: str, session: Session) -> bytes:
        """Encode ``document`` as compact JSON."""
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    def open(self, payload: bytes, *, customer_id: str, session: Session) -> dict[str, Any]:
        """Decode JSON written by :meth:`seal`."""
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StorageError(f"payload of customer {customer_id} is not valid JSON") from exc
        if not isinstance(document, dict):
            raise StorageError(f"payload of customer {customer_id} is not a JSON object")
        return document

    def index_key(self, key: StrongKey) -> str:
        """Return ``"kind:value"``."""
        kind, value = key
        return f"{kind}:{value}"
