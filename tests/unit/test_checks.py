"""custrec._checks: the one home of the argument checks, and a guard against new copies.

Each factory raises ``TypeError`` for a wrong type and ``ValueError`` for a wrong value, names
the field or argument and never repeats the value. The last tests walk ``src/custrec`` and fail
when a hand-written positive-integer or aware-datetime check appears outside the places listed
in :data:`ALLOWED`.
"""

from __future__ import annotations

import ast
import enum
import math
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec._checks import (
    Validator,
    aware,
    calendar_date,
    check,
    int_range,
    integer,
    member_of,
    non_empty_text,
    number_range,
    optional,
    positive_int,
    positive_number,
    require_aware,
    storable_text,
    unique_items,
)

NOT_INTS = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none(),
    st.decimals(allow_nan=False),
)
NOT_NUMBERS = st.one_of(st.booleans(), st.text(max_size=5), st.none(), st.decimals())


def raises(
    validator: Validator, value: object, error: type[Exception], message: str, name: str = "x"
) -> None:
    """``validator`` refuses ``value`` with exactly ``error(message)``."""
    with pytest.raises(error) as caught:
        check(name, value, validator)
    assert type(caught.value) is error
    assert str(caught.value) == message


# ------------------------------------------------------------------------------ integers


@given(st.integers(min_value=1))
def test_positive_int_accepts_every_int_of_at_least_one(value: int) -> None:
    assert check("limit", value, positive_int()) == value


@given(st.integers(max_value=0))
def test_positive_int_refuses_zero_and_negatives(value: int) -> None:
    raises(positive_int(), value, ValueError, "limit must be a positive integer", "limit")


@given(NOT_INTS)
def test_positive_int_refuses_bools_floats_and_other_types(value: object) -> None:
    expected = f"limit must be a positive integer, not {type(value).__name__}"
    raises(positive_int(), value, TypeError, expected, "limit")


@given(st.integers(min_value=1, max_value=50))
def test_positive_int_at_most(value: int) -> None:
    validator = positive_int(at_most=20)
    if value <= 20:
        assert check("n", value, validator) == value
    else:
        raises(validator, value, ValueError, "n must be at most 20", "n")


@given(st.integers(), st.integers(min_value=-5, max_value=5), st.integers(min_value=0, max_value=5))
def test_int_range_is_inclusive(value: int, low: int, width: int) -> None:
    high = low + width
    if low <= value <= high:
        assert check("r", value, int_range(low, high)) == value
    else:
        raises(
            int_range(low, high),
            value,
            ValueError,
            f"r must be an integer from {low} to {high}",
            "r",
        )
    if value >= low:
        assert check("r", value, int_range(low)) == value
    else:
        wrong = "a non-negative integer" if low == 0 else f"an integer of at least {low}"
        raises(int_range(low), value, ValueError, f"r must be {wrong}", "r")


@given(NOT_INTS)
def test_int_range_and_integer_refuse_other_types(value: object) -> None:
    expected = f"n must be an integer, not {type(value).__name__}"
    raises(int_range(0), value, TypeError, expected, "n")
    raises(int_range(1, 3), value, TypeError, expected, "n")
    raises(integer(), value, TypeError, expected, "n")


@given(st.integers())
def test_integer_accepts_any_int(value: int) -> None:
    assert check("seed", value, integer()) == value


# ------------------------------------------------------------------------------- numbers


@given(st.one_of(st.floats(min_value=0, max_value=1), st.sampled_from([0, 1])))
def test_number_range_accepts_ints_and_floats_within(value: float) -> None:
    assert check("share", value, number_range(0, 1)) == value


@given(
    st.one_of(st.floats(allow_nan=True).filter(lambda v: not 0 <= v <= 1), st.integers(min_value=2))
)
def test_number_range_refuses_values_outside_and_nan(value: float) -> None:
    raises(number_range(0, 1), value, ValueError, "share must be a number from 0 to 1", "share")


