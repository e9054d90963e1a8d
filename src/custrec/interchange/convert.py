"""Value converters for legacy cells: dates, numbers, money, booleans, lists.

Each converter takes the text of one cell and returns a typed value or raises
:class:`ConversionError` (a ``ValueError``) with a stable ``code`` and a message that never
repeats the value. They never raise anything else for a string, whatever it holds. Text is
NFKC-normalised first, so full-width digits, signs and currency symbols (``１２３``, ``￥``,
``，``) read as their ASCII forms.

>>> parse_money("￥1,250,000.00")
(Decimal('1250000.00'), 'CNY')
>>> parse_money("1.5万元"), parse_money("(USD 1,200)")
((Decimal('15000.0'), 'CNY'), (Decimal('-1200'), 'USD'))
>>> parse_decimal("1.234,5", thousands=".", decimal=",")
Decimal('1234.5')
>>> parse_date("2023年5月6日"), parse_date("06/05/2023", formats=("%d/%m/%Y",))
(datetime.date(2023, 5, 6), datetime.date(2023, 5, 6))
>>> parse_bool("是"), split_values("重点；华北、 VIP")
(True, ['重点', '华北', 'VIP'])
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from custrec._text import clean, nfkc
from custrec.errors import ConversionError
from custrec.validation import currency

__all__ = [
    "DEFAULT_DATE_FORMATS",
    "DEFAULT_NULLS",
    "DEFAULT_SEPARATORS",
    "ConversionError",
    "is_null",
    "parse_bool",
    "parse_currency",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_json",
    "parse_money",
    "parse_timezone",
    "split_values",
]

DEFAULT_NULLS: Final = ("", "-", "--", "—", "n/a", "na", "null", "none", "nil", "#n/a", "无", "空")
"""Cell texts that mean "no value" (compared after NFKC, trimming and case folding)."""

DEFAULT_DATE_FORMATS: Final = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
"""Date formats tried, in order, when a column names none (``strptime`` syntax)."""

DEFAULT_SEPARATORS: Final = ";,、|\n"
"""Characters that split a cell into several values for list fields (after NFKC, so the
full-width ``；`` and ``，`` count too)."""

_EXCEL_EPOCH: Final = date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug folded in)
_MAX_TEXT: Final = 200  # longer cells are not numbers or dates

# Currency words and symbols an amount may carry (the aliases of custrec.validation.currency
# and six codes), longest first so that "US$" wins over "$".
_CURRENCIES: Final = tuple(
    sorted(
        {
            **{code: code for code in ("CNY", "USD", "EUR", "GBP", "HKD", "JPY")},
            **currency.ALIASES,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
_TOKEN_HEADS: Final = frozenset(token[0] for token, _ in _CURRENCIES)
_TOKEN_TAILS: Final = frozenset(token[-1] for token, _ in _CURRENCIES)
_MULTIPLIERS: Final = (("亿", Decimal(100_000_000)), ("万", Decimal(10_000)))
_TRUE: Final = frozenset({"是", "y", "yes", "true", "t", "1", "对", "√", "✓", "有", "on"})
_FALSE: Final = frozenset({"否", "n", "no", "false", "f", "0", "错", "×", "✗", "off"})
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_OFFSET: Final = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?")
_ZONE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,29}(?:/[A-Za-z0-9_+-]{1,30}){0,2}")


def _text(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise ConversionError("value.type", f"expected text for a {what}")
    text = clean(value)
    if len(text) > _MAX_TEXT:
        raise ConversionError("value.too_long", f"too long for a {what}")
    return text


def is_null(value: object, nulls: Iterable[str] = DEFAULT_NULLS) -> bool:
    """Whether a cell holds no value: ``None``, or text in ``nulls`` (NFKC, trimmed, case folded).

    >>> is_null("  N/A "), is_null("无"), is_null("0")
    (True, True, False)
    """
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    # ASCII text: what clean() and casefold() give it, without NFKC (which leaves it as is)
    key = " ".join(value.split()).lower() if value.isascii() else clean(value).casefold()
    return key == "" or key in nulls


@cache
def _iso_first(formats: tuple[str, ...]) -> bool:
    """Whether ``%Y-%m-%d`` comes before any other format with dashes."""
    dashed = [f for f in formats if "-" in f]
    return bool(dashed) and dashed[0] == "%Y-%m-%d"


_NUMERIC_FIELDS: Final = {"%Y": "([0-9]{4})", "%m": "([0-9]{1,2})", "%d": "([0-9]{1,2})"}


@cache
def _numeric_date(fmt: str) -> tuple[re.Pattern[str], tuple[int, int, int]] | None:
    """For a format of ``%Y``, ``%m`` and ``%d`` once each, apart by literals without a
    digit, space or ``%`` (``%Y/%m/%d``, ``%Y年%m月%d日``): a pattern of ASCII digits that
    ``strptime`` reads the same way, and the group of the year, month and day. ``None`` for
    any other format (``strptime`` reads it alone)."""
    parts = re.split("(%.)", fmt)  # literal, directive, literal, ...
    directives = parts[1::2]
    if sorted(directives) != ["%Y", "%d", "%m"] or any(not lit for lit in parts[2:-1:2]):
        return None
    if any("%" in lit or any(c.isdigit() or c.isspace() for c in lit) for lit in parts[::2]):
        return None
    source = "".join(
        _NUMERIC_FIELDS[part] if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    group = {directive: n + 1 for n, directive in enumerate(directives)}
    return re.compile(source), (group["%Y"], group["%m"], group["%d"])


def parse_date(value: str, *, formats: Sequence[str] = ()) -> date:
    """Parse a date with the first matching format (default :data:`DEFAULT_DATE_FORMATS`).

    The format ``"excel"`` reads spreadsheet serial day numbers (``45000`` is 2023-03-15). A
    date-time in ISO 8601 form gives its date. Raises :class:`ConversionError`
    (``date.format``).
    """
    text = _text(value, "date")
    chosen = tuple(formats) or DEFAULT_DATE_FORMATS
    if _ISO_DATE.fullmatch(text) and _iso_first(chosen):  # much faster than strptime
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConversionError("date.format", "not a date in the expected formats") from None
    for fmt in chosen:
        if fmt == "excel":
            if text.isdigit() and 1 <= len(text) <= 6:
                return _EXCEL_EPOCH + timedelta(days=int(text))
            continue
        numeric = _numeric_date(fmt)
        if numeric is not None:
            pattern, (year, month, day) = numeric
            found = pattern.fullmatch(text)
            if found is not None:  # ASCII digits strptime would read the same way
                try:
                    return date(int(found[year]), int(found[month]), int(found[day]))
                except ValueError:
                    continue  # no such day (strptime fails on it too)
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        pass
    raise ConversionError("date.format", "not a date in the expected formats")


def parse_timezone(value: str) -> tzinfo:
    """Parse ``UTC``, a fixed offset such as ``+08:00`` / ``UTC+8``, or an IANA time zone name
    such as ``Asia/Shanghai`` or ``Europe/Berlin`` (any case; read through :mod:`zoneinfo`,
    so summer time is applied where the zone has it).

    >>> parse_timezone("+08:00")
    datetime.timezone(datetime.timedelta(seconds=28800))
    >>> parse_timezone("europe/berlin")
    zoneinfo.ZoneInfo(key='Europe/Berlin')

    Raises :class:`ConversionError` (``timezone.format``) for anything else, without repeating
    the value.
    """
    raw = clean(value) if isinstance(value, str) else ""
    text = raw.upper()
    if text in ("UTC", "Z", "GMT"):
        return UTC
    match = _OFFSET.fullmatch(text)
    if match is not None:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta >= timedelta(hours=24):
            raise ConversionError("timezone.format", "an offset must be less than 24 hours")
        return timezone(-delta if sign == "-" else delta)
    zone = _zone(raw) if _ZONE_NAME.fullmatch(raw) else None
    if zone is None:
        raise ConversionError(
            "timezone.format",
            "expected UTC, an offset such as +08:00 or a time zone name such as Asia/Shanghai",
        )
    return zone


def _zone(name: str) -> ZoneInfo | None:
    """The IANA zone called ``name`` (its exact key, else the one key equal in any case)."""
    for key in (name, _zone_keys().get(name.casefold())):
        if key is None:
            continue
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return None


@cache
def _zone_keys() -> dict[str, str]:
    return {key.casefold(): key for key in available_timezones()}


def parse_datetime(value: str, *, formats: Sequence[str] = (), tz: tzinfo = UTC) -> datetime:
    """Parse a date-time; a value without a time zone is taken to be local time in ``tz``.

    ``formats`` are ``strptime`` formats tried before ISO 8601; a plain date means the start of
    that day. Returns an aware UTC datetime.

    Where ``tz`` changes its offset (summer time), a local time that occurs twice (the hour
    repeated when clocks go back) is read as the *first* of the two instants, and a local time
    that never occurs (the hour skipped when clocks go forward) is refused with
    ``datetime.nonexistent``; a plain date whose midnight is skipped means the first instant of
    the day. Raises :class:`ConversionError` (``datetime.format``, ``datetime.nonexistent``).

    >>> from zoneinfo import ZoneInfo
    >>> berlin = ZoneInfo("Europe/Berlin")
    >>> parse_datetime("2024-10-27 02:30", tz=berlin).isoformat()  # twice that night: the first
    '2024-10-27T00:30:00+00:00'
    >>> parse_datetime("2024-03-31 02:30", tz=berlin)
    Traceback (most recent call last):
    ...
    custrec.errors.ConversionError: that local time was skipped (clocks moved forward)
    """
    text = _text(value, "date-time")
    parsed: datetime | None = None
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = datetime.combine(parse_date(text), datetime.min.time())
            except ConversionError:
                raise ConversionError(
                    "datetime.format", "not a date-time in the expected formats"
                ) from None
    # a date without a time of day: no colon, no "T", and midnight
    plain_date = ":" not in text and "T" not in text.upper() and parsed.time() == time()
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        local = parsed.replace(tzinfo=None)
        parsed = local.replace(tzinfo=tz, fold=0)
        if not plain_date and not _exists(parsed, tz):
            raise ConversionError(
                "datetime.nonexistent",
                "that local time was skipped (clocks moved forward)",
            )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ConversionError("datetime.format", "the date-time is out of range") from None


def _exists(local: datetime, tz: tzinfo) -> bool:
    """Whether the aware ``local`` time names a real instant in ``tz`` (not one in a gap)."""
    if isinstance(tz, timezone):  # a fixed offset has no gaps
        return True
    try:
        back = local.astimezone(UTC).astimezone(tz)
    except OverflowError:
        return True  # at the edges of the calendar: left to the conversion to refuse
    return back.replace(tzinfo=None, fold=0) == local.replace(tzinfo=None, fold=0)


@cache
def _number_pattern(thousands: str, decimal: str) -> re.Pattern[str]:
    group = re.escape(thousands)
    point = re.escape(decimal)
    grouped = rf"\d{{1,3}}(?:{group}\d{{3}})+" if thousands else r"(?!)"
    return re.compile(rf"(?:{grouped}|\d+)(?:{point}\d+)?|{point}\d+")


def _check_separators(thousands: str, decimal: str) -> None:
    if not isinstance(decimal, str) or len(decimal) != 1 or decimal.isdigit():
        raise ValueError("decimal must be one non-digit character")
    if not isinstance(thousands, str) or len(thousands) > 1 or thousands.isdigit():
        raise ValueError("thousands must be empty or one non-digit character")
    if thousands == decimal:
        raise ValueError("thousands and decimal separators must differ")


def _strip_sign(text: str) -> tuple[str, bool]:
    negative = False
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        text, negative = text[1:-1].strip(), True
    if text and text[0] in "+-":
        negative ^= text[0] == "-"
        text = text[1:].strip()
    elif text[-1:] == "-":  # accounting style: 100-
        text, negative = text[:-1].strip(), not negative
    return text, negative


@lru_cache(maxsize=1024)
def _tokens_at(head: str, tail: str) -> tuple[tuple[str, str], ...]:
    """The tokens a text beginning with ``head`` or ending with ``tail`` may carry, in the
    order of :data:`_CURRENCIES` (longest first)."""
    return tuple(item for item in _CURRENCIES if item[0][0] == head or item[0][-1] == tail)


def _strip_currency(text: str) -> tuple[str, str | None]:
    found: str | None = None
    changed = True
    while changed and text:
        changed = False
        upper = text.upper()  # ``text`` changes only when a token is found (then: break)
        if upper[0] not in _TOKEN_HEADS and upper[-1] not in _TOKEN_TAILS:
            break  # no token begins or ends it (most amounts)
        for token, code in _tokens_at(upper[0], upper[-1]):
            if upper.startswith(token):
                text, changed = text[len(token) :].strip(), True
            elif upper.endswith(token):
                text, changed = text[: -len(token)].strip(), True
            else:
                continue
            if found is not None and found != code:
                raise ConversionError("money.currency", "two different currencies in one value")
            found = code
            break
    return text, found


def _number(text: str, thousands: str, decimal: str, what: str) -> Decimal:
    text, negative = _strip_sign(text)
    factor = Decimal(1)
    for suffix, value in _MULTIPLIERS:
        if text.endswith(suffix):
            text, factor = text[: -len(suffix)].strip(), value
            break
    text = re.sub(r"\s+", "", text)
    if thousands and thousands != " ":
        text = text.replace(" ", "")
    if not text or _number_pattern(thousands, decimal).fullmatch(text) is None:
        raise ConversionError(
            f"{what}.format", f"not a {'sum of money' if what == 'money' else 'number'}"
        )
    digits = text.replace(thousands, "") if thousands else text
    if decimal != ".":
        digits = digits.replace(decimal, ".")
    try:
        number = Decimal(digits) * factor if factor != 1 else Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ConversionError(f"{what}.format", "not a number") from None
    return -number if negative else number


def parse_decimal(value: str, *, thousands: str = ",", decimal: str = ".") -> Decimal:
    """Parse a number with optional thousands separators, sign, parentheses for negatives and a
    ``万`` (10^4) or ``亿`` (10^8) multiplier. Raises :class:`ConversionError`
    (``number.format``); ``ValueError`` for bad separators."""
    _check_separators(thousands, decimal)
    return _number(_text(value, "number"), thousands, decimal, "number")


def parse_int(value: str, *, thousands: str = ",") -> int:
    """Parse a whole number (separators allowed, no fraction). Raises :class:`ConversionError`."""
    number = parse_decimal(value, thousands=thousands, decimal="." if thousands != "." else ",")
    if number != number.to_integral_value():
        raise ConversionError("number.format", "not a whole number")
    return int(number)


def parse_money(
    value: str, *, currency: str = "CNY", thousands: str = ",", decimal: str = "."
) -> tuple[Decimal, str]:
    """Parse a sum of money: ``(amount, ISO 4217 code)``.

    Currency symbols and codes before or after the number are recognised (``¥``, ``元``,
    ``RMB``, ``$``, ``US$``, ``€``, ``£``, ``HK$``, ...; ``¥`` is read as CNY); without one the
    amount is in ``currency``. Separators, signs, parentheses and multipliers as for
    :func:`parse_decimal`. Raises :class:`ConversionError` (``money.format``,
    ``money.currency``).
    """
    _check_separators(thousands, decimal)
    text, found = _strip_currency(_text(value, "sum of money"))
    sign, negative = _strip_sign(text)
    sign, inner = _strip_currency(sign)
    if inner is not None:
        if found is not None and inner != found:
            raise ConversionError("money.currency", "two different currencies in one value")
        found = inner
    text = f"-{sign}" if negative else sign
    return _number(text, thousands, decimal, "money"), found or currency


def parse_currency(value: str) -> str:
    """Parse a currency cell: an ISO 4217 code in any case (``CNY``, ``usd``), or a name or
    symbol legacy files write for one (``RMB``, ``人民币``, ``¥``, ``US$``, ``港币``, ...; see
    :data:`custrec.validation.currency.ALIASES`): the ISO code (``RMB`` is ``CNY``). Anything
    else, ``ABC`` or a withdrawn code, raises :class:`ConversionError` (``money.currency``)."""
    text = _text(value, "currency")
    code = currency.code_for(text)
    if code is None:
        raise ConversionError("money.currency", currency.problem(text) or "not a currency")
    return code


def parse_bool(value: str) -> bool:
    """Parse yes/no in Chinese or English (``是``/``否``, ``yes``/``no``, ``true``/``false``,
    ``1``/``0``, ``√``/``×``). Raises :class:`ConversionError` (``bool.format``)."""
    key = _text(value, "yes/no value").casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ConversionError("bool.format", "expected yes or no")


def split_values(value: str, separators: str = DEFAULT_SEPARATORS) -> list[str]:
    """Split a cell into values on any of ``separators`` (after NFKC); blanks are dropped."""
    if not isinstance(value, str):
        raise ConversionError("value.type", "expected text")
    text = nfkc(value)
    if separators:
        text = re.sub("[" + re.escape(separators) + "]", "\x1f", text)
    return [part for part in (clean(p) for p in text.split("\x1f")) if part]


def parse_json(value: str) -> Any:
    """Parse a cell holding JSON (how CSV exports store lists of contacts, addresses and
    identifiers). Raises :class:`ConversionError` (``json.format``)."""
    if not isinstance(value, str):
        raise ConversionError("value.type", "expected text")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise ConversionError("json.format", "not valid JSON") from None
