"""Custom fields (custrec.model.custom): definitions, versioned sets, coercion, validation, JSON.

Read top to bottom as the specification: what a definition may say, how a set changes version,
what raw input becomes, which issues typed values raise, and how a set is stored.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from custrec._text import clean
from custrec.errors import CustrecError, SchemaError
from custrec.model.custom import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    CustomField,
    CustomFieldSet,
    DefinitionConflict,
    FieldType,
    from_json,
    to_json,
)
from custrec.model.issues import Issue
from custrec.model.records import CustomValues, DataCategory, Sensitivity

T = FieldType

# ------------------------------------------------------------------------------ strategies

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,62}", fullmatch=True)
OPTION_TEXT = st.text(
    alphabet=st.sampled_from("abcxyzABC019 -_金银铜会员ｖｉｐ"), min_size=1, max_size=8
).map(clean)
OPTIONS = st.lists(OPTION_TEXT.filter(bool), min_size=1, max_size=6, unique_by=str.casefold).map(
    tuple
)
LABELS = st.dictionaries(
    st.sampled_from(["en", "zh", "zh-TW", "fr", "de"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1).filter(
        str.strip
    ),
    max_size=3,
)
PERSONAL_CATEGORIES = st.sampled_from([c for c in DataCategory if c is not DataCategory.CUSTOM])
FINITE_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False)


def _bounds(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Any, Any]]:
    """(minimum, maximum), either possibly None, minimum <= maximum."""
    return st.tuples(st.none() | values, st.none() | values).map(
        lambda b: tuple(sorted(b)) if None not in b else b
    )


@st.composite
def fields(draw: st.DrawFn, name: str | None = None, type: FieldType | None = None) -> CustomField:
    """Any consistent definition."""
    kind = type or draw(st.sampled_from(FieldType))
    arguments: dict[str, Any] = {"name": name or draw(NAMES), "type": kind}
    arguments["required"] = draw(st.booleans())
    if kind is T.TEXT:
        low, high = draw(_bounds(st.integers(1, 50)))
        arguments.update(min_length=low, max_length=high)
    bound_values = {
        T.NUMBER: st.integers(),
        T.DECIMAL: FINITE_DECIMALS,
        T.DATE: st.dates(),
    }.get(kind)
    if bound_values is not None:
        low, high = draw(_bounds(bound_values))
        arguments.update(minimum=low, maximum=high)
    if kind in (T.ENUM, T.MULTI_ENUM):
        arguments["options"] = draw(OPTIONS)
    arguments["labels"] = draw(LABELS)
    if draw(st.booleans()):
        arguments.update(
            personal=True,
            category=draw(PERSONAL_CATEGORIES),
            sensitivity=draw(st.sampled_from(Sensitivity)),
            indexed=kind in (T.TEXT, T.NUMBER) and draw(st.booleans()),
        )
    else:
        arguments["filterable"] = draw(st.booleans())
    return CustomField(**arguments)


@st.composite
def field_sets(draw: st.DrawFn) -> CustomFieldSet:
    """A set built as a user would: definitions, then some removed."""
    names = draw(st.lists(NAMES, max_size=6, unique=True))
    result = CustomFieldSet()
    for name in names:
        result = result.define(draw(fields(name=name)))
    for name in draw(st.lists(st.sampled_from(names), unique=True)) if names else []:
        result = result.remove(name)
    return result


def field(name: str = "f", type: FieldType = T.TEXT, **rules: Any) -> CustomField:
    return CustomField(name=name, type=type, **rules)


def one(definition: CustomField) -> CustomFieldSet:
    return CustomFieldSet().define(definition)


def coerced(definition: CustomField, raw: object) -> tuple[object, list[str]]:
    """(the value coerce() kept or None, the issue codes)."""
    values, issues = one(definition).coerce({definition.name: raw})
    return values.get(definition.name), [i.code for i in issues]


def codes(issues: tuple[Issue, ...]) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in issues]


# ------------------------------------------------------------------------------ field types


def test_field_types_are_the_seven_kinds_by_their_text() -> None:
    assert [t.value for t in FieldType] == [
        "text",
        "number",
        "decimal",
        "date",
        "enum",
        "multi_enum",
        "boolean",
    ]


# --------------------------------------------------------------------------------- names


@given(NAMES)
def test_a_name_is_an_identifier_of_up_to_63_characters(name: str) -> None:
    assert field(name).name == name


@pytest.mark.parametrize(
    "name", ["", "Member", "1st", "_x", "a-b", "a b", "会员", "a" * 64, "é", "a\n"]
)
def test_other_names_raise_value_error_quoting_the_name(name: str) -> None:
    with pytest.raises(ValueError, match="is not an identifier"):
        field(name)


def test_a_name_that_is_not_text_raises_type_error() -> None:
    with pytest.raises(TypeError, match="name must be text, not int"):
        field(7)  # type: ignore[arg-type]


# -------------------------------------------------------------------- construction rules


def test_type_category_and_sensitivity_also_take_their_text() -> None:
    made = CustomField(
        name="id_no", type="text", personal=True, category="identifier", sensitivity="sensitive"
    )
    assert made.type is T.TEXT
    assert made.category is DataCategory.IDENTIFIER
    assert made.sensitivity is Sensitivity.SENSITIVE
    with pytest.raises(ValueError, match="custom field 'x': type must be one of text, number"):
        CustomField(name="x", type="txt")


@pytest.mark.parametrize("flag", ["required", "personal", "indexed", "filterable"])
def test_flags_are_booleans(flag: str) -> None:
    with pytest.raises(TypeError, match=f"custom field 'f': {flag} must be True or False"):
        field(**{flag: 1})


@pytest.mark.parametrize(
    ("rules", "error", "message"),
    [
        ({"min_length": -1}, ValueError, "min_length must be a non-negative integer"),
        ({"max_length": True}, TypeError, "max_length must be an integer, not bool"),
        ({"min_length": 3, "max_length": 2}, ValueError, "min_length is greater than max_length"),
        ({"type": T.NUMBER, "max_length": 3}, ValueError, "apply to text fields only"),
    ],
)
def test_lengths_belong_to_text_fields(rules: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=f"custom field 'f'.*{re.escape(message)}"):
        field(**rules)


def test_number_bounds_are_ints_an_integral_decimal_becomes_one() -> None:
    made = field(type=T.NUMBER, minimum=Decimal("1.000"), maximum=9)
    assert (made.minimum, made.maximum) == (1, 9)
    assert type(made.minimum) is int


def test_decimal_bounds_are_decimals_an_int_becomes_one() -> None:
    made = field(type=T.DECIMAL, minimum=0, maximum=Decimal("9.99"))
    assert made.minimum == Decimal(0) and isinstance(made.minimum, Decimal)


@pytest.mark.parametrize(
    ("kind", "bound", "error", "message"),
    [
        (T.NUMBER, Decimal("1.5"), ValueError, "must be an integer for a number field"),
        (T.NUMBER, 1.0, TypeError, "minimum must be an int, not float"),
        (T.NUMBER, True, TypeError, "minimum must be an int, not bool"),
        (T.DECIMAL, 0.5, TypeError, "minimum must be a Decimal or an int, not float"),
        (T.DECIMAL, Decimal("NaN"), ValueError, "minimum must be a finite number"),
        (T.DATE, datetime(2020, 1, 1), TypeError, "minimum must be a date, not datetime"),
        (T.DATE, "2020-01-01", TypeError, "minimum must be a date, not str"),
        (T.TEXT, 1, ValueError, "apply to number, decimal and date fields"),
        (T.BOOLEAN, 0, ValueError, "apply to number, decimal and date fields"),
    ],
)
def test_bounds_have_the_type_of_the_values(
    kind: FieldType, bound: object, error: type, message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        field(type=kind, minimum=bound)


def test_a_minimum_above_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="custom field 'f': minimum is greater than maximum"):
        field(type=T.DATE, minimum=date(2025, 1, 2), maximum=date(2025, 1, 1))


def test_choice_fields_need_distinct_options_kept_normalised() -> None:
    made = field(type=T.ENUM, options=[" ＶＩＰ ", "regular"])
    assert made.options == ("VIP", "regular")
    for options, message in [
        ((), "enum fields need at least one option"),
        (("a", "A"), "options must be distinct"),
        (("a", " "), "an option must not be blank"),
    ]:
        with pytest.raises(ValueError, match=message):
            field(type=T.ENUM, options=options)
    with pytest.raises(ValueError, match="apply to enum and multi_enum fields only"):
        field(type=T.TEXT, options=("a",))


@pytest.mark.parametrize("option", ["a;b", "a,b", "a；b", "a，b"])
def test_a_multi_enum_option_holds_no_separator(option: str) -> None:
    with pytest.raises(ValueError, match="may not hold ';' or ','"):
        field(type=T.MULTI_ENUM, options=("x", option))
    assert field(type=T.ENUM, options=("x", option)).options[1] == clean(option)


def test_labels_are_a_mapping_or_pairs_looked_up_by_language() -> None:
    by_mapping = field("member_no", labels={"zh": "会员编号", "en": "Member number"})
    by_pairs = field("member_no", labels=[("en", "Member number"), ("zh", "会员编号")])
    assert by_mapping == by_pairs
    assert by_mapping.labels == (("en", "Member number"), ("zh", "会员编号"))
    assert by_mapping.label("zh") == by_mapping.label("ZH-cn") == "会员编号"
    assert by_mapping.label("fr") == "member_no"
    assert by_mapping.label("fr", "Numéro") == "Numéro"
    with pytest.raises(ValueError, match="labels name a language twice"):
        field(labels=[("en", "a"), ("EN", "b")])
    with pytest.raises(ValueError, match="a label must not be blank"):
        field(labels={"en": " "})
    with pytest.raises(TypeError, match=r"labels must be \(language, label\) pairs"):
        field(labels=["en"])


def test_a_personal_field_declares_its_category() -> None:
    made = field(personal=True, category=DataCategory.CONTACT, indexed=True)
    assert made.sensitivity is Sensitivity.PERSONAL
    for category in (None, DataCategory.CUSTOM):
        with pytest.raises(ValueError, match="needs a category other than custom"):
            field(personal=True, category=category)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"category": DataCategory.CONTACT}, "a category applies to personal fields only"),
        ({"sensitivity": Sensitivity.SENSITIVE}, "only a personal field can be sensitive"),
        ({"indexed": True}, "indexed is a blind index for personal fields"),
        (
            {"personal": True, "category": "contact", "filterable": True},
            "a personal field cannot be filterable",
        ),
        (
            {"personal": True, "category": "contact", "indexed": True, "type": T.DATE},
            "only personal text and number fields can be indexed",
        ),
        ({"category": "nonsense", "personal": True}, "category must be one of identity"),
    ],
)
def test_privacy_flags_must_agree(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"custom field 'f'.*{message}"):
        field(**rules)


@given(fields())
def test_generated_definitions_are_consistent_and_equal_to_their_rebuild(made: CustomField) -> None:
    assert CustomField(**{a.name: getattr(made, a.name) for a in attrs.fields(CustomField)}) == made


# ----------------------------------------------------------------------- versioned sets


def test_the_empty_set_is_version_zero() -> None:
    empty = CustomFieldSet()
    assert (empty.version, empty.fields, empty.removed, len(empty)) == (0, (), (), 0)
    with pytest.raises(ValueError, match="has a version of at least 1"):
        CustomFieldSet(fields=[field()])


def test_define_change_and_remove_each_make_a_new_version() -> None:
    v1 = CustomFieldSet().define(field("zeta"))
    v2 = v1.define(field("alpha", T.NUMBER))
    v3 = v2.change(field("zeta", required=True))
    v4 = v3.remove("alpha")
    assert [s.version for s in (v1, v2, v3, v4)] == [1, 2, 3, 4]
    assert [f.name for f in v2.fields] == ["alpha", "zeta"]  # by name
    assert v3["zeta"].required and not v2["zeta"].required  # sets never change in place
    assert [f.name for f in v4.fields] == ["zeta"] and [f.name for f in v4.removed] == ["alpha"]
    assert "alpha" not in v4 and v4.get("alpha") is None
    assert v4.get("alpha", removed=True) == field("alpha", T.NUMBER)


def test_defining_a_current_name_is_a_conflict() -> None:
    fields_ = one(field("tier"))
    with pytest.raises(DefinitionConflict, match="'tier' exists; change\\(\\) it instead"):
        fields_.define(field("tier"))
    assert issubclass(DefinitionConflict, ValueError) and issubclass(
        DefinitionConflict, CustrecError
    )


def test_a_removed_name_may_be_defined_again_with_the_same_type_and_privacy() -> None:
    gone = one(field("tier", T.ENUM, options=("a",))).remove("tier")
    back = gone.define(field("tier", T.ENUM, options=("a", "b")))
    assert back.version == 3 and back.removed == () and back["tier"].options == ("a", "b")
    with pytest.raises(DefinitionConflict, match="type would change from enum to text"):
        gone.define(field("tier"))
    with pytest.raises(
        DefinitionConflict, match=r"it is not personal \(so are its stored values\)"
    ):
        gone.define(field("tier", T.ENUM, options=("a",), personal=True, category="identity"))


def test_compatible_changes_are_allowed() -> None:
    start = one(field("tier", T.ENUM, options=("gold", "silver"), labels={"en": "Tier"}))
    for changed in (
        field("tier", T.ENUM, options=("gold", "silver", "bronze")),  # an option added
        field("tier", T.ENUM, options=("gold",)),  # an option removed: see validate
        field("tier", T.ENUM, options=("gold", "silver"), labels={"zh": "等级"}, required=True),
        field("tier", T.ENUM, options=("gold", "silver"), filterable=True),
    ):
        assert start.change(changed)["tier"] == changed
    personal = one(field("pid", personal=True, category="identifier"))
    assert personal.change(
        field("pid", personal=True, category="identifier", indexed=True, sensitivity="sensitive")
    )["pid"].indexed


def test_an_unchanged_definition_keeps_the_set_and_its_version() -> None:
    start = one(field("tier", max_length=5))
    assert start.change(field("tier", max_length=5)) is start


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (field("f", T.NUMBER), "type would change from text to number"),
        (field("f", personal=True, category="contact"), "it is not personal"),
    ],
)
def test_incompatible_changes_are_definition_conflicts(new: CustomField, message: str) -> None:
    with pytest.raises(DefinitionConflict, match=message):
        one(field("f")).change(new)
    with pytest.raises(DefinitionConflict, match="it is personal"):
        one(field("f", personal=True, category="contact")).change(field("f"))


def test_changing_or_removing_a_name_that_is_not_current() -> None:
    gone = one(field("f")).remove("f")
    with pytest.raises(DefinitionConflict, match=r"'f' was removed; define\(\) it"):
        gone.change(field("f"))
    with pytest.raises(KeyError, match="no custom field 'g' to change"):
        gone.change(field("g"))
    with pytest.raises(KeyError, match="no custom field 'f' to remove"):
        gone.remove("f")


def test_sets_refuse_repeated_and_overlapping_names() -> None:
    with pytest.raises(ValueError, match="fields name a custom field twice"):
        CustomFieldSet(version=2, fields=[field("a"), field("a", T.NUMBER)])
    with pytest.raises(ValueError, match=r"custom fields \['a'\] are both current and removed"):
        CustomFieldSet(version=2, fields=[field("a")], removed=[field("a")])
    with pytest.raises(TypeError, match="fields must be a sequence of CustomField"):
        CustomFieldSet(version=1, fields=["a"])


def test_the_privacy_listings() -> None:
    fields_ = CustomFieldSet(
        version=4,
        fields=[
            field("phone2", personal=True, category="contact", indexed=True),
            field("note", personal=True, category="communication"),
            field("tier", T.ENUM, options=("a",), filterable=True),
        ],
        removed=[field("old_id", personal=True, category="identifier")],
    )
    assert [f.name for f in fields_.personal_fields()] == ["note", "old_id", "phone2"]
    assert [f.name for f in fields_.indexed_fields()] == ["phone2"]
    assert [f.name for f in fields_.filterable_fields()] == ["tier"]
    assert [f.name for f in fields_] == ["note", "phone2", "tier"]


@given(field_sets(), st.data())
def test_every_operation_adds_one_version_and_keeps_names_apart(
    start: CustomFieldSet, data: st.DataObject
) -> None:
    current = {f.name for f in start.fields}
    gone = {f.name for f in start.removed}
    assert current.isdisjoint(gone)
    assert start.version >= len(current | gone)
    if current:
        name = data.draw(st.sampled_from(sorted(current)))
        after = start.remove(name)
        assert after.version == start.version + 1 and name in {f.name for f in after.removed}
    if gone:
        old = start.get(data.draw(st.sampled_from(sorted(gone))), removed=True)
        assert old is not None
        again = start.define(old)
        assert again.version == start.version + 1 and again[old.name] == old


# ----------------------------------------------------------------------------- coercion

FULL_WIDTH = str.maketrans("0123456789-+", "０１２３４５６７８９－＋")


@given(st.integers())
def test_any_int_coerces_from_itself_and_from_its_text_full_width_too(number: int) -> None:
    made = field(type=T.NUMBER)
    assert coerced(made, number) == (number, [])
    assert coerced(made, f" {number} ") == (number, [])
    assert coerced(made, str(number).translate(FULL_WIDTH)) == (number, [])


@given(FINITE_DECIMALS)
def test_any_finite_decimal_coerces_exactly_from_its_text(number: Decimal) -> None:
    value, issues = coerced(field(type=T.DECIMAL), str(number))
    assert issues == [] and isinstance(value, Decimal) and str(value) == str(number)
    assert coerced(field(type=T.DECIMAL), number) == (number, [])


@given(st.integers())
def test_an_int_is_a_decimal_and_an_integral_decimal_a_number(number: int) -> None:
    assert coerced(field(type=T.DECIMAL), number) == (Decimal(number), [])
    assert coerced(field(type=T.NUMBER), Decimal(number)) == (number, [])


@given(st.dates())
def test_any_date_coerces_from_itself_and_its_iso_text(day: date) -> None:
    assert coerced(field(type=T.DATE), day) == (day, [])
    assert coerced(field(type=T.DATE), day.isoformat()) == (day, [])


@given(OPTIONS, st.data())
def test_an_enum_reads_an_option_whatever_its_case(options: tuple[str, ...], data: Any) -> None:
    chosen = data.draw(st.sampled_from(options))
    typed = data.draw(st.sampled_from([chosen, chosen.upper(), chosen.lower(), f"  {chosen} "]))
    assume(sum(o.casefold() == clean(typed).casefold() for o in options) == 1)
    assert coerced(field(type=T.ENUM, options=options), typed) == (chosen, [])


@given(OPTIONS, st.data())
def test_multi_enum_reads_lists_and_separated_text_in_the_options_order(
    options: tuple[str, ...], data: Any
) -> None:
    chosen = data.draw(st.lists(st.sampled_from(options), min_size=1))
    separator = data.draw(st.sampled_from([";", "；", ",", "，", " ; ", ";;"]))
    expected = tuple(o for o in options if o in chosen)
    made = field(type=T.MULTI_ENUM, options=options)
    assert coerced(made, separator.join(chosen)) == (expected, [])
    assert coerced(made, chosen) == (expected, [])
    assert coerced(made, tuple(reversed(chosen))) == (expected, [])


@pytest.mark.parametrize("spelling", sorted(BOOLEAN_TRUE | BOOLEAN_FALSE))
def test_boolean_spellings(spelling: str) -> None:
    expected = spelling in BOOLEAN_TRUE
    made = field(type=T.BOOLEAN)
    for variant in (spelling, spelling.upper(), f" {spelling} "):
        assert coerced(made, variant) == (expected, [])
    assert {"true", "yes", "1", "是"} <= BOOLEAN_TRUE
    assert {"false", "no", "0", "否"} <= BOOLEAN_FALSE


def test_booleans_from_bools_and_zero_or_one() -> None:
    made = field(type=T.BOOLEAN)
    assert [coerced(made, v)[0] for v in (True, False, 1, 0)] == [True, False, True, False]
    assert coerced(made, 2) == (None, ["type"])


def test_text_is_cleaned_like_other_custrec_text() -> None:
    assert coerced(field(), "  ＡＢＣ　 12  ") == ("ABC 12", [])
    assert coerced(field(), 12345) == ("12345", [])  # a number typed into a spreadsheet cell
    assert coerced(field(), True) == (None, ["type"])


@pytest.mark.parametrize("kind", list(FieldType))
@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000"])
def test_none_and_blank_text_are_absent(kind: FieldType, raw: object) -> None:
    made = field(type=kind, options=("a",) if kind in (T.ENUM, T.MULTI_ENUM) else ())
    assert coerced(made, raw) == (None, [])


@pytest.mark.parametrize(
    ("kind", "raw", "code"),
    [
        (T.NUMBER, "1.5", "type"),
        (T.NUMBER, "1,000", "type"),
        (T.NUMBER, 1.0, "type"),
        (T.NUMBER, True, "type"),
        (T.NUMBER, Decimal("1.5"), "type"),
        (T.NUMBER, "9" * 5000, "type"),  # beyond the interpreter's digit limit
        (T.DECIMAL, 0.1, "type"),  # a float is inexact
        (T.DECIMAL, "NaN", "type"),
        (T.DECIMAL, "-Infinity", "type"),
        (T.DECIMAL, Decimal("sNaN"), "type"),
        (T.DECIMAL, "1_000", "type"),
        (T.DECIMAL, "1e999999999999999999999999", "type"),
        (T.DECIMAL, True, "type"),
        (T.DATE, "2025-02-30", "type"),
        (T.DATE, "20250101", "type"),
        (T.DATE, datetime(2025, 1, 1), "type"),
        (T.ENUM, "platinum", "option"),
        (T.ENUM, 1, "type"),
        (T.MULTI_ENUM, "a;platinum", "option"),
        (T.MULTI_ENUM, ["a", 1], "type"),
        (T.MULTI_ENUM, {"a": 1}, "type"),
        (T.BOOLEAN, "maybe", "type"),
        (T.TEXT, b"bytes", "type"),
        (T.TEXT, "a\x00b", "text.invalid_character"),
        (T.MULTI_ENUM, ["a\udcff"], "text.invalid_character"),
    ],
)
def test_bad_input_is_an_issue_and_the_value_left_out(kind: FieldType, raw: Any, code: str) -> None:
    made = field(type=kind, options=("a", "b") if kind in (T.ENUM, T.MULTI_ENUM) else ())
    values, issues = one(made).coerce({"f": raw})
    assert values == {} and codes(issues) == [("custom.f", code)]


ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.decimals()
    | st.dates()
    | st.datetimes(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@settings(max_examples=300)
@given(fields(name="f"), ANYTHING)
def test_coerce_never_raises_and_what_it_keeps_is_valid_for_the_type(
    made: CustomField, raw: object
) -> None:
    values, issues = one(made).coerce({"f": raw})
    assert len(values) + len(issues) <= 1
    assert {i.code for i in issues} <= {"type", "option", "text.invalid_character"}
    assert all(i.path == "custom.f" for i in issues)
    rules = ("required", "length", "range")
    assert [i for i in one(made).validate(values, require=False) if i.code not in rules] == []


@given(fields(name="f"), st.data())
def test_coerce_keeps_a_typed_value_as_it_is(made: CustomField, data: st.DataObject) -> None:
    value = data.draw(valid_values(made))
    assert one(made).coerce({"f": value}) == (CustomValues({"f": value}), ())


def test_unknown_names_are_issues_and_removed_fields_values_are_kept() -> None:
    fields_ = CustomFieldSet().define(field("a")).define(field("b", T.NUMBER)).remove("b")
    values, issues = fields_.coerce({"a": "x", "b": "not a number any more", "c": 1, "d": None})
    assert dict(values) == {"a": "x", "b": "not a number any more"}
    assert codes(issues) == [("custom.c", "unknown_field"), ("custom.d", "unknown_field")]
    values, issues = fields_.coerce({"b": 1.5})  # kept unchanged, so it must be storable
    assert values == {} and codes(issues) == [("custom.b", "type")]
    values, issues = fields_.coerce({"b": "x\x00"})
    assert values == {} and codes(issues) == [("custom.b", "text.invalid_character")]
    assert fields_.coerce({"b": "  "}) == (CustomValues(), ())


@given(ANYTHING)
def test_a_removed_fields_value_is_kept_as_a_custom_value_or_reported(raw: object) -> None:
    gone = one(field("b", T.NUMBER)).remove("b")
    values, issues = gone.coerce({"b": raw})
    assert len(values) + len(issues) <= 1
    if values:
        assert values == CustomValues({"b": raw})
    assert {i.code for i in issues} <= {"type", "text.invalid_character"}


# ---------------------------------------------------------------------------- validation


def valid_values(made: CustomField) -> st.SearchStrategy[Any]:
    """Typed values that satisfy ``made``'s rules."""
    low, high = made.minimum, made.maximum
    kind = made.type
    if kind is T.TEXT:
        shortest = made.min_length or 1
        longest = shortest + 20 if made.max_length is None else made.max_length
        return st.integers(shortest, longest).map(lambda n: "x" * n)
    if kind is T.NUMBER:
        return st.integers(low, high)  # type: ignore[arg-type]
    if kind is T.DECIMAL:
        return st.decimals(low, high, allow_nan=False, allow_infinity=False)  # type: ignore[arg-type]
    if kind is T.DATE:
        return st.dates(low or date.min, high or date.max)  # type: ignore[arg-type]
    if kind is T.ENUM:
        return st.sampled_from(made.options)
    if kind is T.MULTI_ENUM:
        return st.lists(st.sampled_from(made.options), min_size=1).map(
            lambda chosen: tuple(o for o in made.options if o in chosen)
        )
    return st.booleans()


