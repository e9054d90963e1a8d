"""The ``custrec`` command line: migrate, export, grade, apply retention, verify the audit log.

Run ``custrec --help`` or ``custrec COMMAND --help``; ``docs/import-export.md`` describes every
command. Keys never come from the command line: ``--keys PATH`` or ``CUSTREC_KEY_FILE`` names a
key file (``custrec keys init PATH`` creates one, mode 0600), otherwise ``CUSTREC_MASTER_KEYS``,
``CUSTREC_INDEX_KEYS`` and (optionally) ``CUSTREC_AUDIT_KEY`` hold them.

Exit codes (stable; scripts may rely on them):

====  =========================================================================================
0     success
1     finished, but something needs a person: rows rejected or in conflict (import), a broken
      audit chain (audit verify)
2     usage error (bad or missing arguments)
3     input or configuration problem: unreadable file, invalid mapping or schedule, missing or
      wrong keys, no such database
4     access denied (the acting roles do not allow the operation)
5     storage error (the database is locked, corrupt or unreadable)
130   interrupted (Ctrl-C); an import can simply be run again
====  =========================================================================================
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import random
import re
import shlex
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

from custrec import __version__
from custrec._files import open_private, write_private_text
from custrec.backends import MemoryStore, SQLiteStore
from custrec.errors import AccessDenied, CustrecError, StorageError
from custrec.grading import ParetoPolicy, RFMPolicy, abcd_by_amount
from custrec.interchange import (
    CsvSource,
    ErrorFile,
    ImportMapping,
    ImportPolicy,
    MappingError,
    ReadError,
    SourceInfo,
    export_customers,
    load_mapping,
    open_source,
    plan_import,
    render_table,
)
from custrec.interchange.convert import ConversionError, parse_timezone
from custrec.interchange.csvsafe import CsvWriter
from custrec.interchange.plan import IMPORT_ID_PATTERN
from custrec.matching import MatchDecision
from custrec.records import CustomerKind, DataCategory, LifecycleStage, RecordState
from custrec.registry import Registry
from custrec.retention import (
    LegalHold,
    Period,
    RetentionAction,
    RetentionError,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
    StatutoryFloor,
)
from custrec.security import (
    Actor,
    Checkpoint,
    DecryptionFailed,
    InsecureKeyFile,
    KeyConfigurationError,
    KeyRing,
    KeyUnavailable,
    generate_key_file,
)
from custrec.storage import Store
from custrec.validation import uscc

__all__ = [
    "DEFAULT_SCHEDULE",
    "EXIT_CONFIG",
    "EXIT_DENIED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "ProgressBar",
    "build_parser",
    "load_schedule",
    "main",
]

EXIT_OK: Final = 0
EXIT_PROBLEMS: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONFIG: Final = 3
EXIT_DENIED: Final = 4
EXIT_STORAGE: Final = 5
EXIT_INTERRUPTED: Final = 130

KEY_FILE_VARIABLE: Final = "CUSTREC_KEY_FILE"
DB_VARIABLE: Final = "CUSTREC_DB"
ACTOR_VARIABLE: Final = "CUSTREC_ACTOR"

DEFAULT_SCHEDULE: Final = RetentionSchedule(
    [
        RetentionRule(
            code="stale-leads",
            applies_to=Selector(stages=(LifecycleStage.LEAD, LifecycleStage.PROSPECT)),
            trigger=RetentionTrigger.LAST_ACTIVITY,
            period=Period(years=2),
            action=RetentionAction.DESTROY,
            legal_reference="PIPL Art. 19 (shortest period necessary)",
        ),
        RetentionRule(
            code="closed-accounts",
            applies_to=Selector(stages=(LifecycleStage.CHURNED, LifecycleStage.ARCHIVED)),
            trigger=RetentionTrigger.ACCOUNT_CLOSURE,
            period=Period(years=3),
            action=RetentionAction.ANONYMISE,
            legal_reference="PIPL Art. 47",
        ),
        RetentionRule(
            code="archived-records",
            applies_to=Selector(states=(RecordState.ARCHIVED,)),
            trigger=RetentionTrigger.ACCOUNT_CLOSURE,
            period=Period(years=3),
            action=RetentionAction.ANONYMISE,
            legal_reference="PIPL Art. 47",
        ),
        RetentionRule(
            code="annual-review",
            trigger=RetentionTrigger.LAST_VERIFICATION,
            period=Period(years=1),
            action=RetentionAction.REVIEW,
            legal_reference="PIPL Art. 8 (accurate and complete)",
        ),
    ],
    floors=[
        StatutoryFloor(
            code="transactions",
            records="transaction records",
            trigger=RetentionTrigger.LAST_TRANSACTION,
            period=Period(years=3),
            legal_reference="E-Commerce Law Art. 31",
            categories=(DataCategory.FINANCIAL,),
        )
    ],
)
"""The schedule ``custrec retention`` uses without ``--schedule``: a starting point to review
with counsel, not legal advice (see docs/import-export.md)."""


class _Failure(Exception):
    """A command failed in a way the user can act on: a message and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- progress bar


