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

- **names that say "someone else"**: two company names with one trade name and two different
  lines of business (:func:`other_business`: ``新纪嘉科技`` / ``新纪嘉网络科技``, a group's sibling
  companies) and two person names written in words that share the surname and differ in the
  whole given name (:func:`other_given_name`: ``Wu Hanyan`` / ``Wu Huiyu``) agree at most
  ``partial``, however similar their letters.

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
    "TRADE_WORDS",
    "MatchProfile",
    "Observation",
    "is_landline",
    "is_role_mailbox",
    "observe",
    "other_business",
    "trade_word",
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

# Words that state a company's line of business (行业或者经营特点), the part of a Chinese
# company name between its trade name (字号) and its legal form, as the rules for registering
# enterprise names arrange them: region, trade name, line of business, legal form. Companies of
# one group often share the trade name and an address and differ here (科技 / 网络技术).
TRADE_WORDS: Final = frozenset(
    {
        "科技",
        "信息科技",
        "网络科技",
        "电子科技",
        "智能科技",
        "生物科技",
        "环保科技",
        "教育科技",
        "农业科技",
        "医疗科技",
        "新能源科技",
        "技术",
        "信息技术",
        "网络技术",
        "软件技术",
        "电子技术",
        "软件",
        "网络",
        "互联网",
        "电子商务",
        "数据",
        "大数据",
        "通信",
        "电子",
        "商贸",
        "贸易",
        "国际贸易",
        "进出口",
        "商务",
        "商业",
        "百货",
        "超市",
        "零售",
        "批发",
        "物流",
        "供应链",
        "运输",
        "货运",
        "快递",
        "实业",
        "投资",
        "投资管理",
        "资产管理",
        "咨询",
        "管理咨询",
        "企业管理",
        "餐饮",
        "餐饮管理",
        "食品",
        "建筑",
        "建设",
        "工程",
        "建筑工程",
        "装饰",
        "装饰工程",
        "房地产",
        "房地产开发",
        "置业",
        "物业",
        "物业管理",
        "文化",
        "文化传媒",
        "传媒",
        "广告",
        "教育",
        "培训",
        "医药",
        "医疗",
        "医疗器械",
        "健康",
        "环保",
        "能源",
        "新能源",
        "汽车",
        "汽车服务",
        "机械",
        "机械设备",
        "设备",
        "制造",
        "电器",
        "电气",
        "化工",
        "材料",
        "新材料",
        "纺织",
        "服装",
        "服饰",
        "家居",
        "印刷",
        "包装",
        "农业",
        "旅游",
        "酒店",
        "酒店管理",
        "人力资源",
        "金融",
        "金融服务",
        "保险",
        "租赁",
        "融资租赁",
        "安装",
        "劳务",
        "影视",
        "娱乐",
        "体育",
        "健身",
        "美容",
    }
)
"""Line-of-business words of Chinese company names (``科技``, ``网络技术``, ``商贸``, ...)."""

_TRADE_WORDS_LONGEST_FIRST: Final = tuple(sorted(TRADE_WORDS, key=lambda w: (-len(w), w)))


def trade_word(core: str) -> str | None:
    """The line-of-business word a company name's core ends with (the longest one), ``None``
    when it ends with none or is nothing else (``"新纪嘉网络科技"`` -> ``"网络科技"``)."""
    for word in _TRADE_WORDS_LONGEST_FIRST:
        if len(core) > len(word) and core.endswith(word):
            return word
    return None


def other_business(a: str, b: str) -> bool:
    """True when two company name cores both state a line of business and state different ones:
    two companies (of one group, often), not one written twice."""
    mine, theirs = trade_word(a), trade_word(b)
    return mine is not None and theirs is not None and mine != theirs


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


_GIVEN_NAME_DIFFERS_BELOW: Final = 0.8


def other_given_name(a: str, b: str) -> bool:
    """True when two person-name keys share a surname and differ in the given name as a whole:
    two people of one family, not one person written twice.

    Keys are :func:`~custrec.matching.normalize.person_name` keys. A two-character CJK name that
    keeps its first character (the surname) and changes the second (the whole given name) is one;
    so is a name of words that shares a word with the other while its remaining words are all
    unlike the other's (similarity below 0.8: ``wu hanyan`` / ``wu huiyu``).
    """
    if " " not in a or " " not in b:
        return False
    mine, theirs = set(a.split(" ")), set(b.split(" "))
    shared = mine & theirs
    rest_a, rest_b = mine - shared, theirs - shared
    if not shared or not rest_a or not rest_b:
        return False
    return all(similarity(x, y) < _GIVEN_NAME_DIFFERS_BELOW for x in rest_a for y in rest_b)


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
        elif (
            a.kind == b.kind == "organization"
            and (sim >= NAME_PARTIAL or _one_substitution(a.name, b.name))
            and other_business(a.name, b.name)
        ):  # one trade name, two lines of business: at best a sibling company's name
            out.append(("name", 4, "name", f"another line of business ({sim:.2f})", None))
        elif (
            a.kind == b.kind != "organization"
            and (sim >= NAME_PARTIAL or _one_substitution(a.name, b.name))
            and other_given_name(a.name, b.name)
        ):  # one surname, another given name: at best a relative's name
            out.append(("name", 4, "name", f"another given name ({sim:.2f})", None))
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