@given(
    st.none() | st.integers(-5, 5),
    st.none() | st.integers(-5, 5),
    st.integers(-8, 8),
)
def test_number_ranges_agree_with_the_enumerated_allowed_values(
    low: int | None, high: int | None, value: int
) -> None:
    assume(low is None or high is None or low <= high)
    allowed = set(range(-8 if low is None else low, 9 if high is None else high + 1))
    issues = one(field(type=T.NUMBER, minimum=low, maximum=high)).validate({"f": value})
    assert codes(issues) == ([] if value in allowed else [("custom.f", "range")])


@given(
    st.none() | st.integers(0, 4),
    st.none() | st.integers(0, 4),
    st.text(alphabet="ab会", min_size=1, max_size=6),
)
def test_text_lengths_agree_with_the_enumerated_allowed_lengths(
    low: int | None, high: int | None, value: str
) -> None:
    assume(low is None or high is None or low <= high)
    allowed = set(range(0 if low is None else low, 7 if high is None else high + 1))
    issues = one(field(min_length=low, max_length=high)).validate({"f": value})
    assert codes(issues) == ([] if len(value) in allowed else [("custom.f", "length")])


@given(
    _bounds(st.decimals("-1", "1", places=2)),
    st.decimals("-2", "2", places=2),
)
def test_decimal_ranges_agree_with_the_enumerated_allowed_values(
    bounds: tuple[Decimal | None, Decimal | None], value: Decimal
) -> None:
    low, high = bounds
    steps = [Decimal(n) / 100 for n in range(-200, 201)]
    allowed = {s for s in steps if (low is None or s >= low) and (high is None or s <= high)}
    issues = one(field(type=T.DECIMAL, minimum=low, maximum=high)).validate({"f": value})
    assert codes(issues) == ([] if value in allowed else [("custom.f", "range")])


