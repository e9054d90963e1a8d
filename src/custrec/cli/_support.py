"""What every command shares: exit codes, failures, the progress bar, the keys, the registry
and the actor, and the parsers of argument values."""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import IO, Final

from custrec.backends import MemoryStore, SQLiteStore
from custrec.errors import ConversionError
from custrec.interchange.zones import local_instant, parse_zone
from custrec.registry import Registry
from custrec.security import Actor, InsecureKeyFile, KeyConfigurationError, KeyRing, KeyUnavailable
from custrec.storage import Store
from custrec.workflow import DEFAULT_RULES, WorkflowSettings, in_zone

EXIT_OK: Final = 0
EXIT_PROBLEMS: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONFIG: Final = 3
EXIT_DENIED: Final = 4
EXIT_STORAGE: Final = 5
EXIT_INTERRUPTED: Final = 130
EXIT_PIPE: Final = 141  # 128 + SIGPIPE, as a shell reports a tool stopped by a closed pipe

KEY_FILE_VARIABLE: Final = "CUSTREC_KEY_FILE"
DB_VARIABLE: Final = "CUSTREC_DB"
ACTOR_VARIABLE: Final = "CUSTREC_ACTOR"


class _Failure(Exception):
    """A command failed in a way the user can act on: a message and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- progress bar


class ProgressBar:
    """A one-line progress indicator on a text stream: rows, rows/s, share done and an ETA.

    ``unit`` names what is counted (``rows``, ``customers``, ``keys``). ``total`` is the work
    in units of ``position`` (bytes of the file, or the items themselves), when known. Updates are
    drawn at most every ``interval`` seconds; :meth:`close` ends the line. Nothing is drawn when
    ``enabled`` is false.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        label: str,
        unit: str = "rows",
        total: int | None = None,
        enabled: bool = True,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self._unit = unit
        self._total = total if total and total > 0 else None
        self._enabled = enabled
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last = -1.0
        self._drawn = False

    def line(self, rows: int, position: int | None = None) -> str:
        """The text drawn for ``rows`` done (and ``position`` of ``total``)."""
        elapsed = max(self._clock() - self._start, 1e-9)
        rate = rows / elapsed
        text = f"{self._label}: {rows:,} {self._unit}  {rate:,.0f} {self._unit}/s"
        if self._total is not None and position is not None:
            share = min(max(position / self._total, 0.0), 1.0)
            text += f"  {share:4.0%}"
            if 0 < share < 1:
                remaining = elapsed * (1 - share) / share
                text += f"  ETA {timedelta(seconds=round(remaining))}"
        return text

    def update(self, rows: int, position: int | None = None) -> None:
        """Redraw if enabled and the interval has passed."""
        if not self._enabled:
            return
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        self._stream.write("\r" + self.line(rows, position).ljust(72))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the progress line."""
        if self._enabled and self._drawn:
            self._stream.write("\n")
            self._stream.flush()


# ------------------------------------------------------------------------------- helpers


def _default_actor() -> str:
    named = os.environ.get(ACTOR_VARIABLE, "").strip()
    if named:
        return named
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _load_keyring(path: str | None) -> KeyRing:
    """Keys from ``--keys``, ``CUSTREC_KEY_FILE`` or the environment variables, in that order."""
    chosen = path or os.environ.get(KEY_FILE_VARIABLE, "").strip() or None
    try:
        if chosen is not None:
            if not Path(chosen).is_file():
                raise _Failure(
                    EXIT_CONFIG,
                    f"no key file at {chosen} (create one with: custrec keys init {chosen})",
                )
            return KeyRing.from_file(chosen)
        if os.environ.get("CUSTREC_MASTER_KEYS"):
            return KeyRing.from_env()
    except InsecureKeyFile as exc:
        raise _insecure_key_file(exc) from None
    except (KeyConfigurationError, KeyUnavailable) as exc:
        raise _Failure(EXIT_CONFIG, f"the keys cannot be used: {exc}") from None
    raise _Failure(
        EXIT_CONFIG,
        "no keys: pass --keys PATH or set CUSTREC_KEY_FILE (create a key file with "
        "'custrec keys init PATH'), or set CUSTREC_MASTER_KEYS and CUSTREC_INDEX_KEYS",
    )


def _insecure_key_file(exc: InsecureKeyFile) -> _Failure:
    """What to do about a key file others may read, as a shell command (not the library's
    Python argument, which the command line does not have)."""
    return _Failure(
        EXIT_CONFIG,
        f"the key file {exc.path} is accessible by group or others (mode {exc.mode:04o}); "
        f"make it private with: chmod 600 {shlex.quote(str(exc.path))}",
    )


@contextmanager
def _registry(
    args: argparse.Namespace,
    *,
    create: bool = False,
    memory_if_missing: bool = False,
    zone: str | None = None,
) -> Iterator[Registry]:
    """Open the database named by ``--db`` (its data keys in the key store file beside it) with
    the keys; the registry refuses keys that did not write it. ``zone`` (an IANA name): the
    lifecycle rules count contract and first-payment days there (else in UTC)."""
    db = args.db or os.environ.get(DB_VARIABLE, "").strip()
    if not db:
        raise _Failure(EXIT_USAGE, "no database: pass --db PATH or set CUSTREC_DB")
    keyring = _load_keyring(args.keys)
    exists = Path(db).exists()
    store: Store
    if not exists and memory_if_missing:
        store = MemoryStore()
    elif not exists and not create:
        raise _Failure(EXIT_CONFIG, f"no database at {db}")
    else:
        store = SQLiteStore(db)
    workflow = None if zone is None else WorkflowSettings(rules=in_zone(DEFAULT_RULES, zone))
    try:
        yield Registry(store, keyring=keyring, workflow=workflow)
    finally:
        store.close()


def _actor(args: argparse.Namespace, roles: set[str]) -> Actor:
    return Actor(id=args.actor, roles=roles, team=args.team)


def _instant(text: str) -> datetime:
    """Parse ``--as-of``: a date (midnight) or an ISO 8601 date-time. One without an offset is
    returned naive; :func:`_as_of` places it in ``--zone`` (UTC by default)."""
    try:
        if "T" in text or " " in text.strip():
            return datetime.fromisoformat(text.strip())
        return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2025-01-31) or date-time (2025-01-31T18:00+08:00)"
        ) from None


def _reason_text(text: str) -> str:
    """Parse ``--reason``: any text but a blank one (the audit log records it)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return text


