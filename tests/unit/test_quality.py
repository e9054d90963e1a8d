"""Specification of custrec.quality: assess() and QualityReport.

The population below has six customers; every expected figure is counted by hand in the comments.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.consent import PURPOSES, CaptureChannel, ConsentEvent, ConsentLedger
from custrec.model.issues import Severity
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerCategory,
    CustomerKind,
    Gender,
    Identifier,
    IdentifierScheme,
    VerificationStatus,
)
from custrec.quality import (
    DEFAULT_FIELDS,
    FIELDS,
    QualityReport,
    assess,
)
from custrec.validation import DEFAULT_RULES

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)
IND = CustomerKind.INDIVIDUAL
ORG = CustomerKind.ORGANIZATION
WEB = CaptureChannel.WEB_FORM

# c1: complete, valid individual, verified 10 days ago.
C1 = Customer(
    id="c1",
    kind=IND,
    name="张三",
    gender=Gender.MALE,
    birth_date=date(1990, 5, 1),
    identifiers=[Identifier(scheme=IdentifierScheme.PASSPORT, value="E12345678")],
    contacts=[Contact(phones=("+8613800138000",), emails=("zs@example.com",))],
    addresses=[Address(city="北京")],
    owner="s-1",
    source="referral",
    category=CustomerCategory.INDIVIDUAL,
    verification=VerificationStatus.VERIFIED,
    last_verified_at=AS_OF - timedelta(days=10),
)
# c2: a bad phone (phone.invalid error), gender "unknown" (not filled), never verified.
C2 = Customer(
    id="c2",
    kind=IND,
    name="李四",
    gender=Gender.UNKNOWN,
    contacts=[Contact(phones=("12345",))],
    source="website",
)
# c3: a minor (born 2015), valid, verified 400 days ago (stale).
C3 = Customer(
    id="c3",
    kind=IND,
    name="王五",
    gender=Gender.FEMALE,
    birth_date=date(2015, 3, 1),
    contacts=[Contact(emails=("ww@example.com",))],
    addresses=[Address(city="上海")],
    owner="s-2",
    category=CustomerCategory.INDIVIDUAL,
    verification=VerificationStatus.VERIFIED,
    last_verified_at=AS_OF - timedelta(days=400),
)
# o1: complete, valid organisation, verified exactly 365 days ago (still fresh: inclusive).
O1 = Customer(
    id="o1",
    kind=ORG,
    name="Acme",
    registered_name="Acme Ltd",
    industry="manufacturing",
    identifiers=[Identifier(scheme=IdentifierScheme.USCC, value="91110000600037341L")],
    contacts=[Contact(name="赵六", phones=("+8613900139000",))],
    addresses=[Address(city="深圳")],
    owner="s-1",
    source="exhibition",
    category=CustomerCategory.COMPANY,
    verification=VerificationStatus.VERIFIED,
    last_verified_at=AS_OF - timedelta(days=365),
)
# o2: no industry and no named contact (two "required" errors, one record), verified "tomorrow"
# (date.future error; stale), a gender although an organisation (kind.field_mismatch warning).
O2 = Customer(
    id="o2",
    kind=ORG,
    name="Beta",
    gender=Gender.MALE,
    identifiers=[Identifier(scheme=IdentifierScheme.EXTERNAL, value="X-1", system="erp")],
    contacts=[Contact(emails=("b@example.com",))],
    verification=VerificationStatus.PENDING_REVIEW,
    last_verified_at=AS_OF + timedelta(days=1),
)
# o3: valid (reachable by WeChat only), no address, no source; a redundant duplicate.
O3 = Customer(
    id="o3",
    kind=ORG,
    name="Gamma",
    registered_name="Gamma Co",
    industry="retail",
    contacts=[Contact(name="钱七", wechat="qian7")],
    owner="s-3",
    category=CustomerCategory.GOVERNMENT,
    verification=VerificationStatus.REJECTED,
    last_verified_at=AS_OF - timedelta(days=1),
)
POPULATION = (C1, C2, C3, O1, O2, O3)

LEDGERS = {
    "c1": ConsentLedger(
        "c1",
        [
            ConsentEvent.grant(
                "c1", ["marketing.email", "profiling"], at=AS_OF - timedelta(days=5), channel=WEB
            )
        ],
    ),
    # the minor granted alone: guardian_required, not allowed
    "c3": ConsentLedger(
        "c3",
        [ConsentEvent.grant("c3", "marketing.email", at=AS_OF - timedelta(days=30), channel=WEB)],
    ),
    # marketing granted then withdrawn; analytics granted
    "o1": ConsentLedger(
        "o1",
        [
            ConsentEvent.grant("o1", "marketing.email", at=AS_OF - timedelta(days=90), channel=WEB),
            ConsentEvent.withdraw(
                "o1", "marketing.email", at=AS_OF - timedelta(days=9), channel=WEB
            ),
            ConsentEvent.grant("o1", "analytics", at=AS_OF - timedelta(days=90), channel=WEB),
        ],
    ),
}
LEDGER_A = ConsentLedger(
    "a", [ConsentEvent.grant("a", "analytics", at=datetime(2010, 1, 1, tzinfo=UTC), channel=WEB)]
)
PURPOSE_CODES = ("marketing.email", "profiling", "analytics", "service")


def generate() -> Iterator[Customer]:
    """The population as a one-shot generator: assess() must not need a second pass."""
    yield from POPULATION


@pytest.fixture(scope="module")
def report() -> QualityReport:
    return assess(
        generate(),
        as_of=AS_OF,
        ledgers=LEDGERS.get,
        purposes=PURPOSE_CODES,
        duplicate_ids={"o3", "not-in-population"},
    )


# --------------------------------------------------------------------------- completeness


def test_completeness_per_field(report: QualityReport) -> None:
    got = {f.field: (f.filled, f.applicable, f.percentage) for f in report.completeness}
    assert got == {
        "name": (6, 6, 100.0),
        "phone": (3, 6, 50.0),  # c1, c2 (present though invalid), o1
        "email": (3, 6, 50.0),  # c1, c3, o2
        "address": (3, 6, 50.0),  # c1, c3, o1 (an address with a city)
        "identifier": (3, 6, 50.0),  # c1 passport, o1 USCC, o2 external
        "owner": (4, 6, 66.67),  # c1, c3, o1, o3
        "source": (3, 6, 50.0),  # c1, c2, o1
        "category": (4, 6, 66.67),  # c1, c3, o1, o3
        "registered_name": (2, 3, 66.67),  # organisations only: o1, o3
        "uscc": (1, 3, 33.33),  # o1
        "industry": (2, 3, 66.67),  # o1, o3
        "contact_name": (2, 3, 66.67),  # o1, o3
        "gender": (2, 3, 66.67),  # individuals only: c1, c3 ("unknown" is not filled)
        "birth_date": (2, 3, 66.67),  # c1, c3
    }
    assert [f.field for f in report.completeness] == list(DEFAULT_FIELDS)


def test_kind_specific_fields_count_over_their_kind_only(report: QualityReport) -> None:
    applies = {f.field: f.applies_to for f in report.completeness}
    assert applies["registered_name"] is ORG
    assert applies["birth_date"] is IND
    assert applies["name"] is None


def test_overall_completeness_sums_filled_over_applicable(report: QualityReport) -> None:
    # filled: 6+3+3+3+3+4+3+4 + 2+1+2+2 + 2+2 = 40; applicable: 8*6 + 4*3 + 2*3 = 66
    assert (report.filled, report.applicable) == (40, 66)
    assert report.overall_completeness == 60.61


def test_fields_selects_and_orders_the_measured_fields() -> None:
    r = assess(POPULATION, as_of=AS_OF, fields=["wechat", "name"])
    assert [(f.field, f.filled, f.applicable) for f in r.completeness] == [
        ("wechat", 1, 6),
        ("name", 6, 6),
    ]
    assert r.overall_completeness == 58.33  # 7 / 12
    assert set(DEFAULT_FIELDS) <= set(FIELDS)


@pytest.mark.parametrize(
    ("fields", "error"),
    [(["nope"], ValueError), (["name", "name"], ValueError), ("name", TypeError)],
)
def test_bad_fields_are_refused(fields: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        assess(POPULATION, as_of=AS_OF, fields=fields)  # type: ignore[arg-type]


def test_blank_strings_do_not_count_as_filled() -> None:
    blank = Customer(kind=IND, name="  ", owner="", contacts=[Contact(phones=(" ",))])
    r = assess([blank], as_of=AS_OF, fields=["name", "owner", "phone"])
    assert [f.filled for f in r.completeness] == [0, 0, 0]


# ------------------------------------------------------------------------------- validity


def test_validity_counts_records_per_code_and_severity(report: QualityReport) -> None:
    assert [(v.code, v.severity, v.records, v.percentage) for v in report.validity] == [
        ("date.future", Severity.ERROR, 1, 16.67),  # o2
        ("phone.invalid", Severity.ERROR, 1, 16.67),  # c2
        ("required", Severity.ERROR, 1, 16.67),  # o2 twice, counted once
        ("kind.field_mismatch", Severity.WARNING, 1, 16.67),  # o2
    ]
    assert report.valid_records == 4  # c1, c3, o1, o3 (warnings do not fail a record)
    assert report.valid_percentage == 66.67


def test_validity_sorts_errors_first_then_most_frequent() -> None:
    r = assess([C2, C2, O2], as_of=AS_OF)
    assert [(v.code, v.records) for v in r.validity][:2] == [
        ("phone.invalid", 2),
        ("date.future", 1),
    ]


def test_validity_uses_the_given_rule_set() -> None:
    lenient = DEFAULT_RULES.with_severity("phone.invalid", "warning").without("dates")
    r = assess(POPULATION, as_of=AS_OF, rules=lenient)
    assert [(v.code, v.severity) for v in r.validity] == [
        ("required", Severity.ERROR),
        ("kind.field_mismatch", Severity.WARNING),
        ("phone.invalid", Severity.WARNING),
    ]
    assert r.valid_records == 5


# ----------------------------------------------------------------------------- duplicates


def test_duplicates_count_population_records_named_redundant(report: QualityReport) -> None:
    assert report.duplicates == 1  # o3; the unknown id is ignored
    assert report.duplicate_percentage == 16.67


def test_duplicates_are_not_computed_without_ids() -> None:
    r = assess(POPULATION, as_of=AS_OF)
    assert r.duplicates is None
    assert r.duplicate_percentage is None
    assert assess(POPULATION, as_of=AS_OF, duplicate_ids=[]).duplicates == 0


# ------------------------------------------------------------------------------ staleness


def test_staleness_and_verification_counts(report: QualityReport) -> None:
    # stale: c2 (never), c3 (400 days), o2 (in the future); o1 at exactly 365 days is fresh
    assert report.stale == 3
    assert report.stale_percentage == 50.0
    assert [(v.status, v.records) for v in report.verification_counts] == [
        (VerificationStatus.UNVERIFIED, 1),
        (VerificationStatus.PENDING_REVIEW, 1),
        (VerificationStatus.VERIFIED, 3),
        (VerificationStatus.REJECTED, 1),
    ]


def test_stale_after_moves_the_window() -> None:
    assert assess(POPULATION, as_of=AS_OF, stale_after=timedelta(days=500)).stale == 2
    assert assess(POPULATION, as_of=AS_OF, stale_after=timedelta(days=364)).stale == 4
    with pytest.raises(ValueError, match="negative"):
        assess(POPULATION, as_of=AS_OF, stale_after=timedelta(days=-1))


# -------------------------------------------------------------------------------- consent


def test_consent_coverage_per_purpose(report: QualityReport) -> None:
    assert report.consent_ledgers == 3  # c1, c3, o1; the others have none: not allowed
    assert [(c.purpose, c.allowed, c.percentage) for c in report.consent] == [
        ("marketing.email", 1, 16.67),  # c1; c3 needs a guardian; o1 withdrew
        ("profiling", 1, 16.67),  # c1
        ("analytics", 1, 16.67),  # o1
        ("service", 0, 0.0),  # consent basis: nobody granted it
    ]


def test_consent_defaults_to_every_catalogue_purpose() -> None:
    r = assess(POPULATION, as_of=AS_OF, ledgers=LEDGERS.get)
    assert [c.purpose for c in r.consent] == list(PURPOSES)


def test_consent_is_not_computed_without_ledgers() -> None:
    r = assess(POPULATION, as_of=AS_OF)
    assert (r.consent, r.consent_ledgers) == ((), None)
    with pytest.raises(ValueError, match="ledgers"):
        assess(POPULATION, as_of=AS_OF, purposes=["analytics"])


def test_a_ledger_of_another_customer_is_refused() -> None:
    with pytest.raises(ValueError, match="another customer"):
        assess([C2], as_of=AS_OF, ledgers=lambda _: LEDGERS["c1"])


# ---------------------------------------------------------------------- edge cases, inputs


def test_empty_population_gives_zeros_not_errors() -> None:
    r = assess([], as_of=AS_OF, ledgers=LEDGERS.get, duplicate_ids=())
    assert r.total == 0
    assert all(f.applicable == 0 and f.percentage == 0.0 for f in r.completeness)
    assert (r.overall_completeness, r.valid_percentage, r.stale_percentage) == (0.0, 0.0, 0.0)
    assert (r.duplicates, r.duplicate_percentage) == (0, 0.0)
    assert r.validity == ()
    assert all(c.percentage == 0.0 for c in r.consent)
    assert all(v.percentage == 0.0 for v in r.verification_counts)
    assert "0 customers" in r.to_table()
    json.dumps(r.to_dict())


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assess(POPULATION, as_of=datetime(2025, 6, 30))


def test_any_timezone_is_accepted() -> None:
    beijing = AS_OF.astimezone(timezone(timedelta(hours=8)))
    assert assess(POPULATION, as_of=beijing).stale == 3


def test_only_customers_are_assessed() -> None:
    with pytest.raises(TypeError, match="Customer"):
        assess([object()], as_of=AS_OF)  # type: ignore[list-item]


def test_report_is_frozen_and_keyword_only(report: QualityReport) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.total = 7  # type: ignore[misc]
    with pytest.raises(TypeError):
        QualityReport(AS_OF)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------- outputs


def test_to_dict_round_trips_through_json(report: QualityReport) -> None:
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["total"] == 6
    assert data["as_of"] == "2025-06-30T00:00:00+00:00"
    assert data["completeness"]["overall"] == 60.61
    assert data["completeness"]["fields"][8] == {
        "field": "registered_name",
        "applies_to": "organization",
        "filled": 2,
        "applicable": 3,
        "percentage": 66.67,
    }
    assert data["validity"]["valid_records"] == 4
    assert data["validity"]["issues"][0] == {
        "code": "date.future",
        "severity": "error",
        "records": 1,
        "percentage": 16.67,
    }
    assert data["duplicates"] == {"records": 1, "percentage": 16.67}
    assert data["staleness"]["stale_after_days"] == 365.0
    assert data["staleness"]["stale"] == 3
    assert data["consent"]["customers_with_ledger"] == 3
    assert data["consent"]["purposes"][0] == {
        "purpose": "marketing.email",
        "allowed": 1,
        "percentage": 16.67,
    }


def test_to_dict_marks_measures_not_computed() -> None:
    data = assess(POPULATION, as_of=AS_OF).to_dict()
    assert data["duplicates"] is None
    assert data["consent"] is None


def test_to_table_has_every_section_with_counts_and_shares(report: QualityReport) -> None:
    table = report.to_table()
    lines = table.splitlines()
    assert lines[0] == "Data quality as of 2025-06-30T00:00:00+00:00: 6 customers"
    for title in ("COMPLETENESS", "VALIDITY", "DUPLICATES", "STALENESS", "CONSENT"):
        assert any(line.startswith(title) for line in lines)
    rows = {line.rsplit(maxsplit=3)[0].strip(): line.split()[-3:] for line in lines[1:] if line}
    assert rows["registered_name (organizations)"] == ["2", "3", "66.7%"]
    assert rows["overall"] == ["40", "66", "60.6%"]
    assert rows["without errors"] == ["4", "6", "66.7%"]
    assert rows["error   phone.invalid"] == ["1", "6", "16.7%"]
    assert rows["redundant duplicates"] == ["1", "6", "16.7%"]
    assert rows["not verified within 365 days"] == ["3", "6", "50.0%"]
    assert rows["status verified"] == ["3", "6", "50.0%"]
    assert rows["allowed marketing.email"] == ["1", "6", "16.7%"]


def test_to_table_columns_are_aligned(report: QualityReport) -> None:
    numbered = [line for line in report.to_table().splitlines() if line.endswith("%")]
    assert len({len(line) for line in numbered}) == 1


def test_to_table_says_what_was_not_computed() -> None:
    table = assess(POPULATION, as_of=AS_OF).to_table()
    assert "not computed (no duplicate ids given)" in table
    assert "not computed (no ledgers given)" in table


def test_no_personal_data_in_the_report(report: QualityReport) -> None:
    text = report.to_table() + json.dumps(report.to_dict(), ensure_ascii=False) + repr(report)
    for secret in (
        "张三",
        "赵六",
        "qian7",
        "+8613800138000",
        "zs@example.com",
        "E12345678",
        "北京",
    ):
        assert secret not in text
    assert "91110000600037341L" not in text


# ------------------------------------------------------------------------------ property

_texts = st.none() | st.sampled_from(["", " ", "x", "Acme", "张三"])
_phones = st.sampled_from(["+8613800138000", "12345", "", "138 0013 8000"])
_emails = st.sampled_from(["zs@example.com", "not-an-email", ""])
_instants = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
_contacts = st.builds(
    Contact,
    name=_texts,
    phones=st.lists(_phones, max_size=2),
    emails=st.lists(_emails, max_size=2),
    wechat=_texts,
)
_identifiers = st.builds(
    Identifier,
    scheme=st.sampled_from([s.value for s in IdentifierScheme]),
    value=st.sampled_from(["91110000600037341L", "11010519491231002X", "E1", "", "bad"]),
    system=st.none() | st.just("erp"),
)
_customers = st.builds(
    Customer,
    id=st.sampled_from(["a", "b", "c", "d"]),
    kind=st.sampled_from(CustomerKind),
    name=st.sampled_from(["", "Li", "Acme"]),
    registered_name=_texts,
    gender=st.none() | st.sampled_from(Gender),
    birth_date=st.none() | st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 1, 1)),
    industry=_texts,
    identifiers=st.lists(_identifiers, max_size=2),
    contacts=st.lists(_contacts, max_size=2),
    addresses=st.lists(st.builds(Address, city=_texts), max_size=2),
    category=st.none() | st.sampled_from(CustomerCategory),
    owner=_texts,
    source=_texts,
    last_verified_at=_instants,
    verification=st.sampled_from(VerificationStatus),
)


@settings(max_examples=60, deadline=None)
@given(
    customers=st.lists(_customers, max_size=8),
    as_of=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    stale_days=st.integers(0, 4000),
    duplicate_ids=st.none() | st.frozensets(st.sampled_from(["a", "b", "x"])),
)
def test_assess_never_crashes_and_percentages_stay_in_range(
    customers: list[Customer],
    as_of: datetime,
    stale_days: int,
    duplicate_ids: frozenset[str] | None,
) -> None:
    r = assess(
        customers,
        as_of=as_of,
        stale_after=timedelta(days=stale_days),
        duplicate_ids=duplicate_ids,
        ledgers=lambda customer_id: LEDGER_A if customer_id == "a" else None,
    )
    assert r.total == len(customers)
    shares = [r.overall_completeness, r.valid_percentage, r.stale_percentage]
    shares += [f.percentage for f in r.completeness]
    shares += [v.percentage for v in r.validity]
    shares += [v.percentage for v in r.verification_counts]
    shares += [c.percentage for c in r.consent]
    if r.duplicate_percentage is not None:
        shares.append(r.duplicate_percentage)
    assert all(0.0 <= share <= 100.0 for share in shares)
    assert all(f.filled <= f.applicable <= r.total for f in r.completeness)
    assert sum(v.records for v in r.verification_counts) == r.total
    assert 0 <= r.valid_records <= r.total and 0 <= r.stale <= r.total
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()
    assert r.to_table()
