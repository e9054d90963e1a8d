"""The private converter, schema-versioned documents and lenient structuring."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
    Interaction,
    InteractionKind,
    Milestones,
    Money,
    Transaction,
)
from custrec.model.serialization import (
    SCHEMA_VERSION,
    UNREADABLE,
    SchemaError,
    dumps,
    from_document,
    loads,
    make_converter,
    structure_partially,
    structure_with_issues,
    to_document,
)

AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def full_customer() -> Customer:
    return Customer(
        kind=CustomerKind.ORGANIZATION,
        name="北京某某科技有限公司",
        gender=Gender.UNKNOWN,
        identifiers=[Identifier(scheme="CN-USCC", value="91110000600037341L")],
        contacts=[Contact(name="李雷", phones=["+8613800138000"], primary=True)],
        addresses=[Address(city="北京", street="长安街1号", postal_code="100000")],
        tags=["vip", "重点"],
        milestones=Milestones(
            contract_signed_on=date(2024, 1, 2),
            contract_amount=Money(amount=Decimal("120000.50"), currency="CNY"),
            satisfaction=5,
        ),
        created_at=AT,
        updated_at=AT,
    )


def test_every_record_type_round_trips() -> None:
    conv = make_converter()
    records = [
        full_customer(),
        Transaction(customer_id="c", occurred_at=AT, amount=Money(amount=Decimal("-0.01"))),
        Interaction(
            customer_id="c",
            kind=InteractionKind.COMPLAINT,
            occurred_at=AT,
            next_action_at=AT + timedelta(days=1),
            satisfaction=2,
        ),
    ]
    for record in records:
        data = conv.unstructure(record)
        assert conv.structure(data, type(record)) == record
        assert loads(dumps(record)) == record


def test_unstructured_form_is_json_safe() -> None:
    data = make_converter().unstructure(full_customer())
    assert data["milestones"]["contract_amount"] == {"amount": "120000.50", "currency": "CNY"}
    assert data["created_at"] == "2024-05-06T07:08:09.123456+00:00"
    assert data["kind"] == "organization"
    assert data["tags"] == ["vip", "重点"]


def test_datetimes_are_stored_in_utc() -> None:
    conv = make_converter()
    east8 = timezone(timedelta(hours=8))
    value = conv.structure("2024-05-06T15:08:09+08:00", datetime)
    assert value == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert conv.unstructure(datetime(2024, 1, 1, 8, tzinfo=east8)) == "2024-01-01T00:00:00+00:00"


def test_naive_datetimes_are_refused() -> None:
    conv = make_converter()
    with pytest.raises(ValueError, match="time zone"):
        conv.unstructure(datetime(2024, 1, 1))
    _, report = structure_with_issues(
        {"kind": "individual", "name": "x", "created_at": "2024-01-01T00:00:00"}, Customer
    )
    assert [(i.path, i.code) for i in report] == [("created_at", "datetime.naive")]


def test_documents_carry_a_schema_version() -> None:
    doc = to_document(full_customer())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["type"] == "customer"
    with pytest.raises(SchemaError):
        from_document({**doc, "schema_version": 999})
    with pytest.raises(SchemaError):
        from_document({**doc, "type": "spaceship"})
    with pytest.raises(SchemaError):
        loads(b"not json")


def test_structuring_reports_every_problem_with_its_path() -> None:
    record, report = structure_with_issues(
        {
            "kind": "robot",
            "contacts": [{"phones": ["+8613800138000"], "shoe_size": 42}, "oops"],
            "milestones": {"satisfaction": "five", "contract_amount": {"amount": "1e999x"}},
            "birth_date": "1990-02-30",
        },
        Customer,
    )
    assert record is None
    assert {(i.path, i.code) for i in report} == {
        ("kind", "enum"),
        ("name", "required"),
        ("contacts[0].shoe_size", "unknown_field"),
        ("contacts[1]", "type"),
        ("milestones.satisfaction", "type"),
        ("milestones.contract_amount.amount", "type"),
        ("birth_date", "type"),
    }


def test_lenient_structuring_accepts_spreadsheet_shapes() -> None:
    record, report = structure_with_issues(
        {
            "kind": "INDIVIDUAL",
            "name": "  张　三 ",
            "contacts": [{"phones": 13800138000, "emails": "", "primary": True}],
            "tags": "vip",
            "industry": "   ",
        },
        Customer,
    )
    assert report.ok and record is not None
    assert record.name == "张 三"
    assert record.contacts[0].phones == ("13800138000",)
    assert record.contacts[0].emails == ()
    assert record.tags == ("vip",)
    assert record.industry is None


def test_structuring_never_accepts_strings_as_booleans() -> None:
    _, report = structure_with_issues(
        {"kind": "individual", "name": "x", "contacts": [{"primary": "no"}]}, Customer
    )
    assert [(i.path, i.code) for i in report] == [("contacts[0].primary", "type")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_structuring_arbitrary_json_never_raises(data: object) -> None:
    record, report = structure_with_issues(data, Customer)
    assert (record is None) == (not report.ok) or record is not None


@given(
    st.dictionaries(
        st.sampled_from(
            ["kind", "name", "contacts", "tags", "milestones", "birth_date", "stage", "addresses"]
        ),
        json_values,
    )
)
def test_structuring_customer_shaped_json_never_raises(data: dict[str, object]) -> None:
    record, report = structure_with_issues(data, Customer)
    if record is None:
        assert not report.ok


# -------------------------------------------------------------------- partial structuring


def test_partial_structuring_keeps_what_it_can_read_and_lists_what_it_cannot() -> None:
    record, report, unreadable = structure_partially(
        {
            "kind": "robot",
            "contacts": [{"phones": ["+8613800138000", ["x"]], "shoe_size": 42}, "oops"],
            "milestones": {"satisfaction": "five", "contract_signed_on": "2024-03-01"},
            "birth_date": "1990-02-30",
            "tags": ["vip"],
        },
        Customer,
    )
    assert record is not None
    assert unreadable == {
        "kind",
        "name",
        "contacts[0].phones[1]",
        "contacts[1]",
        "milestones.satisfaction",
        "birth_date",
    }
    assert {i.path for i in report} == unreadable | {"contacts[0].shoe_size"}
    # no default: UNREADABLE; with a default: the default; list elements keep their index
    assert record.kind is UNREADABLE and record.name is UNREADABLE
    assert record.birth_date is None
    assert record.contacts[0].phones == ("+8613800138000", UNREADABLE)
    assert record.contacts[1] is UNREADABLE
    assert record.milestones == Milestones(contract_signed_on=date(2024, 3, 1))
    assert record.tags == ("vip",)
    assert repr(UNREADABLE) == "<unreadable>"


def test_partial_structuring_of_a_valid_record_reads_everything() -> None:
    customer = full_customer()
    record, report, unreadable = structure_partially(
        make_converter().unstructure(customer), Customer
    )
    assert record == customer and report.ok and not unreadable


@pytest.mark.parametrize("data", [None, 42, "text", ["a"]])
def test_partial_structuring_of_a_non_mapping_gives_no_record(data: object) -> None:
    record, report, unreadable = structure_partially(data, Customer)
    assert record is None and unreadable == {""}
    assert [(i.path, i.code) for i in report] == [("", "type")]


@given(json_values)
def test_structure_with_issues_gives_a_record_exactly_when_nothing_was_unreadable(
    data: object,
) -> None:
    partial, partial_report, unreadable = structure_partially(data, Customer)
    record, report = structure_with_issues(data, Customer)
    assert report == partial_report
    assert (record is None) == bool(unreadable)
    if record is not None:
        assert record == attrs.evolve(partial, id=record.id)  # a missing id is a new one


@pytest.mark.parametrize("bad", ["\udcff", "\ud800\udc00", "\x00"])
def test_structuring_refuses_text_it_could_not_store(bad: str) -> None:
    record, report = structure_with_issues(
        {"kind": "individual", "name": "x", "tags": ["ok", f"a{bad}b"], "notes": bad}, Customer
    )
    assert record is None
    assert [(i.path, i.code) for i in report] == [
        ("tags[1]", "text.invalid_character"),
        ("notes", "text.invalid_character"),
    ]
    assert all(bad not in i.message for i in report)


def test_an_unknown_key_that_is_not_storable_text_is_reported_at_its_parent() -> None:
    _, report = structure_with_issues(
        {"kind": "individual", "name": "x", "na\udcffme": "y", "contacts": [{"\x00": 1}]},
        Customer,
    )
    assert [(i.path, i.code) for i in report] == [
        ("", "unknown_field"),
        ("contacts[0]", "unknown_field"),
    ]


class _Instant(datetime):
    """A datetime subclass: never on the fast path, the same text."""


@given(
    st.one_of(
        st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
        st.datetimes(),  # naive: refused
        st.datetimes().map(lambda d: _Instant(*d.timetuple()[:6], d.microsecond, tzinfo=UTC)),
    )
)
def test_unstructured_instant_is_its_iso_text_in_utc(value: datetime) -> None:
    # an exact datetime in UTC skips astimezone (which would give it back; the last one's text is
    # remembered): the same text, and the same error for a naive one
    from custrec.model.serialization import _unstructure_datetime

    def general() -> object:
        if value.tzinfo is None or value.utcoffset() is None:
            return ValueError
        try:
            return value.astimezone(UTC).isoformat()
        except OverflowError:
            return OverflowError

    def got() -> object:
        try:
            return _unstructure_datetime(value)
        except (ValueError, OverflowError) as exc:
            return type(exc)

    # twice: the second time, an instant in UTC is the one remembered from the first
    assert got() == general()
    assert got() == general()
    assert _unstructure_datetime(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"
    assert got() == general()