def _zone(text: str) -> tzinfo:
    """Parse ``--zone``: ``UTC``, an offset (``+08:00``) or an IANA name (``Asia/Shanghai``)."""
    try:
        return parse_zone(text)
    except ConversionError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _in_zone(value: datetime, zone: tzinfo | None) -> datetime:
    """``value`` as an aware UTC instant: a naive one is local time in ``zone`` (default UTC;
    a repeated local time is its first instant, a skipped one is refused)."""
    if value.tzinfo is None or value.utcoffset() is None:
        try:
            return local_instant(value.replace(tzinfo=None), zone or UTC)
        except ConversionError as exc:
            raise _Failure(EXIT_USAGE, f"--as-of: {exc.message} in that --zone") from None
    return value.astimezone(UTC)


def _as_of(args: argparse.Namespace) -> datetime | None:
    """``--as-of`` placed in ``--zone`` (``None`` when not given)."""
    value: datetime | None = getattr(args, "as_of", None)
    if value is None:
        return None
    return _in_zone(value, getattr(args, "zone", None))


def _zone_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--zone",
        type=_zone,
        help="the time zone of --as-of without an offset: UTC (default), +08:00 or an IANA "
        "name such as Asia/Shanghai",
    )


@contextmanager
def _counting(
    args: argparse.Namespace,
    err: IO[str],
    registry: Registry,
    *,
    label: str,
    unit: str = "customers",
    total: int | None = None,
) -> Iterator[Callable[[int], None]]:
    """A progress callback drawing a :class:`ProgressBar` on ``err`` when asked for (or on a
    terminal), towards ``total`` (default: the customers the command's admin may read, counted
    only when the bar is shown); the line is ended on the way out."""
    shown = _show_progress(args, err)
    if shown and total is None:
        total = registry.customers.count(actor=_actor(args, {"admin"}))
    bar = ProgressBar(err, label=label, unit=unit, total=total, enabled=shown)
    try:
        yield lambda done: bar.update(done, done)
    finally:
        bar.close()


def _show_progress(args: argparse.Namespace, err: IO[str]) -> bool:
    """``--progress`` / ``--no-progress``, else whether ``err`` is a terminal."""
    chosen: bool | None = getattr(args, "progress", None)
    return chosen if chosen is not None else err.isatty()


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number from 0 to 1") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("expected a number from 0 to 1")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a positive whole number")
    return value


def _numbers(text: str) -> tuple[Decimal, ...]:
    try:
        return tuple(Decimal(part.strip()) for part in text.split(",") if part.strip())
    except ArithmeticError:
        raise argparse.ArgumentTypeError("expected numbers separated by commas") from None


def _print(stream: IO[str], text: str = "") -> None:
    stream.write(text + "\n")
