"""Comparison levels: how two match profiles agree, field by field.

Fellegi-Sunter matching reads a pair of records as a *comparison vector*: for every field one
*level* (``name`` is ``same``, ``high``, ``low``, ``typo``, ``partial`` or ``different``;
``phone`` is ``mobile``, ``landline`` or ``different``; ...) or nothing when a side lacks the
field. :data:`LEVELS` lists every field's levels from the strongest agreement to disagreement;
:func:`observe` computes the vector of one pair together with the text of each finding and, for
agreement on one value (a name, a street, a phone, an e-mail), the match key of that value, so
that the caller can weigh it by how many records hold it (see :mod:`custrec.matching.parameters`).

Evidence by strength:

- **identifiers** (``id``): a shared government id (USCC, resident id, passport), external id or
  other identifier is ``same``; different values of one government scheme are ``different``
  (the scoring turns these into decisions);
- **phones**: a shared mobile number is ``mobile``; a shared landline (phonenumbers type
  ``FIXED_LINE``, ``FIXED_LINE_OR_MOBILE`` where the region does not tell them apart, toll-free,
  shared-cost, VoIP, UAN or an unknown type) is ``landline``, a line that a household or a
  company's staff share;
- **e-mails**: a shared address whose local part is a role (:data:`ROLE_LOCAL_PARTS`, ``info@``,
  ``sales@`` ...) is ``role``, any other shared address ``personal``.

Every finding names a level or a similarity, never a value, so reasons never show personal data.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Final

import attrs
import phonenumbers

from custrec.matching.keys import GOVERNMENT_KINDS, StrongKey
from custrec.matching.similarity import jaro_winkler, ratio

__all__ = [
    "LEVELS",
    "NAME_HIGH",
    "NAME_LOW",
    "NAME_PARTIAL",
    "ROLE_LOCAL_PARTS",
    "STREET_SIMILAR",
    "MatchProfile",
    "Observation",
    "is_landline",
    "is_role_mailbox",
    "observe",
]

LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "name": ("same", "high", "low", "typo", "partial", "different"),
    "address": ("same", "similar", "different"),
    "city": ("same", "different"),
    "birth_date": ("same", "different"),
    "gender": ("same", "different"),
    "region": ("same", "different"),
    "phone": ("mobile", "landline", "different"),
    "email": ("personal", "role", "different"),
    "id": ("same", "different"),
}
"""Every field's comparison levels, strongest agreement first, disagreement last."""

NAME_HIGH: Final = 0.9
"""Name similarity at or above which (below 1.0) the name level is ``high``."""
NAME_LOW: Final = 0.75
"""Name similarity at or above which (below :data:`NAME_HIGH`) the name level is ``low``."""
NAME_PARTIAL: Final = 0.5
"""Name similarity at or above which (below :data:`NAME_LOW`) the name level is ``partial``: one
character of a two-character name, a shared surname, a sibling company's shared core name."""
STREET_SIMILAR: Final = 0.9
"""Street similarity at or above which (below 1.0) the address level is ``similar``."""

ROLE_LOCAL_PARTS: Final = frozenset(
    {
        "account",
        "accounts",
        "admin",
        "administrator",
        "billing",
        "booking",
        "contact",
        "contactus",
        "customerservice",
        "enquiries",
        "enquiry",
        "finance",
        "hello",
        "help",
        "hr",
        "info",
        "inquiry",
        "jobs",
        "kefu",
        "mail",
        "marketing",
        "noreply",
        "office",
        "order",
        "orders",
        "postmaster",
        "reception",
        "sales",
        "service",
        "support",
        "team",
        "webmaster",
    }
)
"""Local parts of role mailboxes (compared without ``.``, ``-``, ``_`` and trailing digits)."""

_PERSONAL_LINES: Final = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.PAGER,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    }
)


@attrs.frozen(kw_only=True)
class MatchProfile:
    """The comparable facts of one normalised customer (personal data: never log it)."""

    id: str
    kind: str
    name: str = attrs.field(repr=False)
    region: str | None = attrs.field(default=None, repr=False)
    addresses: tuple[str, ...] = attrs.field(default=(), repr=False)
    cities: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    birth_date: date | None = attrs.field(default=None, repr=False)
    sex: str | None = attrs.field(default=None, repr=False)
    strong: frozenset[StrongKey] = attrs.field(default=frozenset(), repr=False)


Observation = tuple[str, int, str, str, tuple[str, str] | None]
"""``(field, level index, reason field, finding, key of the agreeing value or None)``."""


@functools.lru_cache(maxsize=65_536)
def is_landline(phone: str) -> bool:
    """True unless an E.164 ``phone`` is a mobile (or pager, or personal) number.

    ``FIXED_LINE_OR_MOBILE`` (the US and Canada, where numbers do not tell) counts as a landline:
    a wrong merge costs more than a missed one, and the landline level's weight is estimated from
    the data, so where such numbers are personal the estimate says so.
    """
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return True
    return phonenumbers.number_type(number) not in _PERSONAL_LINES


def is_role_mailbox(email: str) -> bool:
    """True if the (case-folded) e-mail's local part is in :data:`ROLE_LOCAL_PARTS`."""
    local = email.partition("@")[0].partition("+")[0]
    local = local.replace(".", "").replace("-", "").replace("_", "").rstrip("0123456789")
    return local in ROLE_LOCAL_PARTS


