"""``custrec import`` and ``custrec export``, with the hints for a file read in the wrong
encoding."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import IO, Final

import attrs

from custrec._files import write_private_text
from custrec.cli._support import (
    EXIT_CONFIG,
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
from custrec.compliance import Disclose
from custrec.compliance.disclosures import check_fields
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
)
from custrec.interchange.plan import IMPORT_ID_PATTERN, MAX_WORKERS
from custrec.interchange.report_ids import IdsFile
from custrec.interchange.report_sample import render_sample, sample_records


def _default_workers() -> int:
    """The worker processes ``custrec import`` uses without ``--workers``: two when the machine
    has two cores or more (the calling process writes while they map and validate; more
    workers than that gain little, since the writer is the slower half), else one."""
    return min(2, os.cpu_count() or 1)


def _workers_argument(text: str) -> int:
    """``--workers N``: 1 to :data:`~custrec.interchange.plan.MAX_WORKERS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_WORKERS}")
    return value


def add_import_report_options(parser: argparse.ArgumentParser) -> None:
    """``--ids``, ``--show-sample`` and ``--allow-erased-subjects`` of ``custrec import``."""
    parser.add_argument(
        "--ids",
        metavar="OUT",
        help="write each row's outcome and customer id here, as JSON Lines (default with "
        "--report: beside it, REPORT.ids.jsonl)",
    )
    parser.add_argument(
        "--show-sample",
        metavar="N",
        nargs="?",
        const=20,
        type=int,
        help="print the first N (20) customers of the sample for manual checking, as masked "
        "records (audited reads)",
    )
    parser.add_argument(
        "--allow-erased-subjects",
        action="store_true",
        help="store rows whose phone, e-mail or identifier belonged to an erased customer "
        "(a person who came back and consented anew; the new collection needs its own basis)",
    )


def _import_id_for(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._")[:48]
    if slug:
        return slug
    return "import-" + hashlib.sha256(path.stem.encode()).hexdigest()[:8]


def _cmd_import(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    source_path = Path(args.file)
    mapping = load_mapping(args.mapping) if args.mapping else None
    policy = ImportPolicy(
        on_match=args.on_match,
        on_file_duplicate=args.on_file_duplicate,
        batch_size=args.batch_size,
        sample_share=args.sample_share,
        sample_seed=args.sample_seed,
        workers=getattr(args, "workers", None) or _default_workers(),
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
        if args.ids:
            ids_path: Path | None = Path(args.ids)
        elif args.report:
            ids_path = Path(args.report).with_suffix(".ids.jsonl")
        else:
            ids_path = None
        show = _show_progress(args, err)
        bar = ProgressBar(err, label="importing", total=src.size, enabled=show)
        with (
            ErrorFile.for_source(errors_path, info) as error_file,
            contextlib.nullcontext(None) if ids_path is None else IdsFile(ids_path) as ids_file,
        ):
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
                    ids_file=ids_file,
                    progress=lambda rows: bar.update(rows, src.position),
                    allow_erased=args.allow_erased_subjects,
                )
            finally:
                bar.close()
        sample = None
        if args.show_sample is not None and not args.dry_run:
            reader = _actor(args, {"admin"})  # no unmask: the records are read masked
            sample = sample_records(registry, report, actor=reader, limit=max(0, args.show_sample))
    report_text = report.to_json()
    if args.report:
        write_private_text(args.report, report_text + "\n")
    # the report names its error file (they go side by side); the summary shows where it is
    shown = (
        report if report.error_file is None else attrs.evolve(report, error_file=str(errors_path))
    )
    _print(out, shown.render(max_issues=args.show_issues))
    if args.report:
        _print(out, f"report: {args.report}")
    if args.show_sample is not None:
        _print(out, "sample for manual checking, masked:")
        if sample is None:
            _print(out, "  none: a dry run stores nothing (run the import, then check the sample)")
        else:
            _print(out, render_sample(sample) or "  none: the import holds no customer")
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


def _disclosure(args: argparse.Namespace) -> Disclose | None:
    """The ``--disclose-to`` options as a :class:`Disclose` (``None`` without them)."""
    if args.disclose_to is None:
        if args.purpose is not None or args.fields is not None:
            raise _Failure(EXIT_USAGE, "--purpose and --fields go with --disclose-to")
        return None
    if args.purpose is None:
        raise _Failure(EXIT_USAGE, "--disclose-to needs --purpose (e.g. third_party)")
    try:
        fields = None
        if args.fields is not None:
            paths = [f.strip() for f in args.fields.split(",") if f.strip()]
            if not paths:
                raise ValueError(
                    "--fields names no field: name one, or leave --fields out to send the "
                    "whole record"
                )
            fields = check_fields(paths)
        return Disclose(
            recipient=args.disclose_to,
            purpose=args.purpose,
            basis=args.basis,
            fields=fields,
            reference=args.reference,
        )
    except (TypeError, ValueError) as exc:
        raise _Failure(EXIT_USAGE, str(exc)) from None


def _cmd_export(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    roles = {"admin", "export", "unmask"} if args.unmask else {"admin", "export"}
    fmt = args.format or ("csv" if Path(args.out).suffix.lower() == ".csv" else "jsonl")
    disclose = _disclosure(args)
    if disclose is not None and not args.unmask:
        # masked values are no use to a recipient: every customer would be left out as masked
        raise _Failure(EXIT_USAGE, "--disclose-to sends clear values: add --unmask")
    facets = {
        facet: getattr(args, facet)
        for facet in ("stage", "kind", "state", "owner", "grade", "tag")
        if getattr(args, facet) is not None
    }
    with _registry(args) as registry:
        show = _show_progress(args, err)
        total = registry.customers.count(actor=_actor(args, {"admin"}), **facets) if show else None
        bar = ProgressBar(err, label="exporting", total=total, enabled=show)
        try:
            result = export_customers(
                registry,
                args.out,
                actor=_actor(args, roles),
                format=fmt,
                progress=lambda done: bar.update(done, done),
                disclose=disclose,
                **facets,
            )
        except ValueError as exc:  # a purpose that is not for third parties
            raise _Failure(EXIT_USAGE, str(exc)) from None
        except OSError as exc:
            if exc.filename is None:  # a failed write names no file: this is the one
                exc.filename = args.out
            raise
        finally:
            bar.close()
    state = "masked" if result.masked else "unmasked"
    _print(out, f"exported {result.exported} customers ({state}) to {args.out}")
    if result.erased or result.denied:
        _print(out, f"left out: {result.erased} erased, {result.denied} not allowed")
    if result.disclosure is not None:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(result.excluded.items()))
        _print(out, f"disclosure {result.disclosure.id} to {result.disclosure.recipient_id}")
        _print(out, f"left out by consent: {reasons or 'none'}")
    return EXIT_OK
