"""Time zones as people write them: ``UTC``, a fixed offset (``+08:00``, ``UTC+8``) or an IANA
name (``Asia/Shanghai``, ``Europe/Berlin``) read through :mod:`zoneinfo`.

>>> parse_zone("+08:00")
datetime.timezone(datetime.timedelta(seconds=28800))
>>> str(parse_zone("Asia/Shanghai"))
'Asia/Shanghai'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from custrec.errors import ConversionError
from custrec.interchange.convert import parse_timezone

__all__ = ["parse_zone", "zone_name"]

_IANA: Final = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_MAX_NAME: Final = 64


def parse_zone(value: str) -> tzinfo:
    """``UTC``, a fixed offset or an IANA zone name as a :class:`~datetime.tzinfo`.

    Raises :class:`~custrec.errors.ConversionError` (``timezone.format``) for anything else,
    an IANA-shaped name the time-zone database does not know included; the message never
    repeats the value.
    """
    if not isinstance(value, str):
        raise ConversionError("timezone.format", "a time zone must be text")
    text = value.strip()
    try:
        return parse_timezone(text)
    except ConversionError:
        pass
    if len(text) > _MAX_NAME or _IANA.fullmatch(text) is None or ".." in text:
        raise ConversionError(
            "timezone.format",
            "expected UTC, an offset such as +08:00 or a zone name such as Asia/Shanghai",
        )
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConversionError(
            "timezone.format", "not a time zone known to the time-zone database"
        ) from None


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
