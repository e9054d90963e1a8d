"""Third parties that receive customer data (PIPL art. 23: the recipient's name and contact)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import aware, max_length, non_empty_text, optional, storable_text

__all__ = ["RECIPIENT_ID", "Recipient"]

RECIPIENT_ID: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""What a recipient id looks like: lower-case letters, digits, ``_``, ``.`` and ``-``, at most
64 characters, starting with a letter or digit (``sf-express``, ``acme.analytics``)."""


COUNTRY: Final = re.compile(r"[A-Z]{2}")
"""A country: an ISO 3166-1 alpha-2 code in upper case (``CN``, ``DE``, ``US``)."""


def _country(_: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not COUNTRY.fullmatch(value):
        raise ValueError(f"{attribute.name} must be an ISO 3166-1 alpha-2 code such as 'CN'")


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
    alpha-2, ``None`` when unknown; a country other than the registry's ``region`` makes every
    disclosure to it a cross-border transfer, PIPL chapter III). ``version`` counts changes (1
    when registered). Lengths: name 200, contact 300, contract 200, note 2,000 characters.
    """

    id: str = attrs.field(validator=_recipient_id)
    name: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(200)])
    contact: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(300)])
    contract: str = attrs.field(validator=[non_empty_text(), storable_text(), max_length(200)])
    country: str | None = attrs.field(default=None, validator=_country)
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