class ProgressBar:
    """A one-line progress indicator on a text stream: rows, rows/s, share done and an ETA.

    ``total`` is the work in units of ``position`` (bytes of the file), when known. Updates are
    drawn at most every ``interval`` seconds; :meth:`close` ends the line. Nothing is drawn when
    ``enabled`` is false.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        label: str,
        total: int | None = None,
        enabled: bool = True,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
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
        text = f"{self._label}: {rows:,} rows  {rate:,.0f} rows/s"
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
    args: argparse.Namespace, *, create: bool = False, memory_if_missing: bool = False
) -> Iterator[Registry]:
    """Open the database named by ``--db`` (its data keys in the key store file beside it) with
    the keys; the registry refuses keys that did not write it."""
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
    try:
        yield Registry(store, keyring=keyring)
    finally:
        store.close()


def _actor(args: argparse.Namespace, roles: set[str]) -> Actor:
    return Actor(id=args.actor, roles=roles, team=args.team)


def _instant(text: str) -> datetime:
    """Parse ``--as-of``: a date (midnight UTC) or an ISO 8601 date-time (UTC if naive)."""
    try:
        if "T" in text or " " in text.strip():
            value = datetime.fromisoformat(text.strip())
        else:
            value = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (2025-01-31) or date-time (2025-01-31T18:00+08:00)"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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


def _import_id_for(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")[:48]
    if slug:
        return slug
    return "import-" + hashlib.sha256(path.stem.encode()).hexdigest()[:8]


def _print(stream: IO[str], text: str = "") -> None:
    stream.write(text + "\n")


# ------------------------------------------------------------------------------ commands


def _cmd_keys_init(args: argparse.Namespace, out: IO[str]) -> int:
    path = Path(args.path)
    if path.exists():
        if not args.exist_ok:
            raise _Failure(EXIT_CONFIG, f"{path} exists; keep it, or pass --exist-ok")
        try:
            KeyRing.from_file(path)
        except InsecureKeyFile as exc:
            raise _insecure_key_file(exc) from None
        except (KeyConfigurationError, KeyUnavailable) as exc:
            message = f"{path} exists but is not a usable key file: {exc}"
            raise _Failure(EXIT_CONFIG, message) from None
        _print(out, f"{path} exists: kept")
        return EXIT_OK
    try:
        generate_key_file(path)
    except OSError as exc:
        raise _Failure(EXIT_CONFIG, f"cannot write {path}: {exc.strerror}") from None
    _print(out, f"created {path} (mode 0600): keep it secret and back it up apart from the data;")
    _print(out, "without it the encrypted data cannot be read")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source_path = Path(args.file)
    mapping = load_mapping(args.mapping) if args.mapping else None
    policy = ImportPolicy(
        on_match=args.on_match,
        on_file_duplicate=args.on_file_duplicate,
        batch_size=args.batch_size,
        sample_share=args.sample_share,
        sample_seed=args.sample_seed,
    )
    import_id = args.import_id or _import_id_for(source_path)
    if IMPORT_ID_PATTERN.fullmatch(import_id) is None:
        raise _Failure(EXIT_USAGE, "--import-id: use 1-64 letters, digits, '.', '_', ':' or '-'")
    encoding = args.encoding or (mapping.encoding if mapping else "auto")
    delimiter = args.delimiter or (mapping.delimiter if mapping else "auto")
    roles = {"admin", "unmask"} if args.on_match == "update" else {"admin"}
    actor = _actor(args, roles)
    header = _header(source_path, args, encoding, delimiter)
    if header is not None:  # fit the mapping to the header before a database is opened
        try:
            (mapping or ImportMapping.native_mapping()).bind(header.headers)
        except MappingError as exc:
            hint = _encoding_hint(source_path, args, header, mapping, delimiter)
            raise _Failure(EXIT_CONFIG, f"{exc}; {hint}") from None
    with (
        open_source(source_path, format=args.format, encoding=encoding, delimiter=delimiter) as src,
        _registry(args, create=not args.dry_run, memory_if_missing=args.dry_run) as registry,
    ):
        info = src.info
        ext = "csv" if info.format == "csv" else "jsonl"
        if args.errors:
            errors_path = Path(args.errors)
        elif args.report:
            errors_path = Path(args.report).with_suffix(f".errors.{ext}")
        else:
            errors_path = Path(f"{source_path.stem}.errors.{ext}")
        show = args.progress if args.progress is not None else err.isatty()
        bar = ProgressBar(err, label="importing", total=src.size, enabled=show)
        with ErrorFile.for_source(errors_path, info) as error_file:
            try:
                report = plan_import(
                    src,
                    mapping,
                    registry,
                    actor=actor,
                    import_id=import_id,
                    policy=policy,
                    dry_run=args.dry_run,
                    error_file=error_file,
                    progress=lambda rows: bar.update(rows, src.position),
                )
            finally:
                bar.close()
    report_text = report.to_json()
    if args.report:
        write_private_text(args.report, report_text + "\n")
    _print(out, report.render(max_issues=args.show_issues))
    if args.report:
        _print(out, f"report: {args.report}")
    return EXIT_OK if report.ok or args.exit_zero else EXIT_PROBLEMS


def _header(
    path: Path, args: argparse.Namespace, encoding: str, delimiter: str
) -> SourceInfo | None:
    """How a CSV source's header was read (``None`` for JSON Lines, which has none)."""
    with open_source(path, format=args.format, encoding=encoding, delimiter=delimiter) as src:
        return src.info if isinstance(src, CsvSource) else None