@given(OPTIONS, st.lists(OPTION_TEXT.filter(bool), min_size=1, max_size=3))
def test_options_agree_with_membership(options: tuple[str, ...], chosen: list[str]) -> None:
    enum_issues = one(field(type=T.ENUM, options=options)).validate({"f": chosen[0]})
    assert codes(enum_issues) == ([] if chosen[0] in options else [("custom.f", "option")])
    multi = one(field(type=T.MULTI_ENUM, options=options)).validate({"f": tuple(chosen)})
    fine = len(set(chosen)) == len(chosen) and all(c in options for c in chosen)
    assert codes(multi) == ([] if fine else [("custom.f", "option")])


@given(fields(name="f"), st.data())
def test_values_within_the_rules_have_no_issue(made: CustomField, data: st.DataObject) -> None:
    value = data.draw(valid_values(made))
    assert one(made).validate(CustomValues({"f": value})) == ()


def test_required_fields_only_when_required() -> None:
    fields_ = CustomFieldSet().define(field("a", required=True)).define(field("b", T.NUMBER))
    assert codes(fields_.validate({})) == [("custom.a", "required")]
    assert codes(fields_.validate({"a": " "})) == [("custom.a", "required")]
    assert fields_.validate({}, require=False) == ()
    multi = one(field("m", T.MULTI_ENUM, options=("x",), required=True))
    assert codes(multi.validate({"m": ()})) == [("custom.m", "required")]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (T.TEXT, 1),
        (T.NUMBER, True),
        (T.NUMBER, Decimal(1)),
        (T.DECIMAL, 1),  # coerce() makes the Decimal; stored values are uniform
        (T.DECIMAL, Decimal("NaN")),
        (T.DATE, datetime(2025, 1, 1)),
        (T.ENUM, ("a",)),
        (T.MULTI_ENUM, "a"),
        (T.BOOLEAN, 1),
    ],
)
def test_a_value_of_another_type_is_a_type_issue(kind: FieldType, value: object) -> None:
    made = field(type=kind, options=("a",) if kind in (T.ENUM, T.MULTI_ENUM) else ())
    assert codes(one(made).validate({"f": value})) == [("custom.f", "type")]


