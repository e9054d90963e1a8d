"""``custrec keys init``, ``retention``, ``audit``, ``quality`` and ``duplicates``."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from custrec._files import write_private_text
from custrec.cli._schedule import DEFAULT_SCHEDULE, load_schedule
from custrec.cli._support import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    _actor,
    _as_of,
    _counting,
    _Failure,
    _insecure_key_file,
    _print,
    _registry,
)
from custrec.interchange import render_table
from custrec.matching import MatchDecision
from custrec.security import (
    Checkpoint,
    InsecureKeyFile,
    KeyConfigurationError,
    KeyRing,
    KeyUnavailable,
    generate_key_file,
)


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


def _cmd_retention(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    schedule = load_schedule(args.schedule) if args.schedule else DEFAULT_SCHEDULE
    now = datetime.now(UTC)
    as_of = _as_of(args) or now
    if args.apply and as_of > now:
        raise _Failure(
            EXIT_USAGE,
            f"--apply carries out only the actions due now; a plan as of {as_of.isoformat()} "
            "lies in the future and is a preview: run it without --apply (or leave out --as-of)",
        )
    actor = _actor(args, {"admin"})
    with _registry(args) as registry:
        with _counting(args, err, registry, label="planning") as progress:
            plan = registry.retention.plan(
                as_of=as_of, actor=actor, schedule=schedule, progress=progress
            )
        rows = [(a.customer_id, a.action.value, a.rule, a.due_at.date().isoformat()) for a in plan]
        _print(out, f"retention plan as of {as_of.isoformat()}: {len(plan)} actions due")
        if rows:
            _print(out, render_table(("customer", "action", "rule", "due"), rows[: args.show]))
            if len(rows) > args.show:
                _print(out, f"... and {len(rows) - args.show} more")
        if args.apply:
            with _counting(
                args, err, registry, label="applying", unit="actions", total=len(plan)
            ) as progress:
                done = registry.retention.apply(
                    plan, actor=actor, schedule=schedule, progress=progress
                )
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
    with (
        _registry(args) as registry,
        _counting(args, err, registry, label="assessing") as progress,
    ):
        report = registry.quality.report(
            actor=_actor(args, {"auditor"}),
            as_of=_as_of(args),
            stale_after=timedelta(days=args.stale_days),
            duplicates=not args.no_duplicates,
            progress=progress,
        )
    if args.json:
        _print(out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(out, report.to_table())
    return EXIT_OK


def _cmd_duplicates(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with (
        _registry(args) as registry,
        _counting(args, err, registry, label="clustering") as progress,
    ):
        run = registry.matching.clusters(
            actor=_actor(args, {"auditor"}),
            decision=MatchDecision(args.decision),
            progress=progress,
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