_OTHER_ENCODINGS: Final = ("utf-8", "gb18030", "utf-16")
"""Encodings tried when a header does not fit its mapping: what legacy files mostly use."""


def _garbled(text: str) -> bool:
    """Whether a header shows the usual marks of bytes decoded with the wrong codec: C1
    control or private-use characters, rare CJK extension A characters (UTF-8 read as
    GB18030), or runs of Latin-1 letters (GB18030 or UTF-8 read as Latin-1)."""
    latin_run = 0
    for char in text:
        point = ord(char)
        if 0x80 <= point <= 0x9F or 0xE000 <= point <= 0xF8FF or 0x3400 <= point <= 0x4DBF:
            return True
        latin_run = latin_run + 1 if 0xA0 <= point <= 0xFF else 0
        if latin_run >= 2:
            return True
    return False


def _encoding_hint(
    path: Path,
    args: argparse.Namespace,
    header: SourceInfo,
    mapping: ImportMapping | None,
    delimiter: str,
) -> str:
    """Why a header may not fit its mapping when the columns are there after all: the file was
    decoded with the wrong encoding. Names the encoding used and where it came from, says when
    the header looks mis-decoded, and names another encoding under which the header fits."""
    if args.encoding:
        origin = "given with --encoding"
    elif mapping is not None and mapping.encoding != "auto":
        origin = "the mapping's encoding"
    else:
        origin = "detected"
    used = header.encoding or "auto"
    text = f"the header was read as {used} ({origin})"
    if any("\ufffd" in h for h in header.headers):
        text += f" and holds bytes that are not valid {used}: the file is in another encoding"
    elif any(_garbled(h) for h in header.headers):
        text += " and looks garbled: the file may be in another encoding"
    family = used.removesuffix("-sig")
    for candidate in _OTHER_ENCODINGS:
        if candidate == family:
            continue
        try:
            other = _header(path, args, candidate, delimiter)
            if other is None or any("\ufffd" in h for h in other.headers):
                continue
            (mapping or ImportMapping.native_mapping()).bind(other.headers)
        except (ReadError, MappingError, UnicodeError):
            continue
        fix = f"pass --encoding {candidate}"
        if origin == "the mapping's encoding":
            fix += f' or set encoding = "{candidate}" in the mapping'
        return f"{text}; read as {candidate} it fits: {fix}"
    where = "--encoding (or the mapping's encoding)" if mapping is not None else "--encoding"
    return f"{text}; if the columns are there, check {where}"


def _cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    roles = {"admin", "export", "unmask"} if args.unmask else {"admin", "export"}
    fmt = args.format or ("csv" if Path(args.out).suffix.lower() == ".csv" else "jsonl")
    with _registry(args) as registry:
        show = args.progress if args.progress is not None else err.isatty()
        bar = ProgressBar(err, label="exporting", enabled=show)
        try:
            result = export_customers(
                registry,
                args.out,
                actor=_actor(args, roles),
                format=fmt,
                progress=bar.update,
                **{
                    facet: getattr(args, facet)
                    for facet in ("stage", "kind", "state", "owner", "grade", "tag")
                    if getattr(args, facet) is not None
                },
            )
        finally:
            bar.close()
    state = "masked" if result.masked else "unmasked"
    _print(out, f"exported {result.exported} customers ({state}) to {args.out}")
    if result.erased or result.denied:
        _print(out, f"left out: {result.erased} erased, {result.denied} not allowed")
    return EXIT_OK


def _grading_policy(args: argparse.Namespace) -> Any:
    if args.policy == "rfm":
        return RFMPolicy(bins=args.bins)
    if args.policy in ("pareto-value", "pareto-customers"):
        points = tuple(float(p) for p in args.breakpoints) if args.breakpoints else (0.8, 0.95)
        labels = tuple(chr(ord("A") + i) for i in range(len(points) + 1))
        if args.policy == "pareto-value":
            return ParetoPolicy(basis="value", breakpoints=points, labels=labels)
        return ParetoPolicy(basis="customers", breakpoints=points, labels=labels)
    if not args.cuts or len(args.cuts) not in (2, 3):
        raise _Failure(EXIT_USAGE, "--policy abcd needs --cuts A,B or A,B,C (amounts)")
    a, b, *rest = args.cuts
    if rest:
        return abcd_by_amount(a, b, c=rest[0], currency=args.currency)
    return abcd_by_amount(a, b, currency=args.currency)