def test_unknown_names_are_issues_removed_ones_are_fine_and_fields_come_in_name_order() -> None:
    fields_ = (
        CustomFieldSet()
        .define(field("b", T.NUMBER, maximum=1))
        .define(field("a", required=True))
        .define(field("gone"))
        .remove("gone")
    )
    issues = fields_.validate(CustomValues({"b": 5, "gone": "kept", "zz": 1, "yy": 2}))
    assert codes(issues) == [
        ("custom.a", "required"),
        ("custom.b", "range"),
        ("custom.yy", "unknown_field"),
        ("custom.zz", "unknown_field"),
    ]


def test_a_removed_option_fails_validation_where_it_is_still_stored() -> None:
    before = one(field(type=T.ENUM, options=("gold", "silver")))
    stored, _ = before.coerce({"f": "silver"})
    after = before.change(field(type=T.ENUM, options=("gold",)))
    assert codes(after.validate(stored)) == [("custom.f", "option")]
    assert codes(after.coerce({"f": "silver"})[1]) == [("custom.f", "option")]


# ----------------------------------------------------- messages never repeat the value

DISTINCT_TEXT = st.from_regex(r"Qz[a-y]{6}7[A-Z]{4}", fullmatch=True)
DISTINCT_NUMBER = st.integers(10**14, 10**15)