def similarity(a: str, b: str) -> float:
    """The larger of :func:`ratio` and :func:`jaro_winkler` (1.0 for equal strings)."""
    if a == b:
        return 1.0
    return max(ratio(a, b), jaro_winkler(a, b))


def _one_substitution(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` have one length and differ in exactly one position."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1


def best_street(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[float, str | None]:
    """The best street similarity of two address-key lists and the key when equal."""
    best, same = 0.0, None
    for x in a:
        for y in b:
            # keys are "city|street"; an unknown city on either side does not count against it
            cx, _, sx = x.partition("|")
            cy, _, sy = y.partition("|")
            if cx and cy and cx != cy:
                continue
            if sx == sy:
                return 1.0, x if cx else y
            best = max(best, similarity(sx, sy))
    return best, same


def _contacts(kind: str, mine: set[str], theirs: set[str], landline: bool) -> Observation | None:
    if not mine or not theirs:
        return None
    shared = sorted(mine & theirs)
    if not shared:
        return (kind, 2, kind, "different", None)
    test = is_landline if landline else is_role_mailbox
    personal = [v for v in shared if not test(v)]
    if personal:
        return (kind, 0, kind, "same", (kind, personal[0]))
    return (kind, 1, kind, "same landline" if landline else "same role mailbox", (kind, shared[0]))


def observe(a: MatchProfile, b: MatchProfile) -> list[Observation]:
    """The comparison vector of two match profiles, in a fixed field order.

    Only fields known on both sides are observed. Multi-valued fields take their best agreement:
    a personal phone shared beats a landline shared, which beats phones that all differ. The
    identifier field is ``different`` when any government scheme conflicts (its reason names
    the conflicting schemes), else ``same`` when any identifier is shared (naming those).
    """
    out: list[Observation] = []
    found = _identifiers(a, b)
    if found is not None:
        out.append(found)
    if a.name and b.name:
        sim = similarity(a.name, b.name)
        if sim == 1.0:
            prefix = "o:" if a.kind == "organization" else "p:"
            out.append(("name", 0, "name", "same", ("blk.name", prefix + a.name)))
        elif sim >= NAME_HIGH:
            out.append(("name", 1, "name", f"{sim:.2f}", None))
        elif sim >= NAME_LOW:
            out.append(("name", 2, "name", f"{sim:.2f}", None))
        elif _one_substitution(a.name, b.name):
            out.append(("name", 3, "name", f"one character ({sim:.2f})", None))
        elif sim >= NAME_PARTIAL:
            out.append(("name", 4, "name", f"partly ({sim:.2f})", None))
        else:
            out.append(("name", 5, "name", f"different ({sim:.2f})", None))
    if a.region and b.region:
        out.append(("region", int(a.region != b.region), "region", _same(a.region, b.region), None))
    if a.addresses and b.addresses:
        sim, key = best_street(a.addresses, b.addresses)
        if key is not None:
            out.append(("address", 0, "address", "same", ("blk.addr", key)))
        elif sim >= STREET_SIMILAR:
            out.append(("address", 1, "address", f"{sim:.2f}", None))
        else:
            out.append(("address", 2, "address", "different", None))
    elif a.cities and b.cities:
        differ = a.cities.isdisjoint(b.cities)
        out.append(("city", int(differ), "city", "different" if differ else "same", None))
    if a.birth_date is not None and b.birth_date is not None:
        differ = a.birth_date != b.birth_date
        out.append(("birth_date", int(differ), "birth_date", _same(differ), None))
    if a.sex is not None and b.sex is not None:
        out.append(("gender", int(a.sex != b.sex), "gender", _same(a.sex != b.sex), None))
    phones_a = {v for k, v in a.strong if k == "phone"}
    phones_b = {v for k, v in b.strong if k == "phone"}
    found = _contacts("phone", phones_a, phones_b, landline=True)
    if found is not None:
        out.append(found)
    emails_a = {v for k, v in a.strong if k == "email"}
    emails_b = {v for k, v in b.strong if k == "email"}
    found = _contacts("email", emails_a, emails_b, landline=False)
    if found is not None:
        out.append(found)
    return out


def _same(x: object, y: object = None) -> str:
    """``"different"`` if ``x != y`` (or, given one argument, if it is true), else ``"same"``."""
    differ = x if y is None else x != y
    return "different" if differ else "same"


def _identifiers(a: MatchProfile, b: MatchProfile) -> Observation | None:
    mine: dict[str, set[str]] = {}
    for kind, value in a.strong:
        if kind != "phone" and kind != "email":
            mine.setdefault(kind, set()).add(value)
    if not mine:
        return None
    theirs: dict[str, set[str]] = {}
    for kind, value in b.strong:
        if kind in mine:
            theirs.setdefault(kind, set()).add(value)
    shared, conflicts = [], []
    for kind in sorted(theirs):
        if mine[kind] & theirs[kind]:
            shared.append(kind.removeprefix("id."))
        elif kind in GOVERNMENT_KINDS:
            conflicts.append(kind)
    if conflicts:
        return ("id", 1, "+".join(conflicts), "different", None)
    if shared:
        return ("id", 0, "+".join(shared), "same", None)
    return None