@given(NOT_NUMBERS)
def test_numbers_refuse_bools_and_other_types(value: object) -> None:
    expected = f"days must be a number, not {type(value).__name__}"
    raises(number_range(0, 1), value, TypeError, expected, "days")
    raises(positive_number(), value, TypeError, expected, "days")


@given(st.one_of(st.floats(min_value=1e-300, allow_infinity=False), st.integers(min_value=1)))
def test_positive_number_accepts_finite_positive_numbers(value: float) -> None:
    assert check("days", value, positive_number()) == value


@pytest.mark.parametrize("value", [0, 0.0, -1, -0.5, math.inf, -math.inf, math.nan])
def test_positive_number_refuses_zero_negatives_and_non_finite(value: float) -> None:
    raises(positive_number(), value, ValueError, "days must be a positive, finite number", "days")


# ------------------------------------------------------------------------------ instants


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: the datetime is naive for Python."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_aware_accepts_every_aware_datetime(value: datetime, minutes: int) -> None:
    moved = value.astimezone(timezone(timedelta(minutes=minutes)))
    assert check("at", moved, aware()) is moved
    assert require_aware(moved, "at") is moved


@given(st.datetimes())
def test_aware_refuses_naive_datetimes(value: datetime) -> None:
    expected = "at must be timezone-aware (a naive datetime is ambiguous)"
    raises(aware(), value, ValueError, expected, "at")
    raises(aware(), value.replace(tzinfo=_NoOffset()), ValueError, expected, "at")
    with pytest.raises(ValueError, match=re.escape(expected)):
        require_aware(value, "at")


@pytest.mark.parametrize(
    "value", [date(2025, 1, 1), "2025-01-01T00:00:00+00:00", 1735689600, None, True]
)
def test_aware_refuses_other_types(value: object) -> None:
    expected = f"at must be a timezone-aware datetime, not {type(value).__name__}"
    raises(aware(), value, TypeError, expected, "at")
    with pytest.raises(TypeError, match=re.escape(expected)):
        require_aware(value, "at")


def test_calendar_date_accepts_dates_only() -> None:
    assert check("born", date(2000, 2, 29), calendar_date()) == date(2000, 2, 29)
    raises(
        calendar_date(),
        datetime(2000, 2, 29),
        TypeError,
        "born must be a date, not datetime",
        "born",
    )
    raises(calendar_date(), "2000-02-29", TypeError, "born must be a date, not str", "born")


# ---------------------------------------------------------------------------------- text


@given(st.text().filter(lambda s: s.strip()))
def test_non_empty_text_accepts_text_with_something_in_it(value: str) -> None:
    assert check("title", value, non_empty_text()) == value


@given(st.text(alphabet=" \t\n\r\u3000\xa0", max_size=5))
def test_non_empty_text_refuses_blank_text(value: str) -> None:
    raises(non_empty_text(), value, ValueError, "title must not be blank", "title")


@pytest.mark.parametrize("value", [None, b"title", 1, ["title"]])
def test_text_checks_refuse_other_types(value: object) -> None:
    expected = f"title must be a string, not {type(value).__name__}"
    raises(non_empty_text(), value, TypeError, expected, "title")
    raises(storable_text(), value, TypeError, expected, "title")


@pytest.mark.parametrize("value", ["secret\x00", "secret\ud800"])
def test_storable_text_refuses_nul_and_lone_surrogates_without_repeating_them(value: str) -> None:
    expected = "reason must not hold a lone surrogate or NUL"
    raises(storable_text(), value, ValueError, expected, "reason")
    assert check("reason", "", storable_text()) == ""  # blank is storable


# ------------------------------------------------------------------------- other values


class Colour(enum.Enum):
    RED = "red"


def test_member_of_wants_a_member_not_its_value() -> None:
    assert check("colour", Colour.RED, member_of(Colour)) is Colour.RED
    raises(member_of(Colour), "red", TypeError, "colour must be a Colour, not str", "colour")