def _messages(issues: tuple[Issue, ...]) -> str:
    return "\n".join(f"{i.message} {i}" for i in issues)


@given(st.sampled_from(FieldType), DISTINCT_TEXT)
def test_coerce_messages_never_hold_the_text_given(kind: FieldType, token: str) -> None:
    fields_ = one(field(type=kind, options=("a",) if kind in (T.ENUM, T.MULTI_ENUM) else ()))
    for raw in (token, [token], f"a;{token}", f"{token}\x00"):
        _, issues = fields_.coerce({"f": raw, "other": raw})
        assert issues and token not in _messages(issues)


@given(DISTINCT_TEXT, DISTINCT_NUMBER, st.dates(date(2100, 1, 1)))
def test_validate_messages_never_hold_the_value(token: str, number: int, day: date) -> None:
    fields_ = CustomFieldSet(
        version=1,
        fields=[
            field("t", max_length=3),
            field("n", T.NUMBER, minimum=1, maximum=10),
            field("d", T.DECIMAL, maximum=Decimal("9.5")),
            field("day", T.DATE, maximum=date(2099, 12, 31)),
            field("e", T.ENUM, options=("a",)),
            field("m", T.MULTI_ENUM, options=("a",)),
            field("b", T.BOOLEAN),
        ],
    )
    values = {
        "t": token,
        "n": number,
        "d": Decimal(number) / 100,
        "day": day,
        "e": token,
        "m": ("a", token),
        "b": token,
    }
    issues = fields_.validate(values)
    assert len(issues) == len(values)
    text = _messages(issues)
    for shown in (token, str(number), str(Decimal(number) / 100), day.isoformat()):
        assert shown not in text


