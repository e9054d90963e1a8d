"""Display masking: show enough of a personal value to recognise it, not to use it.

:func:`mask` replaces characters with ``*`` one for one, so the output has the input's length
and keeps its separators (``-``, spaces, ``+``, ``@`` and the e-mail domain); downstream shape
checks keep passing. It never raises for a ``str`` and never reveals more than its kind allows:

=========  =====================================================  =============================
kind       keeps                                                  example
=========  =====================================================  =============================
mobile     country code, first 3 and last 4 digits                ``+86138****8000``
phone      CN mobiles as ``mobile``; CN landlines the area code   ``010-****9988``
           and last 4 digits; other countries as ``mobile``
email      first character of the local part, the whole domain    ``z****@example.com``
ric        first 3 and last 4 characters                          ``110***********002X``
uscc       first 2 and last 4 characters                          ``91************341L``
passport   first 1 and last 2 characters                          ``E******78``
name       Chinese: the surname (compound surnames too);          ``欧阳**``, ``J*** D**``
           other scripts: the first letter of each word
address    through the city (first 市, 自治州, 地区 or 盟)          ``北京市********``
generic    first and last character                               ``w******7``
full       nothing (free text)                                    ``*** ****``
=========  =====================================================  =============================

Short values reveal less: at most nothing for values of one or two characters (except a
two-character Chinese name, which keeps its surname), and each kind always hides at least its
minimum number of characters (4 digits of a phone, 8 characters of an identity or credit code,
3 of a passport), giving up revealed characters from the end first.

>>> mask("13800138000", "mobile"), mask("+861065529988", "phone")
('138****8000', '+8610****9988')
>>> mask("zhang@example.com", "email"), mask("110105194912310021", "ric")
('z****@example.com', '110***********0021')
>>> mask("张三丰", "name"), mask("欧阳娜娜", "name"), mask("John Doe", "name")
('张**', '欧阳**', 'J*** D**')
>>> mask("北京市朝阳区建国路1号", "address")
'北京市********'

:func:`mask_record` masks every personal field of any custrec record by its category; the
registry returns such copies to actors who may not unmask. A masked record is for display only:
never write one back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, TypeVar

import attrs

from custrec.model.records import (
    PERSONAL_KEY,
    Address,
    CustomValues,
    DataCategory,
    IdentifierScheme,
    PersonalInfo,
)

__all__ = [
    "COMPOUND_SURNAMES",
    "MASK_CHAR",
    "MaskKind",
    "mask",
    "mask_address",
    "mask_custom",
    "mask_record",
]

MASK_CHAR: Final = "*"

T = TypeVar("T")


class MaskKind(enum.StrEnum):
    """How :func:`mask` treats a value (see the module documentation for the rules)."""

    MOBILE = "mobile"
    PHONE = "phone"
    EMAIL = "email"
    RIC = "ric"
    USCC = "uscc"
    PASSPORT = "passport"
    NAME = "name"
    ADDRESS = "address"
    GENERIC = "generic"
    FULL = "full"


COMPOUND_SURNAMES: Final = frozenset(
    {
        # simplified
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "百里",
        "呼延", "万俟", "闻人", "澹台", "公羊", "太史", "申屠", "濮阳", "淳于", "单于",
        "钟离", "赫连", "拓跋", "第五", "东郭", "鲜于", "乐正", "司空", "司寇", "仲孙",
        "左丘", "谷梁", "梁丘", "公冶", "宗政", "羊舌", "微生", "巫马", "漆雕", "公良",
        "夹谷", "段干", "东门", "子车", "亓官", "壤驷", "公西", "颛孙", "宰父", "谷利",
        # traditional
        "歐陽", "司馬", "諸葛", "東方", "尉遲", "公孫", "長孫", "軒轅", "獨孤", "南宮",
        "聞人", "鍾離", "鮮于", "樂正", "仲孫", "穀梁", "顓孫", "東郭", "東門", "單于",
    }
)  # fmt: skip
"""Two-character Chinese surnames that :func:`mask` keeps whole."""

# ------------------------------------------------------------------------------- helpers


def _render(value: str, maskable: Callable[[str], bool], reveal: Callable[[int, int], bool]) -> str:
    """Mask every maskable character whose ordinal ``k`` (of ``n``) ``reveal`` rejects."""
    positions = [i for i, char in enumerate(value) if maskable(char)]
    n = len(positions)
    chars = list(value)
    for k, index in enumerate(positions):
        if not reveal(k, n):
            chars[index] = MASK_CHAR
    return "".join(chars)


def _edges(n: int, head: int, tail: int, min_hidden: int) -> tuple[int, int]:
    """Shrink (head, tail) until at least ``min_hidden`` of ``n`` are hidden; tail goes first."""
    if n <= 2:
        return 0, 0
    while head + tail > 0 and n - head - tail < min_hidden:
        if tail >= head:
            tail -= 1
        else:
            head -= 1
    return head, tail


def _keep_edges(
    value: str, maskable: Callable[[str], bool], head: int, tail: int, hidden: int
) -> str:
    def reveal(k: int, n: int) -> bool:
        h, t = _edges(n, head, tail, hidden)
        return k < h or k >= n - t

    return _render(value, maskable, reveal)


def _not_space(char: str) -> bool:
    return not char.isspace()


def _code_char(char: str) -> bool:
    return not (char.isspace() or char == "-")


# ------------------------------------------------------------------------------- phones

_PHONE_SEPARATORS: Final = frozenset("+-()./")
# ITU-T E.164 country calling codes of one and two digits; every other code has three.
_CC1: Final = frozenset({"1", "7"})
_CC2: Final = frozenset(
    {
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    }
)  # fmt: skip


def _phone_char(char: str) -> bool:
    return not (char.isspace() or char in _PHONE_SEPARATORS)


def _country_code_length(digits: str) -> int:
    if digits[:1] in _CC1:
        return 1
    if digits[:2] in _CC2:
        return 2
    return 3


def _is_cn_mobile(national: str) -> bool:
    return len(national) == 11 and national[0] == "1" and national[1] in "3456789"


def _first_group(value: str, start: int) -> int | None:
    """Digits before the first separator from ``start``, or ``None`` without separators."""
    count = 0
    for char in value[start:]:
        if not _phone_char(char):
            if count:
                return count
            continue
        count += 1
    return None


def _phone_reveal(value: str, *, mobile_only: bool) -> set[int]:
    positions = [i for i, char in enumerate(value) if _phone_char(char)]
    chars = "".join(value[i] for i in positions)
    n = len(chars)
    if n <= 2:
        return set()
    fallback_h, fallback_t = _edges(n, 3, 4, 4)
    fallback = set(range(fallback_h)) | set(range(n - fallback_t, n))
    if not (chars.isascii() and chars.isdigit()):
        return fallback
    cc = _country_code_length(chars) if value.lstrip().startswith("+") else 0
    if cc and n - cc < 7:  # too short to be a number with a country code: treat as digits
        cc = 0
    national = chars[cc:]
    nn = len(national)
    kept_cc = set(range(cc))
    if not mobile_only and (cc == 0 or chars[:cc] == "86") and not _is_cn_mobile(national):
        trunk = 1 if national.startswith("0") else 0
        area = trunk + (2 if national[trunk : trunk + 1] in ("1", "2") else 3)
        group = _first_group(value, positions[cc])
        if trunk and group is not None and 3 <= group <= 4:
            area = group
        local = nn - area
        if local < 7:
            return fallback
        _, tail = _edges(local, 0, 4, 4)
        return kept_cc | set(range(cc, cc + area)) | set(range(n - tail, n))
    head, tail = _edges(nn, 3, 4, 4)
    return kept_cc | set(range(cc, cc + head)) | set(range(n - tail, n))


def _mask_phone(value: str, *, mobile_only: bool) -> str:
    keep = _phone_reveal(value, mobile_only=mobile_only)
    return _render(value, _phone_char, lambda k, _n: k in keep)


# ------------------------------------------------------------------------------ e-mails


def _mask_email(value: str) -> str:
    at = value.rfind("@")
    local, domain = (value, "") if at < 0 else (value[:at], value[at:])
    if sum(1 for char in value if not char.isspace()) <= 2:  # "a@", "@b": hide all but "@"
        return _render(value, lambda char: _not_space(char) and char != "@", lambda _k, _n: False)
    return _render(local, _not_space, lambda k, n: k == 0 and n >= 2) + domain


# -------------------------------------------------------------------------------- names

_NAME_SEPARATORS: Final = frozenset("-.,·•・‧")


def _name_char(char: str) -> bool:
    return not (char.isspace() or char in _NAME_SEPARATORS)


def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3134F
    )


def _mask_name(value: str) -> str:
    letters = "".join(char for char in value if _name_char(char))
    if len(letters) <= 1:
        return _render(value, _name_char, lambda _k, _n: False)
    if any(_is_han(char) for char in letters):
        surname = 2 if len(letters) >= 3 and letters[:2] in COMPOUND_SURNAMES else 1
        return _render(value, _name_char, lambda k, _n: k < surname)
    chars = list(value)
    word_start: int | None = None
    for index in range(len(value) + 1):
        boundary = index == len(value) or not _name_char(value[index])
        if boundary:
            if word_start is not None:
                # a word's first letter is shown only if the word has at least two letters
                keep_first = index - word_start >= 2
                for position in range(word_start + (1 if keep_first else 0), index):
                    chars[position] = MASK_CHAR
            word_start = None
        elif word_start is None:
            word_start = index
    return "".join(chars)


# ----------------------------------------------------------------------------- addresses

_CITY_MARKERS: Final = ("自治州", "地区", "市", "盟")
_BELOW_CITY: Final = frozenset("区县旗镇乡街路道巷弄村号楼室栋幢")
_MAX_CITY_PREFIX: Final = 20


def _city_cut(value: str) -> int | None:
    """Index just after the city marker, if the text before it names only province/city."""
    for start in range(min(len(value), _MAX_CITY_PREFIX)):
        for marker in _CITY_MARKERS:
            if value.startswith(marker, start):
                end = start + len(marker)
                prefix = value[:start].replace("自治区", "")
                if end > _MAX_CITY_PREFIX or any(
                    char in _BELOW_CITY or char.isdigit() for char in prefix
                ):
                    return None
                return end
    return None


def _mask_address(value: str) -> str:
    if sum(1 for char in value if not char.isspace()) <= 2:
        return _render(value, _not_space, lambda _k, _n: False)
    cut = _city_cut(value)
    if cut is not None:
        return value[:cut] + _render(value[cut:], _not_space, lambda _k, _n: False)
    return _render(value, _not_space, lambda k, n: k < min(2, (n - 1) // 3))


# ----------------------------------------------------------------------------------- mask


def mask(value: str, kind: MaskKind | str) -> str:
    """Mask ``value`` for display according to ``kind`` (a :class:`MaskKind` or its value).

    The result has the same length as ``value``. Raises ``TypeError`` if ``value`` is not a
    string and ``ValueError`` for an unknown kind; never raises otherwise.

    >>> mask("010-65529988", "phone"), mask("91350100M000100Y43", "uscc")
    ('010-****9988', '91************0Y43')
    >>> mask("ab", "generic"), mask("", "name")
    ('**', '')
    """
    if not isinstance(value, str):
        raise TypeError(f"mask() needs a string value, not {type(value).__name__}")
    try:
        how = kind if type(kind) is MaskKind else MaskKind(kind)
    except ValueError:
        raise ValueError(
            f"unknown mask kind {kind!r}; expected one of {', '.join(k.value for k in MaskKind)}"
        ) from None
    if how is MaskKind.MOBILE:
        return _mask_phone(value, mobile_only=True)
    if how is MaskKind.PHONE:
        return _mask_phone(value, mobile_only=False)
    if how is MaskKind.EMAIL:
        return _mask_email(value)
    if how is MaskKind.RIC:
        return _keep_edges(value, _code_char, 3, 4, 8)
    if how is MaskKind.USCC:
        return _keep_edges(value, _code_char, 2, 4, 8)
    if how is MaskKind.PASSPORT:
        return _keep_edges(value, _code_char, 1, 2, 3)
    if how is MaskKind.NAME:
        return _mask_name(value)
    if how is MaskKind.ADDRESS:
        return _mask_address(value)
    if how is MaskKind.GENERIC:
        return _keep_edges(value, _not_space, 1, 1, 1)
    return _render(value, _not_space, lambda _k, _n: False)


# -------------------------------------------------------------------------------- records

_PHONE_FIELDS: Final = frozenset({"phone", "phones", "mobile", "mobiles", "fax"})
_EMAIL_FIELDS: Final = frozenset({"email", "emails"})
_SCHEME_KINDS: Final = {
    IdentifierScheme.RIC.value: MaskKind.RIC,
    IdentifierScheme.USCC.value: MaskKind.USCC,
    IdentifierScheme.PASSPORT.value: MaskKind.PASSPORT,
}


def _kind_for(record: object, name: str, category: DataCategory) -> MaskKind:
    if category is DataCategory.IDENTITY:
        return MaskKind.NAME
    if category is DataCategory.CONTACT:
        if name in _PHONE_FIELDS:
            return MaskKind.PHONE
        if name in _EMAIL_FIELDS:
            return MaskKind.EMAIL
        return MaskKind.GENERIC
    if category is DataCategory.IDENTIFIER:
        return _SCHEME_KINDS.get(str(getattr(record, "scheme", "")), MaskKind.GENERIC)
    if category is DataCategory.LOCATION:
        return MaskKind.FULL if isinstance(record, Address) else MaskKind.ADDRESS
    if category is DataCategory.COMMUNICATION:
        return MaskKind.FULL
    return MaskKind.GENERIC


def mask_custom(
    values: CustomValues, personal: Callable[[str], bool] | None = None
) -> CustomValues:
    """Custom values masked for display: those of the fields ``personal`` names (every field
    when ``None``: without the definitions any value may be personal). Text is masked fully,
    a date keeps its year, numbers and truth values become ``"***"``."""
    changes: dict[str, object] = {}
    for name, value in values.items():
        if personal is not None and not personal(name):
            continue
        if isinstance(value, str):
            changes[name] = mask(value, MaskKind.FULL)
        elif isinstance(value, tuple):
            changes[name] = tuple(mask(v, MaskKind.FULL) for v in value)
        elif isinstance(value, date):
            changes[name] = date(value.year, 1, 1)
        else:
            changes[name] = "***"
    return values.replace(**changes) if changes else values


def _mask_personal(value: Any, kind: MaskKind) -> Any:
    if isinstance(value, CustomValues):
        return mask_custom(value)
    if value is None or isinstance(value, enum.Enum):
        return None  # an enum (gender) cannot keep a safe shape
    if isinstance(value, str):
        return mask(value, kind)
    if isinstance(value, tuple | list):
        masked = [_mask_personal(item, kind) for item in value]
        return tuple(masked) if isinstance(value, tuple) else masked
    if isinstance(value, datetime):
        return datetime(value.year, 1, 1, tzinfo=value.tzinfo)
    if isinstance(value, date):
        return date(value.year, 1, 1)
    return None  # enums (gender), numbers and anything else cannot keep a safe shape


_LEAVES: Final = frozenset({str, int, float, bool, type(None), datetime, date})


def _mask_nested(value: Any) -> Any:
    if type(value) in _LEAVES:
        return value
    if attrs.has(type(value)):
        return _mask_instance(value)
    if isinstance(value, tuple) and any(attrs.has(type(item)) for item in value):
        return tuple(_mask_nested(item) for item in value)
    return value


# Per record class, its init fields once: (name, alias, category of a personal field or None).
_Plan = tuple[tuple[str, str, "DataCategory | None"], ...]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        steps = []
        for field in attrs.fields(cls):
            if not field.init:
                continue
            info = field.metadata.get(PERSONAL_KEY)
            category = info.category if isinstance(info, PersonalInfo) else None
            steps.append((field.name, field.alias or field.name, category))
        plan = _PLANS[cls] = tuple(steps)
    return plan


def _mask_instance(record: Any) -> Any:
    changes: dict[str, Any] = {}
    for name, alias, category in _plan(type(record)):
        value = getattr(record, name)
        if category is not None:
            masked = _mask_personal(value, _kind_for(record, name, category))
        else:
            masked = _mask_nested(value)
        if masked is not value:
            changes[alias] = masked
    return attrs.evolve(record, **changes) if changes else record


def mask_record(record: T) -> T:
    """Return a copy of a custrec record with every personal field masked for display.

    Fields are masked by category (see :func:`custrec.model.records.personal_fields`): identity
    strings as names, phones and e-mails by their kind, identifiers by their scheme (resident
    id, credit code, passport, otherwise ``generic``), address parts fully, other location text
    as an address, free text fully. Dates keep only their year (January 1 of it); enums and
    numbers become ``None``. Nested records are masked too. Raises ``TypeError`` for a value
    that is not an attrs record.

    >>> from custrec.model.records import Contact
    >>> masked = mask_record(Contact(name="张三", phones=["+8613800138000"], title="CEO"))
    >>> masked.name, masked.phones, masked.title
    ('张*', ('+86138****8000',), 'CEO')
    """
    if not attrs.has(type(record)):
        raise TypeError(f"mask_record() needs an attrs record, not {type(record).__name__}")
    result: T = _mask_instance(record)
    return result


def mask_address(address: Address) -> Address:
    """Return ``address`` with district, street and postal code masked character for character.

    Province and city are kept (they are not personal on their own).

    >>> masked = mask_address(Address(city="北京", district="朝阳区", postal_code="100020"))
    >>> masked.city, masked.district, masked.postal_code
    ('北京', '***', '******')
    """
    if not isinstance(address, Address):
        raise TypeError("mask_address() needs a custrec.model.records.Address")
    return mask_record(address)
