"""Third parties that receive customer data (PIPL art. 23: the recipient's name and contact)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import (
    aware,
    check,
    max_length,
    non_empty_text,
    optional,
    printable_text,
    single_line,
    storable_text,
)

__all__ = ["RECIPIENT_ID", "Recipient", "entered"]

RECIPIENT_ID: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""What a recipient id looks like: lower-case letters, digits, ``_``, ``.`` and ``-``, at most
64 characters, starting with a letter or digit (``sf-express``, ``acme.analytics``)."""


COUNTRY: Final = re.compile(r"[A-Z]{2}")
"""A country: an ISO 3166-1 alpha-2 code in upper case (``CN``, ``DE``, ``US``); a code in
lower case is taken in upper case (``de`` -> ``DE``)."""


def _upper_code(value: object) -> object:
    """Two ASCII letters in upper case; anything else as given (for the validator to refuse)."""
    if isinstance(value, str) and len(value) == 2 and value.isascii():
        return value.upper()
    return value


def _country(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not COUNTRY.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be an ISO 3166-1 alpha-2 code (two letters) such as 'CN'"
        )


def _recipient_id(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be text, not {type(value).__name__}")
    if not RECIPIENT_ID.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be 1-64 lower-case letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


@attrs.frozen(kw_only=True)
class Recipient:
    """A named third party customer data is disclosed to.

    ``contact`` is how the recipient's privacy contact is reached (an address, e-mail or
    phone of the company, not of a customer); ``contract`` references the data-processing or
    sharing agreement; ``country`` is where the recipient processes the data (ISO 3166-1
    alpha-2, taken in upper case, ``None`` when unknown; a country other than the registry's
    ``region`` makes every disclosure to it a cross-border transfer, PIPL chapter III).
    ``version`` counts changes (1 when registered). Lengths: name 200, contact 300, contract
    200, note 2,000 characters. What is entered is checked further by :func:`entered`
    (values stored by earlier versions are read as they are).
    """

    id: str = attrs.field(validator=_recipient_id)
    name: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(200)])
    contact: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(300)])
    contract: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(200)])
    country: str | None = attrs.field(default=None, converter=_upper_code, validator=_country)
    note: str | None = attrs.field(
        default=None, validator=optional(attrs.validators.and_(storable_text(), max_length(2000)))
    )
    registered_at: datetime = attrs.field(validator=aware())
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The recipient as JSON-able data (instants in ISO 8601)."""
        return {
            "id": self.id,
            "name": self.name,
            "contact": self.contact,
            "contract": self.contract,
            "country": self.country,
            "note": self.note,
            "registered_at": self.registered_at.isoformat(),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recipient:
        """The inverse of :meth:`to_json`."""
        return cls(
            id=data["id"],
            name=data["name"],
            contact=data["contact"],
            contract=data["contract"],
            country=data.get("country"),
            note=data.get("note"),
            registered_at=datetime.fromisoformat(data["registered_at"]),
            version=int(data.get("version", 1)),
        )


_ONE_LINE: Final = ("name", "contact", "contract")


def entered(**fields: Any) -> dict[str, Any]:
    """The recipient fields a caller gives (to register or update one), checked as entered
    text: name, contact and contract one line each without control or format characters
    (:func:`~custrec._checks.single_line`), the note with line feeds and tabs only (a CRLF
    line end is taken as LF), the country in upper case. ``ValueError`` otherwise; other
    fields are passed on as given."""
    out = dict(fields)
    for name in _ONE_LINE:
        if isinstance(out.get(name), str):
            check(name, out[name], single_line())
    note = out.get("note")
    if isinstance(note, str):
        out["note"] = note = note.replace("\r\n", "\n")
        check("note", note, printable_text())
    if "country" in out:
        out["country"] = _upper_code(out["country"])
    return out
