"""What an import calls a row: the import id's form, a row's identity and the id derived from
both (re-exported by :mod:`custrec.interchange.plan`)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Final

import attrs

from custrec.model.records import Customer, Identifier, IdentifierScheme
from custrec.model.serialization import make_converter
from custrec.storage.codec import strong_keys

__all__ = ["IMPORT_ID_PATTERN", "check_import_id", "derive_id", "row_identity"]

IMPORT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
"""What an import id may look like: letters, digits, ``.``, ``_``, ``:``, ``-``; 1-64 long."""

_CONVERTER: Final = make_converter()


def check_import_id(import_id: str) -> str:
    """``import_id`` if it matches :data:`IMPORT_ID_PATTERN`; ``ValueError`` otherwise."""
    if not isinstance(import_id, str) or IMPORT_ID_PATTERN.fullmatch(import_id) is None:
        raise ValueError(
            "import_id must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit"
        )
    return import_id


def derive_id(import_id: str, identity: str) -> str:
    """The customer id an import gives a row: the same import id and identity always give the
    same id.

    It is a UUID of version 8 (RFC 9562's application-defined layout): the first 48 bits come
    from the import id, so all customers of one import sit together in an index, and the other
    74 free bits from SHA-256 of the import id and the identity.

    >>> a = derive_id("legacy-2024", "ext:crm:C0001")
    >>> a == derive_id("legacy-2024", "ext:crm:C0001"), a == derive_id("other", "ext:crm:C0001")
    (True, False)
    >>> uuid.UUID(a).version
    8
    """
    check_import_id(import_id)
    prefix = int.from_bytes(hashlib.sha256(f"custrec-import:{import_id}".encode()).digest()[:6])
    body = int.from_bytes(
        hashlib.sha256(f"custrec-row:{import_id}\x1f{identity}".encode()).digest()[:10]
    )
    rand_a = body >> 68 & 0xFFF
    rand_b = body & ((1 << 62) - 1)
    value = (prefix << 80) | (0x8 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def row_identity(customer: Customer) -> str:
    """What makes a row the same row in a later run: its external ids, else its strong
    identifiers, else a hash of its normalised content (id and timestamps left out).

    >>> from custrec.model.records import CustomerKind
    >>> row_identity(Customer(kind=CustomerKind.INDIVIDUAL, name="张三",
    ...     identifiers=(Identifier(scheme="EXTERNAL", system="crm", value="C1"),)))
    'ext:crm:C1'
    """
    externals = sorted(
        f"{ident.system or ''}:{ident.value}"
        for ident in customer.identifiers
        if isinstance(ident, Identifier) and ident.scheme == IdentifierScheme.EXTERNAL
    )
    if externals:
        return "ext:" + "|".join(externals)
    keys = sorted(f"{kind}:{value}" for kind, value in strong_keys(customer))
    if keys:
        return "keys:" + "|".join(keys)
    document = _CONVERTER.unstructure(
        attrs.evolve(customer, id="", version=0, created_at=None, updated_at=None)
    )
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return "content:" + hashlib.sha256(text.encode()).hexdigest()