# ------------------------------------------------------------------------------------ JSON


@settings(max_examples=200)
@given(field_sets())
def test_json_round_trips_exactly(fields_: CustomFieldSet) -> None:
    stored = to_json(fields_)
    again = from_json(stored)
    assert again == fields_
    assert to_json(again) == stored
    for original, read in zip(fields_.fields, again.fields, strict=True):
        assert type(original.minimum) is type(read.minimum)
        assert str(original.minimum) == str(read.minimum)  # Decimal exponents included


def test_the_stored_document() -> None:
    stored = to_json(
        one(field("budget", T.DECIMAL, minimum=Decimal("0.50"), labels={"zh": "预算"}))
    )
    document = json.loads(stored)
    assert (document["type"], document["schema"], document["version"]) == (
        "custrec.custom_fields",
        1,
        1,
    )
    assert document["fields"][0]["minimum"] == "0.50"
    assert "预算".encode() in stored  # UTF-8, not escapes
    assert from_json(stored.decode()) == from_json(stored)


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        to_json(one(field("f", T.NUMBER, minimum=1, labels={"en": "F"})))
    )
    for key, value in changes.items():
        if key.startswith("field_"):
            document["fields"][0][key.removeprefix("field_")] = value
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"", "not a valid JSON document"),
        (b"\xff\xfe\x00", "not a valid JSON document"),
        (b"[" * 100_000, "not a valid JSON document"),
        (b'{"type": 1, "type": 2}', "names a key twice"),
        (b"[]", "not a custrec.custom_fields document"),
        (_document(type="customer"), "not a custrec.custom_fields document"),
        (_document(schema=2), "schema version is not 1"),
        (_document(schema=True), "schema version is not 1"),
        (_document(extra=1), "the document's keys are not"),
        (_document(version="1"), "version is not an integer"),
        (_document(version=0), "has a version of at least 1"),
        (_document(fields={}), "fields and removed are JSON lists"),
        (_document(field_colour="red"), r"unknown keys \['colour'\]"),
        (_document(field_minimum=1.5), "minimum must be an int, not float"),
        (_document(field_required="yes"), "required must be True or False"),
        (_document(field_labels=[["en", "F"]]), "labels is not an object"),
        (_document(field_type=3), "type is not text"),
        (_document(field_filterable=True, field_personal=True, field_category="contact"), "filt"),
    ],
)
def test_a_corrupt_document_raises_schema_error(document: Any, message: str) -> None:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(SchemaError, match=message):
        from_json(raw)


