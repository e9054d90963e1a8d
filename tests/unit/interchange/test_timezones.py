"""Import time zones: UTC, fixed offsets and IANA names; local times converted with summer time,
the repeated hour read as its first instant, the skipped hour refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import ConversionError, MappingError
from custrec.interchange import ImportMapping, Outcome, plan_import
from custrec.interchange.convert import parse_datetime, parse_timezone
from custrec.interchange.zones import calendar_zone, parse_zone

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = (
    "Europe/Berlin",
    "Asia/Shanghai",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",  # a half-hour shift
    "Asia/Kolkata",
    "Pacific/Apia",  # skipped a whole day in 2011
    "UTC",
)
ADMIN = Actor(id="ops", roles={"admin", "unmask"})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        (" America/Argentina/Buenos_Aires ", "America/Argentina/Buenos_Aires"),
        ("Etc/GMT-8", "Etc/GMT-8"),
    ],
)
def test_iana_names_are_zones(text: str, key: str) -> None:
    zone = parse_timezone(text)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == key


@pytest.mark.parametrize(
    ("text", "hours"),
    [("UTC", 0), ("Z", 0), ("+08:00", 8), ("UTC+8", 8), ("-0530", -5.5), ("GMT-3", -3)],
)
def test_utc_and_fixed_offsets_keep_working(text: str, hours: float) -> None:
    zone = parse_timezone(text)
    assert zone.utcoffset(None) == timedelta(hours=hours)


@pytest.mark.parametrize(
    "text",
    [
        "Mars/Olympus_Mons",
        "Berlin",
        "../../etc/passwd",
        "/etc/localtime",
        "zone.tab",
        "Europe/",
        "Asia/Shanghai; DROP",
        "+25:00",
        "张伟 13800138000",
        "",
        "x" * 500,
    ],
)
def test_anything_else_is_a_typed_error_that_does_not_repeat_the_value(text: str) -> None:
    with pytest.raises(ConversionError) as excinfo:
        parse_timezone(text)
    assert excinfo.value.code == "timezone.format"
    if text.strip():
        assert text.strip() not in str(excinfo.value)


def test_a_mapping_takes_a_zone_name_and_refuses_an_unknown_one() -> None:
    mapping = ImportMapping.from_dict({"timezone": "Europe/Berlin"})
    assert mapping.tz == BERLIN
    assert mapping.to_dict()["timezone"] == "Europe/Berlin"
    with pytest.raises(MappingError) as excinfo:
        ImportMapping.from_dict({"timezone": "Europe/Atlantis"})
    assert excinfo.value.key == "timezone"
    assert "Atlantis" not in str(excinfo.value)


def test_berlin_local_times_follow_summer_time() -> None:
    assert parse_datetime("2024-01-15 12:00", tz=BERLIN) == utc(2024, 1, 15, 11)
    assert parse_datetime("2024-07-15 12:00", tz=BERLIN) == utc(2024, 7, 15, 10)
    # an explicit offset in the value wins over the zone
    assert parse_datetime("2024-07-15T12:00+08:00", tz=BERLIN) == utc(2024, 7, 15, 4)


def test_the_hour_repeated_in_autumn_is_read_as_its_first_instant() -> None:
    # 27 October 2024: 03:00 CEST became 02:00 CET, so 02:00-02:59 happened twice
    assert parse_datetime("2024-10-27 01:59", tz=BERLIN) == utc(2024, 10, 26, 23, 59)
    assert parse_datetime("2024-10-27 02:00", tz=BERLIN) == utc(2024, 10, 27, 0, 0)  # CEST
    assert parse_datetime("2024-10-27 02:59", tz=BERLIN) == utc(2024, 10, 27, 0, 59)  # CEST
    assert parse_datetime("2024-10-27 03:00", tz=BERLIN) == utc(2024, 10, 27, 2, 0)  # CET


@pytest.mark.parametrize("text", ["2024-03-31 02:00", "2024-03-31 02:30", "2024-03-31T02:59:59"])
def test_the_hour_skipped_in_spring_is_refused(text: str) -> None:
    # 31 March 2024: 02:00 CET became 03:00 CEST; no clock in Berlin showed 02:xx
    with pytest.raises(ConversionError) as excinfo:
        parse_datetime(text, tz=BERLIN)
    assert excinfo.value.code == "datetime.nonexistent"
    assert parse_datetime("2024-03-31 01:59", tz=BERLIN) == utc(2024, 3, 31, 0, 59)
    assert parse_datetime("2024-03-31 03:00", tz=BERLIN) == utc(2024, 3, 31, 1, 0)


def test_a_plain_date_whose_midnight_was_skipped_means_the_first_instant_of_the_day() -> None:
    santiago = ZoneInfo("America/Santiago")  # 8 September 2024: 00:00 -04 became 01:00 -03
    assert parse_datetime("2024-09-08", tz=santiago) == utc(2024, 9, 8, 4)
    assert parse_datetime("2024-09-09", tz=santiago) == utc(2024, 9, 9, 3)
    with pytest.raises(ConversionError):
        parse_datetime("2024-09-08 00:30", tz=santiago)


def brute_force(local: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every UTC instant, on the minute, that ``zone`` shows as ``local`` (searched over two
    days around it)."""
    start = local.replace(tzinfo=UTC) - timedelta(hours=26)
    hits = []
    for minutes in range(0, 52 * 60, 15):
        instant = start + timedelta(minutes=minutes)
        if instant.astimezone(zone).replace(tzinfo=None) == local:
            hits.append(instant)
    return hits


