"""Time zones as people write them, and the activity import's mapping and row reader, checked
over arbitrary input against brute-force expectations."""

from __future__ import annotations

import argparse
import io
import json
import warnings
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import Actor, MemoryStore, PlaintextStorageWarning, Registry
from custrec.cli import load_schedule
from custrec.cli._support import _Failure, _in_zone, _instant, _zone
from custrec.errors import ConversionError, MappingError
from custrec.interchange.activities import (
    ActivityMapping,
    ActivityOutcome,
    import_activities,
)
from custrec.interchange.readers import open_source
from custrec.interchange.zones import local_instant, parse_zone, zone_name

ZONES = sorted(zoneinfo.available_timezones())
OPS = Actor(id="ops", roles={"admin"})


# ------------------------------------------------------------------------------- zones


@given(st.text(max_size=40))
def test_any_text_is_a_zone_or_a_conversion_error_that_does_not_repeat_it(text: str) -> None:
    problem: ConversionError | None = None
    try:
        zone = parse_zone(text)
    except ConversionError as exc:
        problem = exc
    if problem is None:
        assert zone.utcoffset(datetime(2024, 1, 1)) is not None
        return
    assert problem.code == "timezone.format"
    if len(text.strip()) > 3:
        assert text.strip() not in problem.message


@given(st.sampled_from(["+", "-"]), st.integers(0, 23), st.integers(0, 59), st.booleans())
def test_fixed_offsets(sign: str, hours: int, minutes: int, utc_prefix: bool) -> None:
    text = f"{'UTC' if utc_prefix else ''}{sign}{hours:02d}:{minutes:02d}"
    expected = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
    assert parse_zone(text).utcoffset(None) == expected
    assert parse_zone(zone_name(parse_zone(text))).utcoffset(None) == expected


@settings(max_examples=200)
@given(st.sampled_from(ZONES))
def test_every_iana_name_is_read_through_zoneinfo(name: str) -> None:
    zone, reference = parse_zone(name), zoneinfo.ZoneInfo(name)
    for instant in (datetime(2024, 1, 15, 12), datetime(2024, 7, 15, 12)):
        assert zone.utcoffset(instant) == reference.utcoffset(instant)
    if isinstance(zone, zoneinfo.ZoneInfo):
        assert zone.key == name and zone_name(zone) == name
    else:  # UTC, GMT, GMT+0 and friends read as the fixed offset they are
        assert reference.utcoffset(datetime(2024, 1, 15)) == timedelta(0)


@pytest.mark.parametrize("text", ["Mars/Base", "Asia/", "../etc/passwd", "/etc/localtime", ""])
def test_names_the_database_lacks_are_refused(text: str) -> None:
    with pytest.raises(ConversionError):
        parse_zone(text)
    with pytest.raises(argparse.ArgumentTypeError):
        _zone(text)