def test_nan_and_bad_bounds_in_a_document() -> None:
    with pytest.raises(SchemaError, match="NaN is not JSON"):
        from_json(b'{"type": NaN}')
    decimal = json.loads(to_json(one(field("d", T.DECIMAL, maximum=Decimal("1.5")))))
    for bad, message in [("1,5", "not a decimal number"), (1, "stored as text")]:
        decimal["fields"][0]["maximum"] = bad
        with pytest.raises(SchemaError, match=message):
            from_json(json.dumps(decimal).encode())
    day = json.loads(to_json(one(field("d", T.DATE, maximum=date(2025, 1, 1)))))
    day["fields"][0]["maximum"] = "20250101"
    with pytest.raises(SchemaError, match="not ISO 8601"):
        from_json(json.dumps(day).encode())


@given(field_sets(), st.data())
def test_a_truncated_document_always_raises_schema_error(
    fields_: CustomFieldSet, data: st.DataObject
) -> None:
    stored = to_json(fields_)
    cut = data.draw(st.integers(0, len(stored) - 1))
    with pytest.raises(SchemaError):
        from_json(stored[:cut])


def test_json_takes_only_sets_and_bytes() -> None:
    with pytest.raises(TypeError, match="expected a CustomFieldSet, not dict"):
        to_json({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected bytes or text, not dict"):
        from_json({})  # type: ignore[arg-type]
