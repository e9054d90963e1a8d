"""``custrec recipients``: register and list the third parties ``export --disclose-to`` names."""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Callable
from typing import IO, Any

from custrec.cli._support import EXIT_CONFIG, EXIT_OK, _actor, _Failure, _print, _registry
from custrec.errors import InvalidState

_ROLES = {"compliance"}


def add_recipient_commands(
    commands: Any, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``recipients add`` and ``recipients list`` to the subcommands ``commands``."""
    recipients = commands.add_parser(
        "recipients", help="register or list the third parties disclosures go to"
    )
    actions = recipients.add_subparsers(dest="recipients_action", required=True)
    add = actions.add_parser("add", help="register a recipient (audited)")
    add.add_argument("id", help="the recipient's id, as --disclose-to will name it")
    add.add_argument("--name", required=True, help="the organisation's name")
    add.add_argument("--contact", required=True, help="who to contact there")
    add.add_argument("--contract", required=True, help="the agreement disclosures rest on")
    add.add_argument("--country", help="ISO 3166 code of where it processes the data")
    add.add_argument("--note", help="anything else worth keeping (no personal data)")
    common(add)
    listing = actions.add_parser("list", help="list the registered recipients")
    common(listing)


def _cmd_recipients(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    actor = _actor(args, _ROLES)
    with _registry(args) as registry:
        if args.recipients_action == "add":
            try:
                recipient = registry.disclosures.register_recipient(
                    args.id,
                    name=args.name,
                    contact=args.contact,
                    contract=args.contract,
                    country=args.country,
                    note=args.note,
                    actor=actor,
                )
            except (InvalidState, ValueError, TypeError) as exc:
                raise _Failure(EXIT_CONFIG, f"cannot register {args.id}: {exc}") from None
            _print(out, f"registered recipient {recipient.id} ({recipient.name})")
            return EXIT_OK
        for recipient in registry.disclosures.recipients(actor=actor):
            where = f", {recipient.country}" if recipient.country else ""
            name, contract = _one_line(recipient.name), _one_line(recipient.contract)
            _print(out, f"{recipient.id}: {name}{where}; contract {contract}")
        return EXIT_OK


def _one_line(text: str) -> str:
    """``text`` with any control, format or line-break character (an earlier version stored
    them) shown as a ``\\uXXXX`` escape, so that one recipient stays one line."""
    if text.isprintable():
        return text
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
        for c in text
    )
