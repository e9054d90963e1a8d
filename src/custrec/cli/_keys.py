"""``custrec keys init``, ``keys rotate`` and ``keys reindex``.

``keys rotate`` adds a fresh master key to the key file and makes it current
(:func:`~custrec.security.rotate_key_file`: the file is replaced atomically, mode 0600, and
keeps the old keys), then re-wraps every data key under it
(:meth:`~custrec.services.KeyService.rotate_master`). With keys from ``CUSTREC_MASTER_KEYS``
the command cannot add the key: prepend it to the variable yourself and run
``keys rotate --rewrap-only``, which is also how an interrupted rotation is finished.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

from custrec.cli._manage import _cmd_keys_init
from custrec.cli._support import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    KEY_FILE_VARIABLE,
    _actor,
    _counting,
    _Failure,
    _insecure_key_file,
    _print,
    _reason_text,
    _registry,
)
from custrec.security import (
    InsecureKeyFile,
    KeyConfigurationError,
    KeyRing,
    KeyUnavailable,
    rotate_key_file,
)

_NUMBERED: Final = re.compile(r"k(\d+)")


def add_keys_command(
    commands: Any,
    common: Callable[..., None],
    progress: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``keys init``, ``keys rotate`` and ``keys reindex`` to the subcommands ``commands``."""
    keys = commands.add_parser("keys", help="manage key files: create, rotate, re-index")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="create a key file (mode 0600)")
    init.add_argument("path", help="where to write the key file")
    init.add_argument("--exist-ok", action="store_true", help="keep an existing key file")

    rotate = actions.add_parser(
        "rotate",
        help="add a new master key to the key file and re-wrap every data key under it",
    )
    rotate.add_argument(
        "--master-id",
        metavar="ID",
        help="id of the new master key (default: the next free k<N>, e.g. k2)",
    )
    rotate.add_argument(
        "--rewrap-only",
        action="store_true",
        help="add no key: re-wrap under the current one (keys from the environment, or to "
        "finish an interrupted rotation)",
    )
    rotate.add_argument("--reason", type=_reason_text, help="why (recorded in the audit log)")
    progress(rotate)
    common(rotate)

    reindex = actions.add_parser(
        "reindex",
        help="rewrite every customer's look-up keys and facets (after an index key or "
        "settings changed)",
    )
    reindex.add_argument("--reason", type=_reason_text, help="why (recorded in the audit log)")
    progress(reindex)
    common(reindex)


def _cmd_keys(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    if args.keys_command == "init":
        return _cmd_keys_init(args, out)
    if args.keys_command == "rotate":
        return _cmd_rotate(args, out, err)
    return _cmd_reindex(args, out, err)


def _key_file(args: argparse.Namespace) -> Path | None:
    chosen = args.keys or os.environ.get(KEY_FILE_VARIABLE, "").strip() or None
    return None if chosen is None else Path(chosen)


def _next_id(ring: KeyRing) -> str:
    taken = set(ring.provider.key_ids())
    numbers = [int(m.group(1)) for k in taken if (m := _NUMBERED.fullmatch(k))]
    n = max(numbers, default=0) + 1
    while f"k{n}" in taken:
        n += 1
    return f"k{n}"


def _rewrap(args: argparse.Namespace, err: IO[str]) -> tuple[int, int, str]:
    with (
        _registry(args) as registry,
        _counting(args, err, registry, label="re-wrapping", unit="keys") as progress,
    ):
        report = registry.keys.rotate_master(
            actor=_actor(args, {"admin"}), reason=args.reason, progress=progress
        )
    return report.rewrapped, report.unchanged, report.master_key_id


def _cmd_rotate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    path = _key_file(args)
    if args.rewrap_only:
        if args.master_id is not None:
            raise _Failure(EXIT_USAGE, "--master-id adds a key; --rewrap-only adds none")
        rewrapped, unchanged, current = _rewrap(args, err)
        _print(out, f"re-wrapped {rewrapped} data keys under {current}; {unchanged} were already")
        return EXIT_OK
    if path is None:
        raise _Failure(
            EXIT_CONFIG,
            "the keys come from CUSTREC_MASTER_KEYS: add the new master key there yourself "
            "(first, as the current one; keep the old one), then run "
            "'custrec keys rotate --rewrap-only'",
        )
    with _registry(args) as registry:  # the keys must open the database before they change
        ring = KeyRing.from_file(path)
        del registry
    new_id = args.master_id or _next_id(ring)
    try:
        rotate_key_file(path, master_key_id=new_id)
    except InsecureKeyFile as exc:
        raise _insecure_key_file(exc) from None
    except (ValueError, KeyConfigurationError, KeyUnavailable) as exc:
        code = EXIT_USAGE if args.master_id else EXIT_CONFIG
        raise _Failure(code, f"cannot add {new_id} to {path}: {exc}") from None
    _print(out, f"added master key {new_id} to {path} (mode 0600) and made it current")
    try:
        rewrapped, unchanged, current = _rewrap(args, err)
    except KeyboardInterrupt:
        raise _Failure(
            EXIT_INTERRUPTED,
            f"interrupted after {new_id} was added: finish with 'custrec keys rotate "
            "--rewrap-only' (running the same command again would add another key)",
        ) from None
    _print(out, f"re-wrapped {rewrapped} data keys under {current}; {unchanged} were already")
    _print(
        out,
        f"back the key file up again now: the data keys need {new_id}, which older copies lack; "
        "the old master keys stay in the file until you remove them",
    )
    return EXIT_OK


def _cmd_reindex(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with (
        _registry(args) as registry,
        _counting(args, err, registry, label="re-indexing") as progress,
    ):
        count = registry.keys.reindex(
            actor=_actor(args, {"admin"}), reason=args.reason, progress=progress
        )
    _print(out, f"re-indexed {count} customers (the others were up to date)")
    return EXIT_OK
