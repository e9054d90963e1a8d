"""Time zones as people write them: ``UTC``, a fixed offset (``+08:00``, ``UTC+8``) or an IANA
name (``Asia/Shanghai``, ``Europe/Berlin``) read through :mod:`zoneinfo`.

>>> parse_zone("+08:00")
datetime.timezone(datetime.timedelta(seconds=28800))
>>> str(parse_zone("Asia/Shanghai"))
'Asia/Shanghai'
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from custrec.errors import ConversionError
from custrec.interchange.convert import parse_timezone

__all__ = ["calendar_zone", "local_instant", "parse_zone", "zone_name"]


def parse_zone(value: str) -> tzinfo:
    """``UTC``, a fixed offset or an IANA zone name as a :class:`~datetime.tzinfo`: what
    :func:`~custrec.interchange.convert.parse_timezone` reads (mappings use the same).

    Raises :class:`~custrec.errors.ConversionError` (``timezone.format``) for anything else,
    an IANA-shaped name the time-zone database does not know included; the message never
    repeats the value.
    """
    if not isinstance(value, str):
        raise ConversionError("timezone.format", "a time zone must be text")
    return parse_timezone(value)


def local_instant(value: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of the naive local time ``value`` in ``zone``, as mappings read one:
    a time repeated when the clocks go back is its first instant; a time the clocks skip
    raises :class:`~custrec.errors.ConversionError` (``datetime.nonexistent``).

    >>> from zoneinfo import ZoneInfo
    >>> local_instant(datetime(2025, 10, 26, 2, 30), ZoneInfo("Europe/Berlin")).isoformat()
    '2025-10-26T00:30:00+00:00'
    """
    placed = value.replace(tzinfo=zone, fold=0)
    back = placed.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None, fold=0) != value.replace(fold=0):
        raise ConversionError(
            "datetime.nonexistent", "that local time does not exist (the clocks skip it)"
        )
    return placed.astimezone(UTC)


def calendar_zone(zone: tzinfo) -> str | None:
    """The IANA name that counts days as ``zone`` (from :func:`parse_zone`) does: its own name,
    ``Etc/GMT-8`` for ``+08:00`` (whole hours only, as the ``Etc`` zones go; their sign is the
    other way round), ``None`` for UTC or an offset no IANA zone has (days stay UTC's).

    >>> calendar_zone(parse_zone("Asia/Shanghai")), calendar_zone(parse_zone("+08:00"))
    ('Asia/Shanghai', 'Etc/GMT-8')
    """
    if isinstance(zone, ZoneInfo):
        return None if zone.key == "UTC" else zone.key
    offset = zone.utcoffset(None)
    if offset is None or not offset:
        return None
    seconds = int(offset.total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    if rest or hours > (14 if seconds > 0 else 12):  # the Etc zones run from -14 to +12
        return None
    return f"Etc/GMT{'-' if seconds > 0 else '+'}{hours}"


def zone_name(zone: tzinfo) -> str:
    """How a zone from :func:`parse_zone` is shown: its IANA name, ``UTC`` or ``+08:00``."""
    if isinstance(zone, ZoneInfo):
        return zone.key
    offset = zone.utcoffset(datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None))
    if offset is None or not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"
