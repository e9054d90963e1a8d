"""``custrec import-activities``: transactions and interactions from CSV or JSON Lines."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from custrec._files import write_private_text
from custrec.cli._support import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    ProgressBar,
    _actor,
    _Failure,
    _print,
    _registry,
    _show_progress,
)
from custrec.cli._transfer import _import_id_for
from custrec.interchange import open_source
from custrec.interchange.activities import (
    ACTIVITY_KINDS,
    ActivityMapping,
    import_activities,
    load_activity_mapping,
)
from custrec.interchange.plan import IMPORT_ID_PATTERN
from custrec.interchange.zones import calendar_zone


def add_activity_command(
    commands: Any,
    common: Callable[[argparse.ArgumentParser], None],
    progress: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``import-activities`` to the subcommands ``commands``."""
    imp = commands.add_parser(
        "import-activities",
        help="import transactions or interactions (CSV or JSON Lines) of stored customers",
    )
    imp.add_argument("file", help="the CSV or JSON Lines file")
    imp.add_argument(
        "--kind",
        choices=tuple(f"{k}s" for k in ACTIVITY_KINDS),
        help="what the file holds (default: the mapping's kind; needed without --mapping)",
    )
    imp.add_argument(
        "--mapping",
        help="activity mapping (TOML or JSON); omit when the headers are the field names",
    )
    imp.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    imp.add_argument("--report", metavar="OUT", help="write the JSON report here")
    imp.add_argument("--errors", metavar="OUT", help="write the rows to fix here")
    imp.add_argument("--import-id", help="name of the import (default: from the file name)")
    imp.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto")
    imp.add_argument("--encoding", help="source encoding (default: the mapping's, else auto)")
    imp.add_argument("--delimiter", help="CSV delimiter (default: the mapping's, else sniffed)")
    imp.add_argument("--show-issues", type=int, default=20, help="issues printed (default 20)")
    imp.add_argument(
        "--exit-zero", action="store_true", help="exit with 0 even when rows were rejected"
    )
    progress(imp)
    common(imp)


def _cmd_import_activities(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source_path = Path(args.file)
    kind = args.kind[:-1] if args.kind else None
    if args.mapping:
        mapping = load_activity_mapping(args.mapping, kind=kind)
    elif kind is None:
        raise _Failure(EXIT_USAGE, "without --mapping, say what the file holds: --kind")
    else:
        mapping = ActivityMapping.native_mapping(kind)
    import_id = args.import_id or _import_id_for(source_path)
    if IMPORT_ID_PATTERN.fullmatch(import_id) is None:
        raise _Failure(EXIT_USAGE, "--import-id: use 1-64 letters, digits, '.', '_', ':' or '-'")
    encoding = args.encoding or mapping.encoding
    delimiter = args.delimiter or mapping.delimiter
    with (
        open_source(source_path, format=args.format, encoding=encoding, delimiter=delimiter) as src,
    ):
        mapping.bind(src.info.headers if src.info.format == "csv" else None)  # before the db
        ext = "csv" if src.info.format == "csv" else "jsonl"
        if args.errors:
            errors_path = Path(args.errors)
        elif args.report:
            errors_path = Path(args.report).with_suffix(f".errors.{ext}")
        else:
            errors_path = Path(f"{source_path.stem}.errors.{ext}")
        with _registry(args, zone=calendar_zone(mapping.timezone)) as registry:
            bar = ProgressBar(
                err, label="importing", total=src.size, enabled=_show_progress(args, err)
            )
            try:
                report = import_activities(
                    src,
                    mapping,
                    registry,
                    actor=_actor(args, {"admin"}),
                    import_id=import_id,
                    dry_run=args.dry_run,
                    errors_path=errors_path,
                    progress=lambda rows: bar.update(rows, src.position),
                )
            finally:
                bar.close()
    if args.report:
        write_private_text(args.report, report.to_json() + "\n")
    _print(out, report.render(max_issues=args.show_issues))
    if report.errors_written:
        _print(out, f"rows to fix: {errors_path} ({report.errors_written} rows)")
    if args.report:
        _print(out, f"report: {args.report}")
    return EXIT_OK if report.ok or args.exit_zero else EXIT_PROBLEMS
