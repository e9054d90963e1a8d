"""The synthetic generator's internal model: names, addresses and drafts of records, and
when two drafts are linked (private; see :mod:`custrec.testing.synthetic`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import attrs

from custrec.testing._synthetic.tables import _FULL_WIDTH_DIGITS, _PINYIN, _City, _full_width


@attrs.frozen
class _Person:
    """A person's name in characters and pinyin; ``male`` drives gender and the RIC."""

    surname: str
    given: str
    male: bool

    @property
    def surname_pinyin(self) -> str:
        return _PINYIN[self.surname]

    @property
    def given_pinyin(self) -> str:
        return "".join(_PINYIN[ch] for ch in self.given)

    @property
    def hanzi(self) -> str:
        return self.surname + self.given


@attrs.frozen
class _PersonName:
    """An individual's name as written: characters, or pinyin (``latin``) in some order."""

    surname: str
    given: str
    latin: bool
    given_first: bool = False
    full_width: bool = False

    def render(self) -> str:
        if not self.latin:
            return self.surname + self.given
        parts = (self.given, self.surname) if self.given_first else (self.surname, self.given)
        text = " ".join(parts)
        return _full_width(text) if self.full_width else text


@attrs.frozen
class _OrgName:
    """An organisation name: ``region core trade legal`` or ``core trade（region）legal``."""

    region: str | None
    core: str
    trade: str
    legal: str
    bracketed: bool

    def render(self) -> str:
        body = self.core + self.trade
        if self.region is None:
            return body + self.legal
        if self.bracketed:
            return f"{body}（{self.region}）{self.legal}"
        return self.region + body + self.legal


@attrs.define
class _OrgStem:
    """A recent organisation's name without its region, and the cities that already use it."""

    core: str
    trade: tuple[str, str]  # (word in the name, industry)
    legal: str
    cities: set[str]


@attrs.frozen
class _Address:
    kind: str
    province: str | None
    city: str
    district: str | None
    road: str
    number: int
    detail: str
    postal_code: str | None
    spaced: bool = False
    full_width: bool = False

    @property
    def street_key(self) -> str:
        """The street as compared across records: spacing and digit width ignored."""
        return f"{self.road}{self.number}号{self.detail}"

    def render(self) -> dict[str, Any]:
        sep = " " if self.spaced else ""
        street = f"{self.road}{sep}{self.number}号"
        if self.detail:
            street += sep + self.detail
        if self.full_width:
            street = street.translate(_FULL_WIDTH_DIGITS)
        out: dict[str, Any] = {"kind": self.kind, "country": "CN"}
        if self.province is not None:
            out["province"] = self.province
        out["city"] = self.city
        if self.district is not None:
            out["district"] = self.district
        out["street"] = street
        if self.postal_code is not None:
            out["postal_code"] = self.postal_code
        return out


@attrs.frozen
class _Group:
    """The head of a company group: city, building, core name and trade, switchboard, mailbox."""

    city: _City
    office: _Address
    core: str
    trades: set[str]  # the trades of its companies: one company per trade
    switchboard: str
    generic: str
    domain: str


@attrs.frozen
class _Draft:
    """One record of an entity, before rendering; copies are made with :func:`attrs.evolve`.

    ``phone`` holds the 11 national digits and ``email`` its lower-case form: the rendering flags
    (``phone_style``, ``phone_full_width``, ``email_style``) only change how they are written.
    """

    entity: str
    name: _PersonName | _OrgName
    phone: str
    phone_style: int = 0
    phone_full_width: bool = False
    email: str | None = None
    email_style: int = 0
    identifier: tuple[str, str] | None = None  # (scheme, value)
    address: _Address | None = None
    gender: str | None = None
    birth_date: date | None = None
    industry: str | None = None
    legal_representative: str | None = None
    employee_band: str | None = None
    contact_name: str | None = None
    contact_title: str | None = None
    source: str | None = None
    person: _Person | None = None  # the individual, or the organisation's contact person
    domain: str | None = None  # the organisation's e-mail domain
    extra_phone: str | None = None  # a second number: a switchboard landline (hard set only)
    traps: tuple[str, ...] = ()  # the hard-negative cases the entity was made for

    @property
    def is_org(self) -> bool:
        return isinstance(self.name, _OrgName)

    def render(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": "organization" if self.is_org else "individual",
            "name": self.name.render(),
        }
        if self.gender is not None:
            data["gender"] = self.gender
        if self.birth_date is not None:
            data["birth_date"] = self.birth_date.isoformat()
        if self.industry is not None:
            data["industry"] = self.industry
        if self.employee_band is not None:
            data["employee_band"] = self.employee_band
        if self.legal_representative is not None:
            data["legal_representative"] = self.legal_representative
        if self.identifier is not None:
            data["identifiers"] = [{"scheme": self.identifier[0], "value": self.identifier[1]}]
        contact: dict[str, Any] = {}
        if self.contact_name is not None:
            contact["name"] = self.contact_name
        if self.contact_title is not None:
            contact["title"] = self.contact_title
        contact["phones"] = [self._phone_text(self.phone)]
        if self.extra_phone is not None:
            contact["phones"].append(self._phone_text(self.extra_phone))
        if self.email is not None:
            contact["emails"] = [self._email_text(self.email)]
        contact["primary"] = True
        data["contacts"] = [contact]
        if self.address is not None:
            data["addresses"] = [self.address.render()]
        if self.source is not None:
            data["source"] = self.source
        return data

    def _phone_text(self, p: str) -> str:
        if p.startswith("0"):  # a landline: 010 and 02x are three digits, other codes four
            area, local = (p[:3], p[3:]) if p[1] in "12" else (p[:4], p[4:])
            head, tail = local[:-4], local[-4:]
            text = (
                f"{area}-{local}",
                f"{area}-{head} {tail}",
                f"({area}){local}",
                f"+86 {area[1:]} {head} {tail}",
                p,
            )[self.phone_style]
            return _full_width(text) if self.phone_full_width else text
        text = (
            p,
            f"{p[:3]} {p[3:7]} {p[7:]}",
            f"{p[:3]}-{p[3:7]}-{p[7:]}",
            f"+86 {p[:3]} {p[3:7]} {p[7:]}",
            f"+86{p}",
        )[self.phone_style]
        return _full_width(text) if self.phone_full_width else text

    def _email_text(self, email: str) -> str:
        if self.email_style == 1:
            return email.upper()
        if self.email_style == 2:
            local, _, domain = email.partition("@")
            return f"{local[:1].upper()}{local[1:]}@{domain.upper()}"
        return email


def _strong_overlap(a: _Draft, b: _Draft) -> bool:
    """Whether two drafts share a phone, an e-mail (up to case) or an identifier."""
    phones = {a.phone, a.extra_phone} - {None}
    return (
        bool(phones & {b.phone, b.extra_phone})
        or (a.email is not None and a.email == b.email)
        or (a.identifier is not None and a.identifier == b.identifier)
    )


def _linked(a: _Draft, b: _Draft) -> bool:
    """Whether a careful human can tell two drafts of one entity belong together.

    Names always stay close (the perturbations change at most a character, the order or the legal
    form), so the records must also share a strong identifier or the same street in one city.
    """
    if _strong_overlap(a, b):
        return True
    return (
        a.address is not None
        and b.address is not None
        and a.address.city == b.address.city
        and a.address.street_key == b.address.street_key
    )
