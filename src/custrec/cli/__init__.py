"""The ``custrec`` command line: migrate, export, grade, apply retention, verify the audit log,
and look after one customer at a time (show, subject export, erase, merge).

Run ``custrec --help`` or ``custrec COMMAND --help``; ``docs/cli.md`` describes every command
with examples. Keys never come from the command line: ``--keys PATH`` or ``CUSTREC_KEY_FILE``
names a key file (``custrec keys init PATH`` creates one, mode 0600), otherwise
``CUSTREC_MASTER_KEYS``, ``CUSTREC_INDEX_KEYS`` and (optionally) ``CUSTREC_AUDIT_KEY`` hold
them.

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
141   the reader of the output went away (``custrec ... | head``): stopped quietly
====  =========================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Final

from custrec import __version__
from custrec.cli._activities import _cmd_import_activities, add_activity_command
from custrec.cli._backups import _cmd_backup, _cmd_restore, add_backup_commands
from custrec.cli._demo import _cmd_demo
from custrec.cli._grading import _cmd_grade, add_grade_command
from custrec.cli._keys import _cmd_keys, add_keys_command
from custrec.cli._manage import (
    _cmd_audit,
    _cmd_duplicates,
    _cmd_quality,
    _cmd_retention,
)
from custrec.cli._recipients import _cmd_recipients, add_recipient_commands
from custrec.cli._records import (
    _cmd_erase,
    _cmd_merge,
    _cmd_show,
    _cmd_subject,
    add_record_commands,
)
from custrec.cli._sampling import _cmd_sample, add_sample_command
from custrec.cli._schedule import DEFAULT_SCHEDULE, load_schedule
from custrec.cli._support import (
    ACTOR_VARIABLE,
    DB_VARIABLE,
    EXIT_CONFIG,
    EXIT_DENIED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_PROBLEMS,
    EXIT_STORAGE,
    EXIT_USAGE,
    KEY_FILE_VARIABLE,
    ProgressBar,
    _default_actor,
    _Failure,
    _insecure_key_file,
    _instant,
    _positive,
    _share,
    _zone_flag,
)
from custrec.cli._transfer import (
    _cmd_export,
    _cmd_import,
    _workers_argument,
    add_import_report_options,
)
from custrec.errors import AccessDenied, CustrecError, NotFound, StorageError
from custrec.interchange import MappingError, ReadError
from custrec.model.records import CustomerKind, LifecycleStage, RecordState
from custrec.security import (
    DecryptionFailed,
    InsecureKeyFile,
    KeyConfigurationError,
    KeyUnavailable,
)

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
        description="Customer records under PIPL/GDPR: migrate, export, grade, retain, audit, "
        "and look after one customer at a time.",
        epilog="exit codes: 0 ok, 1 rows need attention / audit broken, 2 usage, "
        "3 input or keys, 4 access denied, 5 storage, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"custrec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_keys_command(commands, _common, _progress_flags)

    imp = commands.add_parser("import", help="import a CSV or JSON Lines file")
    imp.add_argument("file", help="the CSV or JSON Lines file")
    imp.add_argument("--mapping", help="mapping file (TOML or JSON); omit for custrec exports")
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="plan and report; no database write (rejected rows still go to the error file)",
    )
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
    imp.add_argument(
        "--workers",
        type=_workers_argument,
        help="processes that map and validate rows (default: 2 with two cores or more, else 1)",
    )
    imp.add_argument("--sample-share", type=_share, default=0.15)
    imp.add_argument("--sample-seed", type=int, default=0)
    imp.add_argument("--show-issues", type=int, default=20, help="issues printed (default 20)")
    add_import_report_options(imp)
    imp.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit with 0 even when rows were rejected or are in conflict",
    )
    _progress_flags(imp)
    _common(imp)

    add_activity_command(commands, _common, _progress_flags)

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
    exp.add_argument(
        "--disclose-to",
        metavar="RECIPIENT",
        help="a disclosure to this registered third party: only customers whose consent "
        "allows --purpose are written, and the disclosure is recorded",
    )
    exp.add_argument("--purpose", help="with --disclose-to: the purpose (e.g. third_party)")
    exp.add_argument(
        "--basis", default="consent", help="with --disclose-to: the lawful basis (consent)"
    )
    exp.add_argument("--fields", help="with --disclose-to: field paths, comma-separated")
    exp.add_argument("--reference", help="with --disclose-to: your reference (no personal data)")
    _progress_flags(exp)
    _common(exp)

    add_grade_command(commands, _common, _progress_flags)

    ret = commands.add_parser("retention", help="plan (and apply) the retention schedule")
    ret.add_argument(
        "--as-of",
        type=_instant,
        help="date or date-time to plan at (default: now); a future one is a preview only",
    )
    _zone_flag(ret)
    ret.add_argument("--schedule", help="schedule TOML (default: the documented default)")
    ret.add_argument("--apply", action="store_true", help="carry out the plan")
    ret.add_argument("--show", type=int, default=50, help="actions printed (default 50)")
    _progress_flags(ret)
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
    _zone_flag(quality)
    quality.add_argument(
        "--stale-days", type=_positive, default=365, help="not verified within (default 365)"
    )
    quality.add_argument(
        "--no-duplicates", action="store_true", help="skip duplicate detection (faster)"
    )
    _progress_flags(quality)
    _common(quality)

    duplicates = commands.add_parser("duplicates", help="cluster duplicate customers (no merge)")
    duplicates.add_argument(
        "--decision",
        choices=("same", "probable", "possible"),
        default="probable",
        help="the weakest link to cluster on (default: probable)",
    )
    duplicates.add_argument("--json", action="store_true", help="one JSON line per cluster")
    _progress_flags(duplicates)
    _common(duplicates)

    add_record_commands(commands, _common)
    add_backup_commands(commands, _common)
    add_recipient_commands(commands, _common)
    add_sample_command(commands, _common)

    demo = commands.add_parser("demo", help="create sample data and run every part once")
    demo.add_argument("dir", nargs="?", default="custrec-demo", help="default: ./custrec-demo")
    demo.add_argument("--rows", type=_positive, default=200)
    demo.add_argument("--seed", type=int, default=7)
    _common(demo, db=False)
    return parser


_COMMANDS: Final[Mapping[str, Callable[[argparse.Namespace, IO[str], IO[str]], int]]] = {
    "keys": _cmd_keys,
    "import": _cmd_import,
    "import-activities": _cmd_import_activities,
    "export": _cmd_export,
    "grade": _cmd_grade,
    "retention": _cmd_retention,
    "audit": _cmd_audit,
    "quality": _cmd_quality,
    "duplicates": _cmd_duplicates,
    "backup": _cmd_backup,
    "restore": _cmd_restore,
    "recipients": _cmd_recipients,
    "sample": _cmd_sample,
    "show": _cmd_show,
    "subject": _cmd_subject,
    "erase": _cmd_erase,
    "merge": _cmd_merge,
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
    try:  # argparse prints usage errors on sys.stderr: send them where the caller asked
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
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
    except NotFound as exc:  # an id that names no customer: the input, not the storage
        return _fail(err, EXIT_CONFIG, str(exc))
    except StorageError as exc:
        return _fail(err, EXIT_STORAGE, f"storage: {exc}")
    except CustrecError as exc:
        return _fail(err, EXIT_CONFIG, str(exc))
    except BrokenPipeError:  # `custrec ... | head`: the reader has all it wanted
        _quiet_stdout(out)
        return EXIT_PIPE
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(err, EXIT_CONFIG, f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return _fail(err, EXIT_INTERRUPTED, "interrupted; run the same command again to resume")


def _quiet_stdout(out: IO[str]) -> None:
    """After a closed pipe, point standard output at the null device, so that the flush at exit
    does not raise (and print) a second ``BrokenPipeError``."""
    if out is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