@given(st.lists(st.integers(max_value=20), max_size=8))
def test_unique_items(items: list[int]) -> None:
    value = tuple(items)
    if len(set(value)) == len(value):
        assert check("codes", value, unique_items()) == value
    else:
        raises(unique_items(), value, ValueError, "codes must not repeat an item", "codes")


def test_optional_lets_none_through_and_checks_the_rest() -> None:
    assert check("limit", None, optional(positive_int())) is None
    raises(optional(positive_int()), 0, ValueError, "limit must be a positive integer", "limit")


@attrs.frozen
class _Example:
    at: datetime = attrs.field(validator=aware())
    count: int = attrs.field(default=0, validator=int_range(0))
    title: str | None = attrs.field(default=None, validator=optional(non_empty_text()))


def test_on_an_attrs_field_the_message_names_the_field() -> None:
    _Example(at=datetime(2025, 1, 1, tzinfo=UTC), count=3, title="x")
    with pytest.raises(ValueError, match=r"^at must be timezone-aware"):
        _Example(at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match=r"^count must be a non-negative integer$"):
        _Example(at=datetime(2025, 1, 1, tzinfo=UTC), count=-1)
    with pytest.raises(TypeError, match=r"^title must be a string, not int$"):
        _Example(at=datetime(2025, 1, 1, tzinfo=UTC), title=1)  # type: ignore[arg-type]


@given(st.integers(max_value=-10))
def test_messages_never_repeat_the_value(value: int) -> None:
    for validator in (positive_int(), int_range(0), int_range(1, 5), positive_number()):
        with pytest.raises(ValueError, match=r"^n must be ") as caught:
            check("n", value, validator)
        assert str(value) not in str(caught.value)
        assert str(abs(value)) not in str(caught.value)


# ------------------------------------------------------------------- no hand-written copy

SRC = Path(__file__).parents[2] / "src" / "custrec"

EXCLUDED = ("_checks.py", "storage/checks.py", "backends/")
"""The checks themselves, and the storage protocol's own documented checks (limits, sequence
numbers, instants and amounts a backend is handed) with the backends that apply them."""

ALLOWED: dict[tuple[str, str, str], str] = {
    ("cli/_support.py", "_in_zone", "naive"): (
        "places a parsed --as-of in --zone; a naive value is local time there"
    ),
    ("interchange/convert.py", "parse_datetime", "naive"): (
        "parses an import cell; a naive value takes the mapping's time zone"
    ),
    ("interchange/_binding.py", "BoundMapping._convert", "bool-int"): (
        "turns a numeric spreadsheet cell into text before parsing; not a check"
    ),
    ("model/serialization.py", "_structure_datetime", "naive"): "decodes a stored date-time string",
    ("model/serialization.py", "_unstructure_datetime", "naive"): (
        "encodes a record's datetime; the record is data, not an argument"
    ),
    ("model/serialization.py", "_structure_int", "bool-int"): "structures a decoded JSON value",
    ("validation/_compiled.py", "_type_issues", "naive"): "reports record data as an Issue",
    ("validation/_compiled.py", "_type_issues", "bool-int"): "reports record data as an Issue",
    ("validation/rules.py", "_satisfaction_issue", "bool-int"): "reports record data as an Issue",
    ("quality.py", "_fresh", "naive"): "a predicate on record data (a naive value is not fresh)",
    ("grading/_common.py", "exact", "bool-int"): (
        "converts int, float, Decimal or Fraction to an exact Fraction (a converter)"
    ),
    ("security/audit.py", "_instant", "naive"): "canonical bytes of a stored audit entry",
    ("security/audit.py", "_seq", "bool-int"): "canonical bytes of a stored audit entry",
    ("security/audit.py", "Checkpoint.from_dict", "naive"): "parses a stored checkpoint",
    ("security/audit.py", "Checkpoint.from_dict", "bool-int"): "parses a stored checkpoint",
    ("security/audit.py", "AuditChain.verify", "bool-int"): (
        "reports where a malformed stored entry sits; never raises"
    ),
}
"""Data parsers and converters left alone on purpose: (module, function, kind) -> why."""


