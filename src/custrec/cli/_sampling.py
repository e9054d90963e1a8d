"""``custrec sample``: draw a post-import sampling audit batch (docs/sampling-audit.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from custrec.cli._support import EXIT_OK, EXIT_USAGE, _actor, _Failure, _print, _registry, _share
from custrec.registry import Registry
from custrec.security import Actor


def add_sample_command(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``sample`` to the subcommands ``commands``."""
    sample = commands.add_parser(
        "sample", help="sample an import's customers for a checking audit (stored, audited)"
    )
    sample.add_argument("import_id", metavar="IMPORT_ID", help="the import to sample")
    sample.add_argument(
        "--share", type=_share, default=0.15, help="share to sample, 0.1 to 0.2 usual (0.15)"
    )
    sample.add_argument("--seed", type=int, help="picks the sample (default: a random one)")
    sample.add_argument(
        "--fields", help="comma-separated field paths to check (default: kind, name, ...)"
    )
    sample.add_argument("--json", action="store_true", help="print the batch and ids as JSON")
    common(sample)


def _ids(registry: Registry, batch_id: str, actor: Actor) -> Iterator[str]:
    after: str | None = None
    while True:
        page = registry.sampling.records(batch_id, actor=actor, after=after, limit=100)
        yield from (record.customer_id for record in page)
        if len(page) < 100:
            return
        after = page[-1].customer_id


def _cmd_sample(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    fields = None if args.fields is None else [f.strip() for f in args.fields.split(",")]
    actor = _actor(args, {"compliance"})
    with _registry(args) as registry:
        try:
            batch = registry.sampling.sample(
                args.import_id, share=args.share, seed=args.seed, fields=fields, actor=actor
            )
        except (ValueError, TypeError) as exc:
            raise _Failure(EXIT_USAGE, str(exc)) from None
        ids = list(_ids(registry, batch.id, actor))
    if args.json:
        _print(out, json.dumps({**batch.to_json(), "ids": ids}, ensure_ascii=False))
        return EXIT_OK
    _print(
        out,
        f"sampling batch {batch.id} of import {batch.import_id}: {batch.sample_size} of "
        f"{batch.population} customers (share {batch.share:.0%}, seed {batch.seed})",
    )
    _print(out, f"fields to check: {', '.join(batch.fields)}")
    for customer_id in ids:
        _print(out, f"  {customer_id}")
    return EXIT_OK