def brute_force_instant(value: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The first UTC instant whose local time in ``zone`` is ``value``, by trying every offset
    the zone uses within a day of it (``None``: the clocks skip that local time)."""
    offsets = set()
    for hours in range(-30, 31):
        probe = (value + timedelta(hours=hours)).replace(tzinfo=UTC).astimezone(zone)
        offsets.add(probe.utcoffset())
    found = [
        (value - offset).replace(tzinfo=UTC)
        for offset in offsets
        if offset is not None
        and (value - offset).replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None) == value
    ]
    return min(found) if found else None


@given(
    st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2100, 1, 1)),
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
def test_a_naive_instant_is_read_in_the_zone_like_a_brute_force(value: datetime, name: str) -> None:
    zone = zoneinfo.ZoneInfo(name)
    expected = brute_force_instant(value, zone)
    if expected is None:
        with pytest.raises(ConversionError):
            local_instant(value, zone)
        with pytest.raises(_Failure):
            _in_zone(value, zone)
        return
    assert local_instant(value, zone) == expected == _in_zone(value, zone)
    aware = value.replace(tzinfo=timezone(timedelta(hours=3)))
    assert _in_zone(aware, zone) == aware  # an offset given wins over the zone


@given(
    st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2100, 1, 1)),
    st.sampled_from(["UTC", "+08:00", "-05:30"]),
)
def test_fixed_zones_never_skip(value: datetime, name: str) -> None:
    zone = parse_zone(name)
    assert _in_zone(value, zone) == value.replace(tzinfo=zone).astimezone(UTC)


def test_as_of_texts() -> None:
    assert _instant("2025-01-31") == datetime(2025, 1, 31)
    assert _instant("2025-01-31T18:00+08:00").utcoffset() == timedelta(hours=8)
    with pytest.raises(argparse.ArgumentTypeError):
        _instant("someday")


def test_a_schedule_may_name_an_iana_zone(tmp_path: Path) -> None:
    schedule = tmp_path / "s.toml"
    schedule.write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    assert load_schedule(schedule) is not None
    schedule.write_text('timezone = "Mars/Base"\n', encoding="utf-8")
    with pytest.raises(_Failure):
        load_schedule(schedule)


# ---------------------------------------------------------------------------- the mapping


@given(
    st.dictionaries(
        st.sampled_from(["kind", "timezone", "columns", "values", "defaults", "currency", "x"]),
        st.one_of(
            st.text(max_size=12),
            st.integers(),
            st.none(),
            st.dictionaries(st.text(max_size=8), st.text(max_size=30), max_size=3),
        ),
        max_size=6,
    )
)
def test_any_mapping_document_is_read_or_refused_with_a_mapping_error(
    data: dict[str, object],
) -> None:
    try:
        mapping = ActivityMapping.from_dict(data)
    except MappingError:
        return
    assert mapping.kind in ("transaction", "interaction")
    assert ActivityMapping.from_dict(mapping.to_dict()) == mapping


# ------------------------------------------------------------------------------ the rows


def registry_with_one_customer() -> tuple[Registry, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(MemoryStore())
    customer = registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=OPS,
    )
    return registry, customer.id


CELLS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["2024-05-06", "2024/05/06 10:00", "¥1,200", "1.5万", "USD 3", "", "-", "1000000000000000"]
    ),
)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_amount_the_store_cannot_hold_rejects_its_row_and_the_import_goes_on(
    dry_run: bool,
) -> None:
    registry, customer_id = registry_with_one_customer()
    lines = [
        {"customer_id": customer_id, "occurred_at": "2024-05-06", "amount": amount}
        for amount in ("100", "1000000000000000", "-922337203685477.5808", "922337203685477.5807")
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    with open_source(io.BytesIO(data), name="rows.jsonl") as source:
        report = import_activities(
            source,
            None,
            registry,
            actor=OPS,
            import_id="big",
            kind="transaction",
            dry_run=dry_run,
        )
    assert [(i.row, i.code) for i in report.issues] == [(2, "amount.range"), (3, "amount.range")]
    done = ActivityOutcome.READY if dry_run else ActivityOutcome.RECORDED
    assert report.counts[done.value] == 2
    assert report.counts[ActivityOutcome.REJECTED.value] == 2


@settings(max_examples=40)
@given(st.lists(st.tuples(st.booleans(), CELLS, CELLS, CELLS), min_size=1, max_size=8))
def test_every_row_gets_one_outcome_and_no_issue_repeats_a_cell(
    rows: list[tuple[bool, str, str, str]],
) -> None:
    registry, customer_id = registry_with_one_customer()
    lines = [
        {
            "customer_id": customer_id if known else "nobody",
            "occurred_at": when,
            "amount": amount,
            "product": product,
        }
        for known, when, amount, product in rows
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    with open_source(io.BytesIO(data), name="rows.jsonl") as source:
        report = import_activities(
            source, None, registry, actor=OPS, import_id="prop", kind="transaction"
        )
    assert report.rows == len(rows) == sum(report.counts.values())
    recorded = report.counts[ActivityOutcome.RECORDED.value]
    assert recorded == len(registry.activities.list(customer_id, actor=OPS))
    for issue in report.issues:
        assert issue.value is None
        for _, when, amount, product in rows:
            for cell in (when, amount, product):
                if len(cell) > 6:
                    assert cell not in issue.message
    expected_rejected = {i.row for i in report.issues}
    assert len(expected_rejected) == report.counts[ActivityOutcome.REJECTED.value]
    with open_source(io.BytesIO(data), name="rows.jsonl") as source:
        again = import_activities(
            source, None, registry, actor=OPS, import_id="prop", kind="transaction"
        )
    assert again.counts[ActivityOutcome.RECORDED.value] == 0
    assert again.counts[ActivityOutcome.ALREADY_IMPORTED.value] == recorded


AMOUNT_AND_CURRENCY = ActivityMapping.from_dict(
    {
        "kind": "transaction",
        "columns": {
            "customer_id": "customer.id",
            "occurred_at": "occurred_at",
            "amount": "amount",
            "currency": "currency",
        },
    }
)


def test_a_currency_column_reads_rmb_and_chinese_names_as_cny() -> None:
    registry, customer_id = registry_with_one_customer()
    mapping = AMOUNT_AND_CURRENCY
    rows = [("100", "RMB"), ("RMB 100", ""), ("100", "人民币"), ("100", "usd")]
    data = "customer_id,occurred_at,amount,currency\n" + "".join(
        f"{customer_id},2024-05-0{day},{amount},{currency}\n"
        for day, (amount, currency) in enumerate(rows, start=1)
    )
    with open_source(io.BytesIO(data.encode()), name="rows.csv") as source:
        report = import_activities(
            source, mapping, registry, actor=OPS, import_id="rmb", kind="transaction"
        )
    assert report.issues == ()
    recorded = registry.activities.list(customer_id, actor=OPS)
    assert sorted(t.amount.currency for t in recorded) == ["CNY", "CNY", "CNY", "USD"]


def test_an_amount_in_another_currency_than_its_currency_column_is_refused() -> None:
    registry, customer_id = registry_with_one_customer()
    mapping = AMOUNT_AND_CURRENCY
    rows = [("US$ 12", "CNY"), ("US$ 13", "USD"), ("¥14", "RMB"), ("15", "CNY"), ("€16", "")]
    data = "customer_id,occurred_at,amount,currency\n" + "".join(
        f"{customer_id},2024-05-0{day},{amount},{currency}\n"
        for day, (amount, currency) in enumerate(rows, start=1)
    )
    with open_source(io.BytesIO(data.encode()), name="rows.csv") as source:
        report = import_activities(
            source, mapping, registry, actor=OPS, import_id="mixed", kind="transaction"
        )
    (issue,) = report.issues  # the first row: never stored as 12 CNY
    assert issue.code == "money.currency" and "USD" in issue.message and "CNY" in issue.message
    recorded = registry.activities.list(customer_id, actor=OPS)
    assert sorted((str(t.amount.amount), t.amount.currency) for t in recorded) == [
        ("13", "USD"),
        ("14", "CNY"),
        ("15", "CNY"),
        ("16", "EUR"),
    ]


def test_a_default_currency_does_not_override_the_currency_an_amount_names() -> None:
    registry, customer_id = registry_with_one_customer()
    mapping = ActivityMapping.from_dict(
        {
            "kind": "transaction",
            "columns": {"customer_id": "customer.id", "occurred_at": "occurred_at"},
            "defaults": {"currency": "CNY"},
        }
    )
    mapping = ActivityMapping.from_dict(
        {**mapping.to_dict(), "columns": {**mapping.to_dict()["columns"], "amount": "amount"}}
    )
    data = f"customer_id,occurred_at,amount\n{customer_id},2024-05-01,US$ 12\n"
    data += f"{customer_id},2024-05-02,12\n"
    with open_source(io.BytesIO(data.encode()), name="rows.csv") as source:
        report = import_activities(
            source, mapping, registry, actor=OPS, import_id="dflt", kind="transaction"
        )
    assert report.issues == ()
    recorded = registry.activities.list(customer_id, actor=OPS)
    assert sorted(t.amount.currency for t in recorded) == ["CNY", "USD"]


def test_a_mapping_currency_of_rmb_is_refused_with_its_code() -> None:
    with pytest.raises(MappingError, match="use CNY"):
        ActivityMapping.from_dict(
            {"kind": "transaction", "currency": "RMB", "columns": {"客户": "customer.id"}}
        )


def test_a_mapping_without_columns_reads_field_name_headers_with_its_settings() -> None:
    registry, customer_id = registry_with_one_customer()
    mapping = ActivityMapping.from_dict({"kind": "transaction", "timezone": "Asia/Shanghai"})
    assert mapping.native
    assert ActivityMapping.from_dict(mapping.to_dict()) == mapping
    data = f"customer_id,occurred_at,amount\n{customer_id},2024-05-06 07:30,100\n".encode()
    with open_source(io.BytesIO(data), name="rows.csv") as source:
        report = import_activities(
            source, mapping, registry, actor=OPS, import_id="tz", kind="transaction"
        )
    assert report.issues == ()
    (recorded,) = registry.activities.list(customer_id, actor=OPS)
    assert recorded.occurred_at == datetime(2024, 5, 5, 23, 30, tzinfo=UTC)  # 07:30 in Shanghai


def test_rejected_rows_are_reported_and_written_in_file_order(tmp_path: Path) -> None:
    registry, customer_id = registry_with_one_customer()
    rows = [
        (customer_id, "not a date"),  # 1: conversion fails while reading
        ("nobody", "2024-05-06"),  # 2: no such customer, found later
        (customer_id, "2024-05-07"),  # 3: recorded
        (customer_id, "yesterday"),  # 4: conversion fails while reading
    ]
    data = "customer_id,occurred_at,amount\n" + "".join(f"{c},{d},100\n" for c, d in rows)
    errors = tmp_path / "rows.errors.csv"
    with open_source(io.BytesIO(data.encode()), name="rows.csv") as source:
        report = import_activities(
            source,
            None,
            registry,
            actor=OPS,
            import_id="order",
            kind="transaction",
            errors_path=errors,
        )
    assert [i.row for i in report.issues] == [1, 2, 4]
    written = errors.read_text(encoding="utf-8").splitlines()[1:]
    assert [line.split(",", 1)[0] for line in written] == ["1", "2", "4"]
