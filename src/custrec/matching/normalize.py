"""Normalisation of names and addresses for duplicate detection (pure, deterministic).

Every function accepts any ``str`` and never raises on one (a non-str raises TypeError).

**fold** -- the base of every key: NFKC (full-width digits and letters become ASCII), case
folding, then every character that is not a letter, a digit or a combining mark is dropped
(punctuation, symbols, separators, whitespace, control and format characters such as zero-width
spaces; also variation selectors). CJK characters are letters and are kept. Idempotent.

>>> fold("ＺＨＡＮＧ  Wei-")
'zhangwei'
>>> fold("深圳市南山区 科技园（南区）")
'深圳市南山区科技园南区'

**org_name** -- an organisation name split into a comparable ``core`` and a ``region``:

1. NFKC and case folding, runs of whitespace collapsed.
2. A bracketed region anywhere -- ``（北京）``, ``(北京市)``, ``【上海】`` -- is taken out and
   becomes the region (the first one if there are several).
3. Repeatedly, from the end: trailing punctuation, a trailing bracket group whatever its
   content (``（筹）``, ``(有限合伙)``), a Chinese legal form (longest first: 股份有限公司,
   有限责任公司, 有限公司, 集团, 分公司, 合伙企业, 工作室, 个体工商户 ...) and an English legal
   form as a separate trailing word (co, ltd, limited, inc, incorporated, corp, corporation,
   llc, gmbh, plc, company, with or without dots and commas). A suffix is only stripped if
   a letter or digit remains, so ``"有限公司"`` alone is kept.
4. A leading province-level name (short or full form: 广东/广东省, 内蒙古/内蒙古自治区 ...) or
   big-city name (深圳/深圳市 ...) becomes the region, in short form, when at least two
   characters remain. A bracketed region wins: a different leading region then stays in the
   core (a same one is removed). Region names are recognised in simplified Chinese only;
   ``北京市场...`` is read as 北京 + 市场.
5. ``core`` is the :func:`fold` of what remains.

>>> org_name("北京字节跳动科技有限公司")
OrgName(core='字节跳动科技', region='北京')
>>> org_name("字节跳动科技（北京）有限公司")
OrgName(core='字节跳动科技', region='北京')
>>> org_name("华为技术股份有限公司")
OrgName(core='华为技术', region=None)
>>> org_name("Acme Co., Ltd.")
OrgName(core='acme', region=None)

**person_name** -- after NFKC and case folding, a name whose letters and digits are all CJK
(Han, kana, hangul) is one token: separators such as spaces and interpuncts (·, •, ‧, ・) are
removed and the character order is kept, since it carries meaning. Any other name is split into
tokens on whitespace, commas, hyphens, dots and interpuncts, *and* wherever a CJK run meets a
non-CJK run (``"李Lily"`` -> ``李``, ``lily``); each token is folded and empty ones are dropped.
The ``key`` is the tokens sorted and joined with one space, so word order does not matter.
``person_name(person_name(x).key) == person_name(x)``.

>>> person_name("ZHANG, Wei").key == person_name("wei zhang").key == "wei zhang"
True
>>> person_name("欧阳·娜娜")
PersonName(key='欧阳娜娜', tokens=('欧阳娜娜',))

**address_key** -- :func:`fold` of the non-empty parts joined; nothing else is rewritten.

>>> address_key("北京市朝阳区", None, "建国路８８号 ")
'北京市朝阳区建国路88号'
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import attrs

__all__ = ["OrgName", "PersonName", "address_key", "fold", "org_name", "person_name"]

# Enough for every input seen in practice: NFKC + casefold reaches a fixed point in one or two
# rounds (case folding can produce text that NFKC changes again, and dropping punctuation can
# bring a base letter next to a combining mark it composes with).
_MAX_ROUNDS: Final = 6


def _require_str(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")


# Fast paths. The CJK unified ideographs U+4E00..U+9FA5 (the GB 2312 / GBK block) are letters
# (Lo) without a decomposition, a case or a combining class, and ASCII has no decomposition
# either: text of ideographs and ASCII without capitals is its own NFKC and case fold (nothing
# composes across these characters), and text of ideographs, digits and a-z is its own fold.
# Each fast path gives exactly what the general code gives (tests/unit/matching/
# test_normalize.py compares them on random text).
_IDEOGRAPHS: Final = "\u4e00-\u9fa5"
_CASEFOLDED: Final = re.compile(f"[\\x00-\\x40\\x5b-\\x7f{_IDEOGRAPHS}]*")
_FOLDED: Final = re.compile(f"[0-9a-z{_IDEOGRAPHS}]*")
_SIMPLE_DROP: Final = re.compile(f"[^0-9a-z{_IDEOGRAPHS}]+")
_ONLY_IDEOGRAPHS: Final = re.compile(f"[{_IDEOGRAPHS}]+")
_SIMPLE_RUNS: Final = re.compile(f"[{_IDEOGRAPHS}]+|[0-9a-z]+")
_ASCII_FAST = True  # False only in the test of the fast paths


def _nfkc_casefold(text: str) -> str:
    if _CASEFOLDED.fullmatch(text):
        return text
    for _ in range(_MAX_ROUNDS):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        if folded == text:
            break
        text = folded
    return text


_ASCII_DROP: Final = re.compile(r"[^0-9a-z]+")


def _is_variation_selector(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"


def _keep_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category[0] in "LN":
        return True
    return category in ("Mn", "Mc") and not _is_variation_selector(ch)


def _drop_non_alnum(text: str) -> str:
    # ``text`` is case-folded: ASCII capitals do not occur
    if text.isascii():
        return _ASCII_DROP.sub("", text)
    if _CASEFOLDED.fullmatch(text):
        return _SIMPLE_DROP.sub("", text)
    return "".join(ch for ch in text if _keep_char(ch))


def fold(text: str) -> str:
    """Return ``text`` NFKC-normalised, case-folded, with only letters, digits and marks kept.

    Whitespace, punctuation, symbols, control and format characters are removed; CJK is
    kept. ``fold(fold(x)) == fold(x)``.
    """
    _require_str(text, "text")
    if _FOLDED.fullmatch(text):
        return text
    if _ASCII_FAST and text.isascii():
        return _ASCII_DROP.sub("", text.lower())  # ASCII: NFKC changes nothing, casefold = lower
    current = text
    for _ in range(_MAX_ROUNDS):
        folded = _drop_non_alnum(_nfkc_casefold(current))
        if folded == current:
            break
        current = folded
    return current


# --- organisations ------------------------------------------------------------------------------

# The 34 province-level divisions: short form -> full forms.
_PROVINCES: Final[dict[str, tuple[str, ...]]] = {
    "北京": ("北京市",),
    "天津": ("天津市",),
    "上海": ("上海市",),
    "重庆": ("重庆市",),
    "河北": ("河北省",),
    "山西": ("山西省",),
    "辽宁": ("辽宁省",),
    "吉林": ("吉林省",),
    "黑龙江": ("黑龙江省",),
    "江苏": ("江苏省",),
    "浙江": ("浙江省",),
    "安徽": ("安徽省",),
    "福建": ("福建省",),
    "江西": ("江西省",),
    "山东": ("山东省",),
    "河南": ("河南省",),
    "湖北": ("湖北省",),
    "湖南": ("湖南省",),
    "广东": ("广东省",),
    "海南": ("海南省",),
    "四川": ("四川省",),
    "贵州": ("贵州省",),
    "云南": ("云南省",),
    "陕西": ("陕西省",),
    "甘肃": ("甘肃省",),
    "青海": ("青海省",),
    "台湾": ("台湾省",),
    "内蒙古": ("内蒙古自治区",),
    "广西": ("广西壮族自治区", "广西自治区"),
    "西藏": ("西藏自治区",),
    "宁夏": ("宁夏回族自治区", "宁夏自治区"),
    "新疆": ("新疆维吾尔自治区", "新疆自治区"),
    "香港": ("香港特别行政区", "香港特区"),
    "澳门": ("澳门特别行政区", "澳门特区"),
}

# Big cities (provincial capitals and other large cities); the full form adds 市. Names that
# are also common words at the start of an organisation name (中山 as in 中山大学) are left out.
_CITIES: Final = (
    "深圳",
    "广州",
    "杭州",
    "苏州",
    "成都",
    "武汉",
    "南京",
    "西安",
    "青岛",
    "大连",
    "宁波",
    "厦门",
    "沈阳",
    "长沙",
    "郑州",
    "济南",
    "哈尔滨",
    "长春",
    "石家庄",
    "太原",
    "合肥",
    "福州",
    "南昌",
    "昆明",
    "贵阳",
    "南宁",
    "海口",
    "兰州",
    "西宁",
    "银川",
    "乌鲁木齐",
    "呼和浩特",
    "拉萨",
    "无锡",
    "东莞",
    "佛山",
    "珠海",
    "温州",
    "常州",
    "南通",
    "徐州",
    "烟台",
    "泉州",
    "绍兴",
    "嘉兴",
    "金华",
    "台州",
    "洛阳",
    "唐山",
    "惠州",
    "保定",
    "潍坊",
    "扬州",
    "三亚",
)


def _region_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for short, full in _PROVINCES.items():
        forms[short] = short
        forms.update(dict.fromkeys(full, short))
    for city in _CITIES:
        forms[city] = city
        forms[city + "市"] = city
    return forms


_REGION_OF: Final = _region_forms()
_REGION_FORMS_LONGEST_FIRST: Final = tuple(sorted(_REGION_OF, key=len, reverse=True))
# The same forms by their first character, longest first: the only ones a text can start with.
_REGION_FORMS_BY_FIRST: Final[dict[str, tuple[str, ...]]] = {
    first: tuple(f for f in _REGION_FORMS_LONGEST_FIRST if f[0] == first)
    for first in {f[0] for f in _REGION_FORMS_LONGEST_FIRST}
}

_CJK_LEGAL_FORMS: Final = tuple(
    sorted(
        (
            "集团股份有限公司",
            "集团有限公司",
            "股份有限公司",
            "有限责任公司",
            "有限公司",
            "股份公司",
            "集团公司",
            "总公司",
            "分公司",
            "公司",
            "集团",
            "合伙企业",
            "有限合伙",
            "普通合伙",
            "工作室",
            "个体工商户",
            "个体户",
        ),
        key=len,
        reverse=True,
    )
)

# A trailing English legal form: a whole word (not preceded by a Latin letter or digit).
_EN_LEGAL_FORM: Final = re.compile(
    r"(?<![0-9a-z\u00c0-\u024f])"
    r"(?:co|ltd|limited|inc|incorporated|corp|corporation|llc|l\.l\.c|gmbh|plc|company)$"
)
_OPEN: Final = "([【〔〖{"
_CLOSE: Final = ")]】〕〗}"
_BRACKETS: Final = _OPEN + _CLOSE
# An innermost bracket group, whatever the kinds of its brackets.
_BRACKET_GROUP: Final = re.compile(
    f"[{re.escape(_OPEN)}]([^{re.escape(_BRACKETS)}]*)[{re.escape(_CLOSE)}]"
)
_TRAILING_GROUP: Final = re.compile(_BRACKET_GROUP.pattern + r"$")
_SPACE_RUN: Final = re.compile(r"\s+")


@attrs.frozen
class OrgName:
    """An organisation name reduced for matching by :func:`org_name`.

    ``core`` is folded (see :func:`fold`) and may be empty; ``region`` is the short form of a
    province-level or big-city name (``"北京"``), or None.
    """

    core: str
    region: str | None


def _has_alnum(text: str) -> bool:
    return bool(fold(text))


def _strip_legal_form(text: str) -> str:
    for suffix in _CJK_LEGAL_FORMS:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    match = _EN_LEGAL_FORM.search(text)
    if match is not None:
        return text[: match.start()]
    return text


def _bracket_region(content: str) -> str | None:
    content = content.strip()
    # "（北京分公司）" names a region too.
    for _ in range(_MAX_ROUNDS):
        stripped = _strip_legal_form(content).strip()
        if stripped == content or not stripped:
            break
        content = stripped
    return _REGION_OF.get(content)


def _rstrip_punctuation(text: str) -> str:
    end = len(text)
    while end and text[end - 1] not in _CLOSE and not _keep_char(text[end - 1]):
        end -= 1
    return text[:end]


def _strip_trailing(text: str) -> str:
    """Strip trailing punctuation, bracket groups and legal forms while something remains."""
    while True:
        text = _rstrip_punctuation(text)
        group = _TRAILING_GROUP.search(text)
        if group is not None:
            shorter = text[: group.start()]
        elif text.endswith(tuple(_CLOSE)):
            shorter = text[:-1]  # an unbalanced closing bracket
        else:
            shorter = _strip_legal_form(text)
        if shorter == text or not _has_alnum(shorter):
            return text
        text = shorter


def org_name(name: str) -> OrgName:
    """Split an organisation name into a folded ``core`` and an optional ``region``.

    Legal forms and trailing bracket groups are removed; a bracketed or leading region name
    moves to ``region``. See the module docstring for the exact rules.
    """
    _require_str(name, "name")
    text = _SPACE_RUN.sub(" ", _nfkc_casefold(name)).strip()
    region: str | None = None

    def take_region(group: re.Match[str]) -> str:
        nonlocal region
        found = _bracket_region(group.group(1))
        if found is None:
            return group.group(0)
        if region is None:
            region = found
        return " "

    text = _BRACKET_GROUP.sub(take_region, text)
    text = _strip_trailing(text.strip())
    text = text.lstrip()
    for form in _REGION_FORMS_BY_FIRST.get(text[:1], ()):
        if text.startswith(form) and not (form.endswith("市") and text[len(form) :][:1] == "场"):
            leading = _REGION_OF[form]
            rest = text[len(form) :]
            if len(fold(rest)) >= 2 and region in (None, leading):
                region = leading
                text = rest
            break
    return OrgName(core=fold(text), region=region)


# --- people ---------------------------------------------------------------------------------------

_CJK_RANGES: Final = (
    ("\u1100", "\u11ff"),  # Hangul Jamo
    ("\u2e80", "\u2fdf"),  # CJK radicals, Kangxi radicals
    ("\u3005", "\u3007"),  # 々 〆 〇
    ("\u3021", "\u3029"),  # Hangzhou numerals
    ("\u3031", "\u3035"),  # kana repeat marks
    ("\u3038", "\u303c"),
    ("\u3040", "\u30ff"),  # Hiragana, Katakana
    ("\u3100", "\u312f"),  # Bopomofo
    ("\u3130", "\u318f"),  # Hangul compatibility Jamo
    ("\u31a0", "\u31bf"),  # Bopomofo extended
    ("\u31f0", "\u31ff"),  # Katakana phonetic extensions
    ("\u3400", "\u4dbf"),  # CJK extension A
    ("\u4e00", "\u9fff"),  # CJK unified ideographs
    ("\ua960", "\ua97f"),  # Hangul Jamo extended-A
    ("\uac00", "\ud7ff"),  # Hangul syllables, Jamo extended-B
    ("\uf900", "\ufaff"),  # CJK compatibility ideographs
    ("\U00020000", "\U0003ffff"),  # CJK extensions B and later
)


_CJK_CHAR: Final = re.compile(
    "[" + "".join(f"{re.escape(lo)}-{re.escape(hi)}" for lo, hi in _CJK_RANGES) + "]"
)


def _is_cjk(ch: str) -> bool:
    return _CJK_CHAR.match(ch) is not None


# Whitespace, commas (incl. 、), hyphens and dashes, dots (incl. 。) and interpuncts.
_NAME_SEPARATORS: Final = re.compile(
    r"[\s,、;;\-\u2010-\u2015\u2212\u30fc.。\u00b7\u2022\u2027\u2219\u22c5\u30fb]+"
)


@attrs.frozen
class PersonName:
    """A person's name reduced for matching by :func:`person_name`.

    ``tokens`` are the folded name parts in input order; ``key`` is them sorted and joined with
    one space (a purely CJK name is a single token). Equality and hashing use ``key`` only, so
    the same words in another order give equal ``PersonName`` values.
    """

    key: str
    tokens: tuple[str, ...] = attrs.field(eq=False)


def _script_runs(part: str) -> list[str]:
    if _CJK_CHAR.search(part) is None:
        return [part]
    if _FOLDED.fullmatch(part):  # letters and digits only: the runs are the script runs
        return _SIMPLE_RUNS.findall(part)
    runs: list[str] = []
    current: list[str] = []
    current_cjk: bool | None = None
    for ch in part:
        if _keep_char(ch):
            cjk = _is_cjk(ch)
            if current_cjk is not None and cjk != current_cjk:
                runs.append("".join(current))
                current = []
            current_cjk = cjk
        current.append(ch)
    runs.append("".join(current))
    return runs


def person_name(name: str) -> PersonName:
    """Reduce a person's name to order-independent ``tokens`` and a ``key``.

    A name written only in CJK is one token with separators removed (``"欧阳 娜娜"`` ->
    ``"欧阳娜娜"``); other names are split into words (``"ZHANG, Wei"`` -> ``"wei zhang"``).
    See the module docstring for the exact rules.
    """
    _require_str(name, "name")
    if _ONLY_IDEOGRAPHS.fullmatch(name):  # its own fold, one token
        return PersonName(key=name, tokens=(name,))
    text = _nfkc_casefold(name)
    if _FOLDED.fullmatch(text):  # letters and digits only: no separator, its runs are tokens
        tokens = tuple(_SIMPLE_RUNS.findall(text))
        return PersonName(key=" ".join(sorted(tokens)), tokens=tokens)
    meaningful = [ch for ch in text if _keep_char(ch)]
    if meaningful and all(map(_is_cjk, meaningful)):
        whole = fold(text)
        return PersonName(key=whole, tokens=(whole,))
    tokens = tuple(
        token
        for part in _NAME_SEPARATORS.split(text)
        for run in _script_runs(part)
        if (token := fold(run))
    )
    return PersonName(key=" ".join(sorted(tokens)), tokens=tokens)


# --- addresses ------------------------------------------------------------------------------------


def address_key(*parts: str | None) -> str:
    """Return :func:`fold` of the non-empty ``parts`` joined: a key for comparing addresses.

    None and empty parts are skipped; no other rewriting (abbreviations, numerals) is done.
    """
    for part in parts:
        if part is not None:
            _require_str(part, "address part")
    return fold(" ".join(part for part in parts if part))