def _isinstance_target(node: ast.expr, wanted: str) -> str | None:
    """The target of ``[not] isinstance(target, T)`` when ``T`` names ``wanted``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and len(node.args) == 2
    ):
        return None
    if any(isinstance(n, ast.Name) and n.id == wanted for n in ast.walk(node.args[1])):
        return ast.dump(node.args[0])
    return None


def _is_none_check(node: ast.Compare) -> bool:
    """``x.tzinfo is None`` or ``x.utcoffset() is None``."""
    if not (
        len(node.ops) == 1
        and isinstance(node.ops[0], ast.Is)
        and isinstance(node.comparators[0], ast.Constant)
        and node.comparators[0].value is None
    ):
        return False
    left = node.left
    if isinstance(left, ast.Attribute):
        return left.attr == "tzinfo"
    return (
        isinstance(left, ast.Call)
        and isinstance(left.func, ast.Attribute)
        and left.func.attr == "utcoffset"
    )


def hand_written_checks(source: str) -> set[tuple[str, str]]:
    """(function, kind) of each hand-written check: ``bool-int`` for ``isinstance(x, bool)``
    combined with ``isinstance(x, int...)`` in one ``and``/``or``, ``naive`` for a
    ``tzinfo is None`` or ``utcoffset() is None`` test."""
    tree = ast.parse(source)
    found: set[tuple[str, str]] = set()

    def visit(node: ast.AST, scope: tuple[str, ...]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scope = (*scope, node.name)
        where = ".".join(scope) or "<module>"
        if isinstance(node, ast.BoolOp):
            bools = {_isinstance_target(v, "bool") for v in node.values} - {None}
            ints = {_isinstance_target(v, "int") for v in node.values} - {None}
            if bools & ints:
                found.add((where, "bool-int"))
        if isinstance(node, ast.Compare) and _is_none_check(node):
            found.add((where, "naive"))
        for child in ast.iter_child_nodes(node):
            visit(child, scope)

    visit(tree, ())
    return found


def source_checks() -> set[tuple[str, str, str]]:
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        module = path.relative_to(SRC).as_posix()
        if module.startswith(EXCLUDED):
            continue
        found |= {(module, *hit) for hit in hand_written_checks(path.read_text("utf-8"))}
    return found


def test_the_detector_sees_the_patterns() -> None:
    copies = """
def f(n, at):
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError("n must be a positive integer")
    if not isinstance(n, int | float) or isinstance(n, bool):
        raise ValueError("n must be a number")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be aware")

class C:
    def g(self, x):
        return isinstance(x, int) and not isinstance(x, bool)
"""
    assert hand_written_checks(copies) == {("f", "bool-int"), ("f", "naive"), ("C.g", "bool-int")}
    assert hand_written_checks("isinstance(a, bool) or not isinstance(b, int)\n") == set()


def test_no_hand_written_integer_or_aware_check_outside_custrec_checks() -> None:
    new = source_checks() - set(ALLOWED)
    assert new == set(), (
        "use the factories in custrec._checks (positive_int, int_range, integer, number_range, "
        "aware, require_aware, ...) instead of a hand-written check; a parser of data may be "
        "added to ALLOWED with its reason"
    )


def test_every_allowed_exception_still_exists() -> None:
    assert set(ALLOWED) - source_checks() == set()


def test_the_package_copies_are_gone() -> None:
    from custrec.consent import _checks as consent_checks
    from custrec.retention import _checks as retention_checks

    assert consent_checks.__all__ == ["str_tuple"]
    assert retention_checks.__all__ == ["each", "to_tuple"]
    from custrec.grading import _common

    assert not hasattr(_common, "require_aware")