def _cmd_grade(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    try:
        policy = _grading_policy(args)
    except (ValueError, TypeError) as exc:
        raise _Failure(EXIT_USAGE, f"invalid grading policy: {exc}") from None
    as_of = args.as_of or datetime.now(UTC)
    with _registry(args) as registry:
        try:
            report = registry.grading.regrade(policy, as_of=as_of, actor=_actor(args, {"admin"}))
        except ValueError as exc:  # e.g. RFM over a population without purchases
            raise _Failure(EXIT_CONFIG, f"cannot grade: {exc}") from None
        counts = registry.grading.distribution(actor=_actor(args, {"admin"}))
    _print(out, f"{report.policy_id} as of {as_of.isoformat()}")
    _print(
        out,
        f"graded {report.graded}: {report.changed} changed, {report.unchanged} unchanged; "
        f"skipped {len(report.skipped_mixed_currencies)} (several currencies), "
        f"{len(report.skipped_by_consent)} (refused profiling)",
    )
    table = sorted((label or "(none)", str(n)) for label, n in counts.items())
    _print(out, render_table(("grade", "customers"), table, align="lr"))
    return EXIT_OK


def _selector(data: Any, key: str) -> Selector:
    if data is None:
        return Selector()
    if not isinstance(data, dict):
        raise _Failure(
            EXIT_CONFIG, f"{key}: must be a table with kinds, stages, states, customer_ids"
        )
    unknown = set(data) - {"kinds", "stages", "states", "customer_ids"}
    if unknown:
        raise _Failure(EXIT_CONFIG, f"{key}.{sorted(unknown)[0]}: unknown setting")
    return Selector(
        kinds=tuple(CustomerKind(k) for k in data.get("kinds", [])),
        stages=tuple(LifecycleStage(s) for s in data.get("stages", [])),
        states=tuple(RecordState(s) for s in data.get("states", [])),
        customer_ids=tuple(data.get("customer_ids", [])),
    )


def _schedule_item(kind: str, index: int, item: Any) -> Any:
    key = f"{kind}[{index}]"
    if not isinstance(item, dict):
        raise _Failure(EXIT_CONFIG, f"{key}: must be a table")
    try:
        if kind == "holds":
            return LegalHold(
                reason=item["reason"],
                placed_at=_instant(str(item["placed_at"])),
                lifted_at=_instant(str(item["lifted_at"])) if "lifted_at" in item else None,
                customer_ids=tuple(item.get("customer_ids", [])),
                applies_to=_selector(item["applies_to"], f"{key}.applies_to")
                if "applies_to" in item
                else None,
            )
        common: dict[str, Any] = {
            "code": item["code"],
            "trigger": RetentionTrigger(item["trigger"]),
            "period": Period.parse(item["period"]),
            "applies_to": _selector(item.get("applies_to"), f"{key}.applies_to"),
            "categories": tuple(DataCategory(c) for c in item.get("categories", [])),
        }
        if kind == "rules":
            return RetentionRule(
                **common,
                action=RetentionAction(item["action"]),
                legal_reference=item.get("legal_reference", ""),
                description=item.get("description", ""),
            )
        return StatutoryFloor(
            **common, records=item["records"], legal_reference=item["legal_reference"]
        )
    except KeyError as exc:
        raise _Failure(EXIT_CONFIG, f"{key}.{exc.args[0]}: is required") from None
    except (ValueError, TypeError, RetentionError, argparse.ArgumentTypeError) as exc:
        raise _Failure(EXIT_CONFIG, f"{key}: {exc}") from None


def load_schedule(path: str | os.PathLike[str]) -> RetentionSchedule:
    """Read a retention schedule from TOML (``[[rules]]``, ``[[floors]]``, ``[[holds]]`` and an
    optional ``timezone``; see docs/import-export.md). Errors name the entry at fault."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise _Failure(EXIT_CONFIG, f"no such schedule file: {file}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _Failure(EXIT_CONFIG, f"{file} is not a readable TOML file: {exc}") from None
    unknown = set(data) - {"rules", "floors", "holds", "timezone"}
    if unknown:
        raise _Failure(EXIT_CONFIG, f"{sorted(unknown)[0]}: unknown setting")
    parts = {
        kind: [_schedule_item(kind, i, item) for i, item in enumerate(data.get(kind, []))]
        for kind in ("rules", "floors", "holds")
    }
    try:
        zone = parse_timezone(str(data.get("timezone", "UTC")))
        return RetentionSchedule(
            parts["rules"], floors=parts["floors"], holds=parts["holds"], tz=zone
        )
    except (ConversionError, RetentionError, ValueError) as exc:
        raise _Failure(EXIT_CONFIG, f"{file}: {exc}") from None


def _cmd_retention(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    schedule = load_schedule(args.schedule) if args.schedule else DEFAULT_SCHEDULE
    now = datetime.now(UTC)
    as_of = args.as_of or now
    if args.apply and as_of > now:
        raise _Failure(
            EXIT_USAGE,
            f"--apply carries out only the actions due now; a plan as of {as_of.isoformat()} "
            "lies in the future and is a preview: run it without --apply (or leave out --as-of)",
        )
    actor = _actor(args, {"admin"})
    with _registry(args) as registry:
        plan = registry.retention.plan(as_of=as_of, actor=actor, schedule=schedule)
        rows = [(a.customer_id, a.action.value, a.rule, a.due_at.date().isoformat()) for a in plan]
        _print(out, f"retention plan as of {as_of.isoformat()}: {len(plan)} actions due")
        if rows:
            _print(out, render_table(("customer", "action", "rule", "due"), rows[: args.show]))
            if len(rows) > args.show:
                _print(out, f"... and {len(rows) - args.show} more")
        if args.apply:
            done = registry.retention.apply(plan, actor=actor, schedule=schedule)
            _print(
                out,
                f"applied {len(done.applied)} actions; {len(done.already_applied)} already "
                f"done, {len(done.not_due)} not yet due, {len(done.superseded)} no longer "
                "planned (the customer changed since)",
            )
        elif plan:
            _print(out, "nothing was changed; run again with --apply to carry out the plan")
    return EXIT_OK


def _cmd_audit(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    actor = _actor(args, {"auditor"})
    with _registry(args) as registry:
        if args.audit_command == "checkpoint":
            checkpoint = registry.audit.checkpoint(actor=actor)
            write_private_text(args.out, json.dumps(checkpoint.to_dict(), indent=2) + "\n")
            _print(out, f"checkpoint at entry {checkpoint.seq} written to {args.out}")
            return EXIT_OK
        given: Checkpoint | None = None
        if args.checkpoint:
            try:
                given = Checkpoint.from_dict(
                    json.loads(Path(args.checkpoint).read_text(encoding="utf-8"))
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise _Failure(EXIT_CONFIG, f"cannot read the checkpoint: {exc}") from None
        result = registry.audit.verify(actor=actor, checkpoint=given)
    if result.ok:
        _print(out, f"audit chain ok: {result.checked} entries verified")
        return EXIT_OK
    _print(out, f"audit chain BROKEN: {result.problem} at entry {result.seq}")
    return EXIT_PROBLEMS


def _cmd_quality(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with _registry(args) as registry:
        report = registry.quality.report(
            actor=_actor(args, {"auditor"}),
            as_of=args.as_of,
            stale_after=timedelta(days=args.stale_days),
            duplicates=not args.no_duplicates,
        )
    if args.json:
        _print(out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(out, report.to_table())
    return EXIT_OK


def _cmd_duplicates(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with _registry(args) as registry:
        run = registry.matching.clusters(
            actor=_actor(args, {"auditor"}), decision=MatchDecision(args.decision)
        )
    if args.json:
        for cluster in run.clusters:
            line = {
                "ids": list(cluster.ids),
                "decision": cluster.decision.value,
                "matches": [
                    {
                        "left": m.left,
                        "right": m.right,
                        "decision": m.decision.value,
                        "score": m.score,
                        "reasons": [str(r) for r in m.reasons],
                    }
                    for m in cluster.matches
                ],
            }
            _print(out, json.dumps(line, ensure_ascii=False))
        return EXIT_OK
    _print(
        out,
        f"{run.records} customers, {len(run.clusters)} clusters at '{run.decision.value}' "
        f"({len(run.duplicate_ids)} redundant records); {run.comparisons} comparisons of "
        f"{run.comparisons_planned} planned",
    )
    rows = [
        (
            ", ".join(c.ids),
            c.decision.value,
            "; ".join(sorted({str(r) for m in c.matches for r in m.reasons})),
        )
        for c in run.clusters
    ]
    if rows:
        _print(out, render_table(("customers", "decision", "evidence"), rows, align="lll"))
    for stop in run.stop_keys:
        _print(out, f"stop key: {stop.kind} shared by {stop.records} customers (not scanned)")
    return EXIT_OK


# ---------------------------------------------------------------------------------- demo

_DEMO_MAPPING: Final = {
    "name": "demo legacy CRM export",
    "timezone": "+08:00",
    "date_formats": ["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日"],
    "defaults": {"kind": "organization", "source": "legacy-crm"},
    "columns": {
        "客户编号": "identifiers[EXTERNAL:legacy-crm]",
        "客户名称": {"field": "name", "required": True},
        "客户性质": {"field": "kind", "values": {"企业": "organization", "个人": "individual"}},
        "行业": "industry",
        "联系人": "contacts[0].name",
        "性别": {"field": "gender", "values": {"男": "male", "女": "female"}},
        "手机": "contacts[0].phones[0]",
        "邮箱": "contacts[0].emails[0]",
        "统一社会信用代码": "identifiers[CN-USCC]",
        "客户类型": {
            "field": "stage",
            "values": {"意向客户": "lead", "潜在客户": "prospect", "成交客户": "active"},
        },
        "状态": {"field": "verification", "values": {"未核实": "unverified", "已核实": "verified"}},
        "城市": "addresses[0].city",
        "合同金额": "milestones.contract_amount",
        "签约日期": "milestones.contract_signed_on",
    },
}
_MOBILE_PREFIXES: Final = ("135", "136", "137", "138", "139", "150", "151", "158", "186", "188")
_SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN: Final = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "杰", "军", "勇", "涛", "明")
_CITIES: Final = (("北京", "110105"), ("上海", "310115"), ("深圳", "440300"), ("杭州", "330106"))
_WORDS: Final = ("星河", "恒信", "云帆", "华南", "金陵", "明远", "天府", "光谷", "海纳", "博远")
_TRADES: Final = (("软件", "科技"), ("贸易", "贸易"), ("咨询", "咨询"), ("制造", "机械"))


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in text)


def _demo_rows(count: int, seed: int) -> list[list[str]]:
    """Messy legacy rows: full-width digits, currency formats, duplicates and broken rows."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(1, count + 1):
        city, division = rng.choice(_CITIES)
        trade, suffix = rng.choice(_TRADES)
        person = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        individual = rng.random() < 0.2
        phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if rng.random() < 0.15:
            phone = _full_width(phone)
        body = "91" + division + "".join(rng.choice(uscc.ALPHABET) for _ in range(9))
        amount = rng.randrange(1, 500) * 1000
        money = rng.choice([f"¥{amount:,}", f"{amount}", f"RMB {amount:,}.00", f"{amount / 1e4}万"])
        signed = date(2021, 1, 1) + timedelta(days=rng.randrange(1200))
        when = rng.choice(
            [
                signed.strftime("%Y/%m/%d"),
                signed.isoformat(),
                f"{signed:%Y}年{signed.month}月{signed.day}日",
            ]
        )
        row = [
            f"D{i:05d}",
            person if individual else f"{city}{rng.choice(_WORDS)}{suffix}有限公司{i}",
            "个人" if individual else "企业",
            "" if individual else trade,
            person,
            rng.choice("男女") if individual else "",
            phone,
            f"user{i}@example.cn",
            "" if individual else body + uscc.calc_check_digit(body),
            rng.choice(("意向客户", "潜在客户", "成交客户")),
            rng.choice(("未核实", "已核实")),
            city,
            money,
            when,
        ]
        roll = rng.random()
        if roll < 0.04:
            row[6] = "12345"  # not a phone
        elif roll < 0.07:
            row[1] = ""  # no name
        elif roll < 0.09:
            row[12] = "about 5k"  # not an amount
        rows.append(row)
        if rng.random() < 0.05:  # the same customer entered twice, formatted differently
            twin = list(row)
            twin[0] = f"D{i:05d}b"
            twin[6] = row[6][:3] + "-" + row[6][3:7] + "-" + row[6][7:]
            rows.append(twin)
    return rows


def _cmd_demo(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    keys = base / "demo.keys.json"
    db = base / "demo.sqlite"
    source = base / "legacy_customers.csv"
    mapping_path = base / "legacy_mapping.json"
    if db.exists():
        raise _Failure(EXIT_CONFIG, f"{base} already holds a demo; remove it or name another DIR")
    if not keys.exists():
        generate_key_file(keys)
    headers = list(_DEMO_MAPPING["columns"])
    with open_private(source, encoding="gb18030", newline="") as stream:
        writer = CsvWriter(stream)
        writer.writerow(headers)
        writer.writerows(_demo_rows(args.rows, args.seed))
    write_private_text(mapping_path, json.dumps(_DEMO_MAPPING, ensure_ascii=False, indent=2))
    _print(out, f"1. wrote {args.rows} messy legacy rows (GB18030) to {source}")
    mapping = load_mapping(mapping_path)
    keyring = KeyRing.from_file(keys)
    open_private(db, "x").close()  # SQLite keeps an existing file's mode (and its WAL's)
    store = SQLiteStore(db)
    try:
        registry = Registry(store, keyring=keyring)
        operator = Actor(id=args.actor, roles={"admin", "export", "unmask", "auditor"})
        for dry_run in (True, False):
            with (
                open_source(source) as rows,
                ErrorFile.for_source(base / "legacy_customers.errors.csv", rows.info) as errors,
            ):
                report = plan_import(
                    rows,
                    mapping,
                    registry,
                    actor=operator,
                    import_id="demo",
                    dry_run=dry_run,
                    error_file=errors,
                )
            step = "2. dry run (nothing written)" if dry_run else "3. import"
            _print(out, f"\n{step}")
            _print(out, report.render(max_issues=5))
        write_private_text(base / "import-report.json", report.to_json() + "\n")
        rng = random.Random(args.seed)
        recorded = 0
        as_of = datetime.now(UTC)
        for batch in registry.customers.batches(actor=operator):
            for customer in batch:
                for _ in range(rng.randrange(0, 6)):
                    registry.activities.record_transaction(
                        {
                            "customer_id": customer.id,
                            "occurred_at": as_of - timedelta(days=rng.randrange(1, 700)),
                            "amount": {"amount": str(rng.randrange(100, 90000)), "currency": "CNY"},
                            "product": "license",
                        },
                        actor=operator,
                    )
                    recorded += 1
        _print(out, f"\n4. recorded {recorded} transactions")
        for policy in (RFMPolicy(), abcd_by_amount(Decimal(100000), Decimal(20000))):
            result = registry.grading.regrade(policy, as_of=as_of, actor=operator)
            _print(out, f"5. graded {result.graded} customers with {result.policy_id}")
        exported = export_customers(
            registry,
            base / "export.csv",
            actor=Actor(id=args.actor, roles={"admin", "export"}),
            format="csv",
        )
        _print(out, f"6. exported {exported.exported} customers, masked, to {base / 'export.csv'}")
        plan = registry.retention.plan(
            as_of=as_of + timedelta(days=800), actor=operator, schedule=DEFAULT_SCHEDULE
        )
        actions = Counter(a.action.value for a in plan)
        _print(
            out, f"7. retention plan 800 days ahead (not applied): {dict(sorted(actions.items()))}"
        )
        verified = registry.audit.verify(actor=operator)
        _print(out, f"8. audit chain ok={verified.ok}, {verified.checked} entries")
        quality = registry.quality.report(actor=operator, as_of=as_of)
        _print(
            out,
            f"9. quality: {quality.total} customers, {quality.overall_completeness:.0f}% "
            f"complete, {quality.duplicates} duplicates, {quality.stale_percentage:.0f}% not "
            "verified within a year",
        )
    finally:
        store.close()
    _print(out, "\nnext, try:")
    flags = f"--db {db} --keys {keys}"
    _print(out, f"  custrec quality {flags}")
    _print(out, f"  custrec grade --policy pareto-value {flags}")
    _print(out, f"  custrec export {base / 'export.jsonl'} --unmask {flags}")
    _print(out, f"  custrec audit verify {flags}")
    return EXIT_OK


# ------------------------------------------------------------------------------- parsing


def _common(parser: argparse.ArgumentParser, *, db: bool = True) -> None:
    if db:
        parser.add_argument("--db", help=f"the SQLite database (default: ${DB_VARIABLE})")
        parser.add_argument(
            "--keys",
            metavar="PATH",
            help=f"key file (default: ${KEY_FILE_VARIABLE}, else the CUSTREC_*_KEYS variables)",
        )
    parser.add_argument(
        "--actor",
        default=_default_actor(),
        help=f"who is acting, for the audit log (default: ${ACTOR_VARIABLE} or cli:<login>)",
    )
    parser.add_argument("--team", help="the acting user's team")


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )
    group.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``custrec`` command."""
    parser = argparse.ArgumentParser(
        prog="custrec",
        description="Customer records under PIPL/GDPR: migrate, export, grade, retain, audit.",
        epilog="exit codes: 0 ok, 1 rows need attention / audit broken, 2 usage, "
        "3 input or keys, 4 access denied, 5 storage, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"custrec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = commands.add_parser("keys", help="manage key files")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys_commands.add_parser("init", help="create a key file (mode 0600)")
    init.add_argument("path", help="where to write the key file")
    init.add_argument("--exist-ok", action="store_true", help="keep an existing key file")

    imp = commands.add_parser("import", help="import a CSV or JSON Lines file")
    imp.add_argument("file", help="the CSV or JSON Lines file")
    imp.add_argument("--mapping", help="mapping file (TOML or JSON); omit for custrec exports")
    imp.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    imp.add_argument("--report", metavar="OUT", help="write the JSON report here")
    imp.add_argument("--errors", metavar="OUT", help="write the rows to fix here")
    imp.add_argument("--import-id", help="name of the import (default: from the file name)")
    imp.add_argument(
        "--on-match",
        choices=("skip", "update", "conflict"),
        default="skip",
        help="rows matching a stored customer: skip (default), update it, or flag a conflict",
    )
    imp.add_argument("--on-file-duplicate", choices=("skip", "conflict"), default="skip")
    imp.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto")
    imp.add_argument("--encoding", help="source encoding (default: the mapping's, else auto)")
    imp.add_argument("--delimiter", help="CSV delimiter (default: the mapping's, else sniffed)")
    imp.add_argument("--batch-size", type=_positive, default=5000)
    imp.add_argument("--sample-share", type=_share, default=0.15)
    imp.add_argument("--sample-seed", type=int, default=0)
    imp.add_argument("--show-issues", type=int, default=20, help="issues printed (default 20)")
    imp.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit with 0 even when rows were rejected or are in conflict",
    )
    _progress_flags(imp)
    _common(imp)

    exp = commands.add_parser("export", help="export customers to JSON Lines or CSV")
    exp.add_argument("out", help="the file to write (.csv or .jsonl)")
    exp.add_argument("--format", choices=("jsonl", "csv"), help="default: by the extension")
    exp.add_argument("--unmask", action="store_true", help="export clear values (audited)")
    enums: dict[str, tuple[str, ...]] = {
        "stage": tuple(stage.value for stage in LifecycleStage),
        "kind": tuple(kind.value for kind in CustomerKind),
        "state": tuple(state.value for state in RecordState),
    }
    for facet in ("stage", "kind", "state", "owner", "grade", "tag"):
        exp.add_argument(
            f"--{facet}", choices=enums.get(facet), help=f"only customers with this {facet}"
        )
    _progress_flags(exp)
    _common(exp)

    grade = commands.add_parser("grade", help="grade every customer and store the grade")
    grade.add_argument(
        "--policy", required=True, choices=("rfm", "pareto-value", "pareto-customers", "abcd")
    )
    grade.add_argument("--as-of", type=_instant, help="date or date-time (default: now)")
    grade.add_argument("--cuts", type=_numbers, help="abcd: amounts for A,B[,C], e.g. 100000,20000")
    grade.add_argument("--currency", default="CNY", help="abcd: the currency of the cuts")
    grade.add_argument("--bins", type=_positive, default=5, help="rfm: score levels (default 5)")
    grade.add_argument(
        "--breakpoints", type=_numbers, help="pareto: cumulative shares, default 0.8,0.95"
    )
    _common(grade)

    ret = commands.add_parser("retention", help="plan (and apply) the retention schedule")
    ret.add_argument(
        "--as-of",
        type=_instant,
        help="date or date-time to plan at (default: now); a future one is a preview only",
    )
    ret.add_argument("--schedule", help="schedule TOML (default: the documented default)")
    ret.add_argument("--apply", action="store_true", help="carry out the plan")
    ret.add_argument("--show", type=int, default=50, help="actions printed (default 50)")
    _common(ret)

    audit = commands.add_parser("audit", help="verify the tamper-evident audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser("verify", help="verify the whole chain")
    verify.add_argument("--checkpoint", help="a checkpoint file: also detect truncation")
    _common(verify)
    checkpoint = audit_commands.add_parser("checkpoint", help="write a signed checkpoint")
    checkpoint.add_argument("out", help="where to write it (keep it outside the database)")
    _common(checkpoint)

    quality = commands.add_parser("quality", help="the data-quality report")
    quality.add_argument("--json", action="store_true", help="print JSON")
    quality.add_argument("--as-of", type=_instant, default=None, help="default: now")
    quality.add_argument(
        "--stale-days", type=_positive, default=365, help="not verified within (default 365)"
    )
    quality.add_argument(
        "--no-duplicates", action="store_true", help="skip duplicate detection (faster)"
    )
    _common(quality)

    duplicates = commands.add_parser("duplicates", help="cluster duplicate customers (no merge)")
    duplicates.add_argument(
        "--decision",
        choices=("same", "probable", "possible"),
        default="probable",
        help="the weakest link to cluster on (default: probable)",
    )
    duplicates.add_argument("--json", action="store_true", help="one JSON line per cluster")
    _common(duplicates)

    demo = commands.add_parser("demo", help="create sample data and run every part once")
    demo.add_argument("dir", nargs="?", default="custrec-demo", help="default: ./custrec-demo")
    demo.add_argument("--rows", type=_positive, default=200)
    demo.add_argument("--seed", type=int, default=7)
    _common(demo, db=False)
    return parser


_COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace, IO[str], IO[str]], int]]] = {
    "import": _cmd_import,
    "export": _cmd_export,
    "grade": _cmd_grade,
    "retention": _cmd_retention,
    "audit": _cmd_audit,
    "quality": _cmd_quality,
    "duplicates": _cmd_duplicates,
    "demo": _cmd_demo,
}


def _fail(err: IO[str], code: int, message: str) -> int:
    err.write(f"custrec: error: {message}\n")
    return code


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; returns the exit code (see the module docs)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "keys":
            return _cmd_keys_init(args, out)
        return _COMMANDS[args.command](args, out, err)
    except _Failure as exc:
        return _fail(err, exc.code, exc.message)
    except (MappingError, ReadError) as exc:
        return _fail(err, EXIT_CONFIG, str(exc))
    except InsecureKeyFile as exc:
        return _fail(err, EXIT_CONFIG, _insecure_key_file(exc).message)
    except (KeyConfigurationError, KeyUnavailable, DecryptionFailed) as exc:
        return _fail(err, EXIT_CONFIG, f"the keys cannot be used: {exc}")
    except AccessDenied as exc:
        return _fail(err, EXIT_DENIED, str(exc))
    except StorageError as exc:
        return _fail(err, EXIT_STORAGE, f"storage: {exc}")
    except CustrecError as exc:
        return _fail(err, EXIT_CONFIG, str(exc))
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(err, EXIT_CONFIG, f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return _fail(err, EXIT_INTERRUPTED, "interrupted; run the same command again to resume")
