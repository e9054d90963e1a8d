"""``custrec backup`` and ``custrec restore``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import IO, Any

from custrec.backends._sqlite.backup import OVERWRITE_HINT
from custrec.cli._support import (
    DB_VARIABLE,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
    _actor,
    _Failure,
    _load_keyring,
    _print,
    _reason_text,
    _registry,
)
from custrec.errors import BackupError, KeyringMismatch
from custrec.services import restore_backup


def add_backup_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``backup`` and ``restore`` to the subcommands ``commands``."""
    backup = commands.add_parser(
        "backup", help="write a consistent copy of the database (mode 0600), audited"
    )
    backup.add_argument("out", help="the backup file to write")
    backup.add_argument(
        "--include-keys",
        action="store_true",
        help="also copy the key store, to OUT's .keys file: store it apart from the data copy, "
        "or erased customers stay readable in the backups",
    )
    backup.add_argument(
        "--overwrite", action="store_true", help="replace existing files (refused otherwise)"
    )
    common(backup)
    restore = commands.add_parser(
        "restore",
        help="replace the database by a backup; the rollback is audited, erasures replayed",
    )
    restore.add_argument("backup", help="a backup file written by 'custrec backup'")
    restore.add_argument(
        "--reason", type=_reason_text, required=True, help="why (recorded in the audit log)"
    )
    restore.add_argument(
        "--keys-backup", metavar="PATH", help="restore the key store too, from this copy"
    )
    restore.add_argument(
        "--allow-unrecorded",
        action="store_true",
        help="restore a file the key store has no valid record of (made elsewhere, or altered)",
    )
    common(restore)


def _cmd_backup(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    with _registry(args) as registry:
        try:
            receipt = registry.backups.backup(
                args.out,
                actor=_actor(args, {"admin"}),
                include_keys=args.include_keys,
                overwrite=args.overwrite,
            )
        except BackupError as exc:  # the library names its argument; here it is an option
            message = str(exc).replace(OVERWRITE_HINT, "pass --overwrite")
            raise _Failure(EXIT_CONFIG, message) from None
    _print(
        out,
        f"backup written to {receipt.path} (mode 0600): {receipt.size:,} bytes, schema "
        f"{receipt.schema_version}, audit entry {receipt.audit_seq}",
    )
    _print(out, f"sha256 {receipt.sha256}")
    if not receipt.recorded:
        _print(out, "not recorded: this database has no key store to record it in")
    if receipt.keys_path is not None:
        _print(
            err,
            f"the key store was copied to {receipt.keys_path}: store it apart from the data "
            "backup and keep it briefly; with both, erased customers are readable again",
        )
    return EXIT_OK


def _cmd_restore(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    db = args.db or os.environ.get(DB_VARIABLE, "").strip()
    if not db:
        raise _Failure(EXIT_USAGE, "no database: pass --db PATH or set CUSTREC_DB")
    keyring = _load_keyring(args.keys)
    try:
        receipt = restore_backup(
            args.backup,
            db,
            keyring=keyring,
            actor=_actor(args, {"admin"}),
            reason=args.reason,
            keys_backup=args.keys_backup,
            allow_unrecorded=args.allow_unrecorded,
        )
    except KeyringMismatch as exc:
        raise _Failure(
            EXIT_CONFIG,
            f"{args.backup} and these keys do not belong together (another database's backup, "
            f"or other keys?): {exc}",
        ) from None
    back = receipt.rolled_back_from
    _print(
        out,
        f"restored {receipt.database} from {receipt.backup}: the audit log ends at the "
        f"backup's entry {receipt.audit_seq}"
        + (f" (it was at {back})" if back is not None else "")
        + f"; the restore is entry {receipt.restore_seq}",
    )
    if not receipt.recorded:
        _print(out, "the backup had no record in the key store (restored as asked)")
    _print(out, f"erasures replayed: {len(receipt.replayed)}")
    return EXIT_OK