@given(
    zone_name=st.sampled_from(ZONES),
    local=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2035, 12, 31)).map(
        lambda d: d.replace(minute=d.minute // 15 * 15, second=0, microsecond=0)
    ),
)
def test_a_local_time_is_its_first_instant_or_refused_when_there_is_none(
    zone_name: str, local: datetime
) -> None:
    zone = ZoneInfo(zone_name)
    candidates = brute_force(local, zone)
    text = local.isoformat(sep=" ")
    if not candidates:
        with pytest.raises(ConversionError) as excinfo:
            parse_datetime(text, tz=parse_timezone(zone_name))
        assert excinfo.value.code == "datetime.nonexistent"
    else:
        assert parse_datetime(text, tz=parse_timezone(zone_name)) == min(candidates)


@given(
    minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    local=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30)),
)
def test_a_fixed_offset_moves_every_local_time_by_that_offset(
    minutes: int, local: datetime
) -> None:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    zone = parse_timezone(f"{sign}{hours:02d}:{rest:02d}")
    assert zone == timezone(timedelta(minutes=minutes))
    expected = (local - timedelta(minutes=minutes)).replace(tzinfo=UTC)
    assert parse_datetime(local.isoformat(), tz=zone) == expected


@given(name=st.text(max_size=40))
def test_any_text_is_a_zone_or_a_typed_error(name: str) -> None:
    codes: list[str] = []
    try:
        zone = parse_timezone(name)
    except ConversionError as exc:
        codes.append(exc.code)
    else:
        assert zone.utcoffset(datetime(2024, 6, 1)) is not None
    assert codes in ([], ["timezone.format"])


def test_an_import_reads_local_times_in_the_mapping_zone_and_reports_a_skipped_one() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    mapping = ImportMapping.from_dict(
        {
            "timezone": "Europe/Berlin",
            "defaults": {"kind": "individual"},
            "columns": {
                "名称": "name",
                "手机": "contacts[0].phones[0]",
                "核实": "last_verified_at",
            },
        }
    )
    rows = [
        {"名称": "客户一", "手机": "13900000001", "核实": "2024-07-01 09:00"},
        {"名称": "客户二", "手机": "13900000002", "核实": "2024-10-27 02:30"},
        {"名称": "客户三", "手机": "13900000003", "核实": "2024-03-31 02:30"},
    ]
    report = plan_import(rows, mapping, registry, actor=ADMIN, import_id="zones", dry_run=False)
    assert report.counts[Outcome.CREATED] == 2
    assert report.counts[Outcome.REJECTED] == 1
    assert [(i.row, i.code) for i in report.issues] == [(3, "datetime.nonexistent")]
    stored = {
        c.name: c.last_verified_at for b in registry.customers.batches(actor=ADMIN) for c in b
    }
    assert stored == {
        "客户一": utc(2024, 7, 1, 7),
        "客户二": utc(2024, 10, 27, 0, 30),
    }


@given(st.integers(-12, 14), st.datetimes(timezones=st.just(UTC)))
def test_a_whole_hour_offset_counts_days_as_its_etc_zone_does(hours: int, at: datetime) -> None:
    text = f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"
    zone = parse_zone(text)
    name = calendar_zone(zone)
    if hours == 0:
        assert name is None  # UTC's days: the rules' default
    else:
        assert name is not None
        assert at.astimezone(ZoneInfo(name)).date() == at.astimezone(zone).date()


def test_an_offset_no_iana_zone_has_leaves_the_days_in_utc() -> None:
    assert calendar_zone(parse_zone("+05:30")) is None
    assert calendar_zone(parse_zone("-13:00")) is None  # no Etc/GMT+13
    assert calendar_zone(parse_zone("+14:00")) == "Etc/GMT-14"
    assert calendar_zone(parse_zone("UTC")) is None
    assert calendar_zone(parse_zone("Asia/Kolkata")) == "Asia/Kolkata"
