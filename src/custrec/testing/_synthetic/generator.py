"""The synthetic generator: entities, hard negatives and perturbed copies from one
``random.Random`` (private; see :mod:`custrec.testing.synthetic`)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import Final, TypeVar

import attrs

from custrec.testing._synthetic.model import (
    _Address,
    _Draft,
    _Group,
    _linked,
    _OrgName,
    _OrgStem,
    _Person,
    _PersonName,
)
from custrec.testing._synthetic.tables import (
    _AREA_CODES,
    _ATTEMPTS,
    _BANDS,
    _CITIES,
    _COMMON_GIVEN,
    _CORE_CHARS,
    _GENERIC_MAILBOXES,
    _GIVEN_CHARS,
    _HARD_ONLY,
    _LEGAL_FORMS,
    _LLC,
    _MAIL_DOMAINS,
    _MOBILE_PREFIXES,
    _PERTURBATIONS,
    _PHONE_STYLES,
    _PINYIN,
    _QWERTY_NEIGHBOURS,
    _RECENT,
    _ROAD_DIRECTIONS,
    _ROAD_KINDS,
    _ROAD_STEMS,
    _SHORT_LOCAL,
    _SIMILAR,
    _SOURCES,
    _SURNAMES,
    _TITLES,
    _TRADES,
    _City,
)
from custrec.validation import ric, uscc

_T = TypeVar("_T")


class _Generator:
    """Entities and their copies, from one ``random.Random``; holds only bounded buffers."""

    def __init__(self, rng: random.Random, *, hard: bool = False) -> None:
        self.rng = rng
        self.hard = hard  # the harder set: more traps, shared phones and e-mails, missing ids
        self.recent_people: deque[tuple[_Person, _City, bool, date]] = deque(maxlen=_RECENT)
        self.recent_homes: deque[tuple[_City, _Address, str, str]] = deque(maxlen=_RECENT)
        self.recent_orgs: deque[_OrgStem] = deque(maxlen=_RECENT)
        self.recent_offices: deque[tuple[_City, _Address]] = deque(maxlen=_RECENT)
        self.recent_groups: deque[_Group] = deque(maxlen=_RECENT)

    # ------------------------------------------------------------------- small building blocks

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items: Sequence[_T]) -> _T:
        return items[int(self.rng.random() * len(items))]

    def below(self, stop: int) -> int:
        """A whole number in ``[0, stop)`` (``stop`` below 2**53)."""
        return int(self.rng.random() * stop)

    def integer(self, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        return low + int(self.rng.random() * (high - low + 1))

    def person(self, *, male: bool | None = None, surname: str | None = None) -> _Person:
        rng = self.rng
        if male is None:
            male = self.chance(0.5)
        if surname is None:
            surname = _SURNAMES.draw(rng)
        if self.chance(0.45):
            given: str = _COMMON_GIVEN[male].draw(rng)
        else:
            chars = _GIVEN_CHARS[male]
            given = self.pick(chars)
            if self.chance(0.75):
                given += self.pick(chars)
        return _Person(surname, given, male)

    def phone(self, avoid: str | None = None) -> str:
        while True:
            number = f"{_MOBILE_PREFIXES.draw(self.rng)}{self.below(10**8):08d}"
            if number != avoid:
                return number

    def landline(self, city: _City) -> str:
        """A fixed-line number in ``city``: area code and a local number whose first digit is 2
        to 7 (``800`` and some other ``8`` numbers are service numbers, not lines), eight digits;
        seven in the few cities whose numbers are shorter."""
        area = _AREA_CODES[city.name]
        rest = 10 ** (6 if area in _SHORT_LOCAL else 7)
        return f"{area}{self.integer(2, 7)}{self.below(rest):0{len(str(rest)) - 1}d}"

    def phone_style(self) -> int:
        return int(_PHONE_STYLES.draw(self.rng))

    def personal_email(self, person: _Person) -> str:
        rng = self.rng
        domain: str = _MAIL_DOMAINS.draw(rng)
        if domain == "qq.com" and self.chance(0.6):
            return f"{self.integer(10**5, 4 * 10**9)}@qq.com"
        s, g = person.surname_pinyin, person.given_pinyin
        local = self.pick((f"{s}{g}", f"{s}.{g}", f"{g}{s}", f"{s}{g[:1]}", f"{s[:1]}{g}"))
        if self.chance(0.25):  # a birthday
            digits = f"{self.integer(1955, 2005)}{self.integer(1, 12):02d}{self.integer(1, 28):02d}"
        else:
            digits = str(self.below(10 ** self.integer(3, 5)))
        return f"{local}{self.pick(('', '', '_'))}{digits}@{domain}"

    def work_email(self, person: _Person, domain: str | None) -> str:
        if domain is None or self.chance(0.3):
            return self.personal_email(person)
        s, g = person.surname_pinyin, person.given_pinyin
        local = self.pick((f"{s}{g}", f"{s}.{g}", f"{g}.{s}", f"{s}{g[:1]}"))
        if self.chance(0.5):
            local += str(self.integer(1, 99))
        return f"{local}@{domain}"

    def address(self, city: _City, *, kind: str) -> _Address:
        rng = self.rng
        district, _ = self.pick(city.districts)
        road = self.pick(_ROAD_STEMS) + str(_ROAD_DIRECTIONS.draw(rng)) + str(_ROAD_KINDS.draw(rng))
        number = min(1 + int(rng.expovariate(1 / 150)), 1999)
        if kind == "home":
            detail = (
                f"{self.integer(1, 30)}栋{self.integer(1, 6)}单元{self.integer(1, 33)}"
                f"{self.integer(1, 6):02d}室"
                if self.chance(0.7)
                else ""
            )
        else:
            detail = self.pick(
                (
                    "",
                    f"{self.integer(1, 12)}号楼{self.integer(1, 30)}层",
                    f"{self.pick('ABCD')}座{self.integer(1, 40)}{self.integer(1, 20):02d}室",
                    f"{self.integer(1, 28)}层",
                )
            )
        postal = f"{city.postal_prefix}{self.below(1000):03d}" if self.chance(0.45) else None
        return _Address(
            kind=kind,
            province=city.province,
            city=city.name,
            district=district,
            road=road,
            number=number,
            detail=detail,
            postal_code=postal,
            spaced=self.chance(0.1),
        )

    def ric(self, city: _City, born: date, male: bool) -> str:
        rng = self.rng
        _, code = self.pick(city.districts if self.chance(0.6) else _CITIES.draw(rng).districts)
        sequence = self.below(500) * 2 + (1 if male else 0)
        body = f"{code}{born:%Y%m%d}{sequence:03d}"
        return body + ric.calc_check_digit(body)

    def uscc(self, city: _City) -> str:
        _, code = self.pick(city.districts)
        if self.chance(0.5):
            org = "".join(str(self.below(10)) for _ in range(8))
        else:
            org = "MA" + "".join(self.pick(uscc.ALPHABET) for _ in range(6))
        org += _org_code_check(org)
        body = f"91{code}{org}"
        return body + uscc.calc_check_digit(body)

    # ---------------------------------------------------------------------------- entities

    def entity(self, entity_id: str) -> _Draft:
        if self.chance(0.7):
            return self.individual(entity_id)
        return self.organisation(entity_id)

    def individual(self, entity_id: str) -> _Draft:
        rng = self.rng
        home: _Address | None = None
        traps: tuple[str, ...] = ()
        avoid_born: date | None = None
        family_phone: str | None = None
        if self.recent_people and self.chance(0.12 if self.hard else 0.08):
            # a hard negative: a namesake in the same city
            who, city, latin, avoid_born = self.pick(self.recent_people)
            person = who
            traps = ("namesake",)
        elif self.recent_homes and self.chance((0.06 if self.hard else 0.03) / 0.92):
            # a hard negative: a family member at the same address
            city, home, surname, phone = self.pick(self.recent_homes)
            person = self.person(surname=surname if self.chance(0.6) else None)
            latin = self.chance(0.15)
            traps = ("family",)
            if self.hard and self.chance(0.6):  # and the family's phone
                family_phone = phone
                traps = ("family", "family_phone")
        else:
            person = self.person()
            city = _CITIES.draw(rng)
            latin = self.chance(0.15)
        if latin:
            name = _PersonName(
                person.surname_pinyin.capitalize(),
                person.given_pinyin.capitalize(),
                latin=True,
                given_first=self.chance(0.25),
            )
        else:
            name = _PersonName(person.surname, person.given, latin=False)
        born = date(self.integer(1955, 2004), 1, 1) + timedelta(days=self.below(365))
        while self.hard and born == avoid_born:  # a namesake is another person
            born += timedelta(days=1 + self.below(900))
        self.recent_people.append((person, city, latin, born))
        identifier = ("CN-RIC", self.ric(city, born, person.male)) if self.chance(0.2) else None
        namesake = self.hard and "namesake" in traps  # always told apart by birth and home
        if home is None and (namesake or self.chance(0.8)):
            home = self.address(city, kind="home")
        phone = family_phone or self.phone()
        if home is not None:
            self.recent_homes.append((city, home, person.surname, phone))
        return _Draft(
            entity=entity_id,
            name=name,
            phone=phone,
            phone_style=self.phone_style(),
            email=self.personal_email(person) if self.chance(0.6) else None,
            identifier=identifier,
            address=home,
            gender=("male" if person.male else "female") if self.chance(0.6) else None,
            birth_date=born if namesake or self.chance(0.4) else None,
            source=self.pick(_SOURCES) if self.chance(0.5) else None,
            person=person,
            traps=traps,
        )

    def organisation(self, entity_id: str) -> _Draft:
        rng = self.rng
        city: _City = _CITIES.draw(rng)
        office: _Address | None = None
        if self.hard and self.recent_groups and self.chance(0.12):
            group = self.pick(self.recent_groups)
            if len(group.trades) < len(_TRADES.items):
                return self.sibling(entity_id, group)
        traps: tuple[str, ...] = ()
        stem = self.pick(self.recent_orgs) if self.recent_orgs and self.chance(0.2) else None
        if stem is not None and len(stem.cities) < len(_CITIES.items):
            # a hard negative: a recent name in another city (names are unique within a city)
            while city.name in stem.cities:
                city = _CITIES.draw(rng)
            stem.cities.add(city.name)
            core, trade, legal = stem.core, stem.trade, stem.legal
            style = "bracketed" if self.chance(0.25) else "prefix"
            traps = ("other_city",)
        else:
            size = 2 if self.chance(0.5) else 3
            core = "".join(rng.sample(_CORE_CHARS, size))
            trade = _TRADES.draw(rng)
            legal = "股份有限公司" if trade[0] == "银行" else str(_LEGAL_FORMS.draw(rng))
            style = self.pick(("prefix",) * 13 + ("bracketed",) * 4 + ("none",) * 3)
            if self.recent_offices and self.chance(0.05):
                # a hard negative: another company in the same building
                city, shared = self.pick(self.recent_offices)
                office = _address_in_same_building(shared)
                traps = ("same_building",)
            self.recent_orgs.append(_OrgStem(core, trade, legal, {city.name}))
        name = _OrgName(
            region=None if style == "none" else city.short,
            core=core,
            trade=trade[0],
            legal=legal,
            bracketed=style == "bracketed",
        )
        if office is None:
            office = self.address(city, kind="registered")
        self.recent_offices.append((city, office))
        core_pinyin = "".join(_PINYIN[ch] for ch in core)
        domain = self.pick(
            (
                f"{core_pinyin}.com",
                f"{core_pinyin}.com.cn",
                f"{city.abbrev}{core_pinyin}.com",
                f"{core_pinyin}{self.integer(1, 2020)}.com",
                f"{core_pinyin}-{city.abbrev}.cn",
            )
        )
        contact = self.person()
        draft = _Draft(
            entity=entity_id,
            name=name,
            phone=self.phone(),
            phone_style=self.phone_style(),
            email=self.work_email(contact, domain) if self.chance(0.75) else None,
            identifier=("CN-USCC", self.uscc(city)) if self.chance(0.7) else None,
            address=office,
            industry=trade[1],
            legal_representative=self.person().hanzi if self.chance(0.5) else None,
            employee_band=self.pick(_BANDS) if self.chance(0.5) else None,
            contact_name=contact.hanzi,
            contact_title=self.pick(_TITLES) if self.chance(0.8) else None,
            source=self.pick(_SOURCES) if self.chance(0.5) else None,
            person=contact,
            domain=domain,
            traps=traps,
        )
        if self.hard and not traps and self.chance(0.3):
            # the head of a group: a switchboard, and often a generic mailbox, that its sibling
            # companies in the same building will share
            switchboard = self.landline(city)
            generic = f"{self.pick(_GENERIC_MAILBOXES)}@{domain}"
            if self.chance(0.4):
                draft = attrs.evolve(draft, email=generic)
            draft = attrs.evolve(draft, extra_phone=switchboard)
            group = _Group(city, office, core, {trade[0]}, switchboard, generic, domain)
            self.recent_groups.append(group)
        return draft

    def sibling(self, entity_id: str, group: _Group) -> _Draft:
        """A hard negative: another company of a group, in its building, on its switchboard.

        It shares the group's core name (another trade, so another legal entity with its own
        credit code or none) and the switchboard, as its only phone or beside its own line;
        half the time the group's generic mailbox too.
        """
        rng = self.rng
        trade = _TRADES.draw(rng)
        while trade[0] in group.trades:  # another business: another company, not a re-entry
            trade = _TRADES.draw(rng)
        group.trades.add(trade[0])
        legal = "股份有限公司" if trade[0] == "银行" else str(_LEGAL_FORMS.draw(rng))
        name = _OrgName(
            region=group.city.short,
            core=group.core,
            trade=trade[0],
            legal=legal,
            bracketed=self.chance(0.25),
        )
        traps: tuple[str, ...] = ("switchboard",)
        own = self.chance(0.5)
        contact = self.person()
        email = self.work_email(contact, group.domain) if self.chance(0.6) else None
        if self.chance(0.5):
            email = group.generic
            traps = ("switchboard", "shared_email")
        return _Draft(
            entity=entity_id,
            name=name,
            phone=self.phone() if own else group.switchboard,
            phone_style=self.phone_style(),
            extra_phone=group.switchboard if own else None,
            email=email,
            identifier=("CN-USCC", self.uscc(group.city)) if self.chance(0.7) else None,
            address=_address_in_same_building(group.office),
            industry=trade[1],
            legal_representative=self.person().hanzi if self.chance(0.5) else None,
            contact_name=contact.hanzi,
            contact_title=self.pick(_TITLES) if self.chance(0.8) else None,
            source=self.pick(_SOURCES) if self.chance(0.5) else None,
            person=contact,
            domain=group.domain,
            traps=traps,
        )

    # ------------------------------------------------------------------------------ copies

    def copy(self, original: _Draft, others: Sequence[_Draft]) -> tuple[_Draft, str]:
        """A perturbed copy of ``original`` linked to it and to every draft in ``others``."""
        for _ in range(_ATTEMPTS):
            applicable = [
                (n, w)
                for n, w in _PERTURBATIONS
                if _applies(n, original) and (self.hard or n not in _HARD_ONLY)
            ]
            count = 1 if self.chance(0.6) or len(applicable) == 1 else 2
            chosen: set[str] = set()
            while len(chosen) < count:
                names = [n for n, _ in applicable if n not in chosen]
                weights = [w for n, w in applicable if n not in chosen]
                chosen.add(self.rng.choices(names, weights)[0])
            draft = attrs.evolve(
                original,
                phone_style=self.phone_style(),
                source=self.pick(_SOURCES) if self.chance(0.5) else None,
            )
            labels = []
            for name, _ in _PERTURBATIONS:
                if name not in chosen:
                    continue
                if not _applies(name, draft):  # an earlier perturbation removed its target
                    break
                draft = _PERTURB[name](self, draft)
                labels.append(name)
            else:
                if all(_linked(draft, other) for other in (original, *others)):
                    return draft, "+".join(labels)
        # Unreachable in practice; a copy that keeps every identifier is linked to everything
        # linked to the original.
        return attrs.evolve(original, phone_full_width=True), "full_width"

    def typo(self, draft: _Draft) -> _Draft:
        name = draft.name
        if isinstance(name, _OrgName):
            return attrs.evolve(draft, name=attrs.evolve(name, core=self.similar(name.core)))
        if not name.latin:
            return attrs.evolve(draft, name=attrs.evolve(name, given=self.similar(name.given)))
        if self.chance(len(name.given) / (len(name.given) + len(name.surname))):
            return attrs.evolve(draft, name=attrs.evolve(name, given=self.letter_typo(name.given)))
        return attrs.evolve(draft, name=attrs.evolve(name, surname=self.letter_typo(name.surname)))

    def similar(self, text: str) -> str:
        """``text`` with one character replaced by a similar one from the typo table."""
        positions = [i for i, ch in enumerate(text) if ch in _SIMILAR]
        i = self.pick(positions)
        return text[:i] + self.pick(_SIMILAR[text[i]]) + text[i + 1 :]

    def letter_typo(self, word: str) -> str:
        """``word`` (capitalised pinyin) with one letter substituted, deleted or transposed."""
        lower = word.lower()
        op = self.rng.random()
        if op < 0.25 and len(lower) >= 3:
            i = self.integer(1, len(lower) - 1)
            result = lower[:i] + lower[i + 1 :]
        elif op < 0.5 and any(a != b for a, b in pairwise(lower)):
            i = self.pick([i for i in range(len(lower) - 1) if lower[i] != lower[i + 1]])
            result = lower[:i] + lower[i + 1] + lower[i] + lower[i + 2 :]
        else:
            i = self.below(len(lower))
            result = lower[:i] + self.pick(_QWERTY_NEIGHBOURS[lower[i]]) + lower[i + 1 :]
        return result.capitalize()

    def swapped_name(self, draft: _Draft) -> _Draft:
        name = draft.name
        assert isinstance(name, _PersonName)
        return attrs.evolve(draft, name=attrs.evolve(name, given_first=not name.given_first))

    def full_width(self, draft: _Draft) -> _Draft:
        options = ["phone"]
        if draft.address is not None:
            options.append("street")
        if isinstance(draft.name, _PersonName) and draft.name.latin:
            options.append("name")
        where = self.pick(options)
        if where == "street":
            assert draft.address is not None
            return attrs.evolve(draft, address=attrs.evolve(draft.address, full_width=True))
        if where == "name":
            assert isinstance(draft.name, _PersonName)
            return attrs.evolve(draft, name=attrs.evolve(draft.name, full_width=True))
        return attrs.evolve(draft, phone_full_width=True)

    def legal_form(self, draft: _Draft) -> _Draft:
        name = draft.name
        assert isinstance(name, _OrgName)
        options: list[tuple[str, float]] = [("drop", 2.0)]
        if name.legal in _LLC:
            options.append(("swap", 3.0))
        if name.legal == "股份有限公司":
            options.append(("short", 1.5))
        if name.region is not None:
            options.append(("bracket", 2.0))
        choice = self.rng.choices([o for o, _ in options], [w for _, w in options])[0]
        if choice == "drop":
            new = attrs.evolve(name, legal="")
        elif choice == "swap":
            new = attrs.evolve(name, legal=_LLC[1] if name.legal == _LLC[0] else _LLC[0])
        elif choice == "short":
            new = attrs.evolve(name, legal="股份公司")
        else:
            new = attrs.evolve(name, bracketed=not name.bracketed)
        return attrs.evolve(draft, name=new)

    def changed_phone(self, draft: _Draft) -> _Draft:
        email = draft.email
        person = draft.person
        contact_name = draft.contact_name
        if draft.is_org and self.chance(0.35):
            # a new contact person: new phone, and a new e-mail address or none
            person = self.person()
            contact_name = person.hanzi
            email = self.work_email(person, draft.domain) if self.chance(0.5) else None
            keep = ["identifier"]
        else:
            keep = [k for k in ("email", "identifier") if getattr(draft, k) is not None]
        # keep at most one of e-mail and identifier; neither only when an address remains
        kept = None
        if keep and (draft.address is None or self.chance(0.55)):
            kept = self.pick(keep)
        return attrs.evolve(
            draft,
            phone=self.phone(avoid=draft.phone),
            email=email if kept == "email" or email != draft.email else None,
            identifier=draft.identifier if kept == "identifier" else None,
            person=person,
            contact_name=contact_name,
        )

    def missing_id(self, draft: _Draft) -> _Draft:
        return attrs.evolve(draft, identifier=None)

    def email_case(self, draft: _Draft) -> _Draft:
        roll = self.rng.random()
        if roll < 0.4:
            return attrs.evolve(draft, email_style=1)
        if roll < 0.65:
            return attrs.evolve(draft, email_style=2)
        return attrs.evolve(draft, email=None)

    def address_variant(self, draft: _Draft) -> _Draft:
        address = draft.address
        assert address is not None
        options: list[tuple[str, float]] = [("spaces", 3.0), ("province", 1.5)]
        if not address.full_width:  # keep an earlier full-width street visible
            options.append(("all", 0.7))
        if address.district is not None:
            options.append(("district", 3.0))
        if address.postal_code is not None:
            options.append(("postal", 1.5))
        choice = self.rng.choices([o for o, _ in options], [w for _, w in options])[0]
        if choice == "all":
            return attrs.evolve(draft, address=None)
        if choice == "spaces":
            new = attrs.evolve(address, spaced=not address.spaced)
        elif choice == "province":
            new = attrs.evolve(address, province=None)
        elif choice == "district":
            new = attrs.evolve(address, district=None)
        else:
            new = attrs.evolve(address, postal_code=None)
        return attrs.evolve(draft, address=new)


def _address_in_same_building(shared: _Address) -> _Address:
    """Another office at ``shared``'s street and number (a different floor or none)."""
    return attrs.evolve(shared, detail="" if shared.detail else "1层")


def _org_code_check(body: str) -> str:
    """The GB 11714 check character of an eight-character organisation code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(ch, 36) * w for ch, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _applies(perturbation: str, draft: _Draft) -> bool:
    name = draft.name
    if perturbation == "swapped_name":
        return isinstance(name, _PersonName) and name.latin
    if perturbation == "legal_form":
        return isinstance(name, _OrgName)
    if perturbation == "changed_phone":
        # with neither an address nor an e-mail nor an identifier, only the name would remain
        return draft.address is not None or draft.email is not None or draft.identifier is not None
    if perturbation == "email_case":
        return draft.email is not None
    if perturbation == "missing_id":
        return draft.identifier is not None
    if perturbation == "address":
        return draft.address is not None
    return True


_PERTURB: Final = {
    "typo": _Generator.typo,
    "swapped_name": _Generator.swapped_name,
    "full_width": _Generator.full_width,
    "legal_form": _Generator.legal_form,
    "changed_phone": _Generator.changed_phone,
    "missing_id": _Generator.missing_id,
    "email_case": _Generator.email_case,
    "address": _Generator.address_variant,
}
