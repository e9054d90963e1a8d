"""One customer at a time: ``custrec show``, ``subject export``, ``erase`` and ``merge``.

Each command acts with the least roles it needs (``show``: ``admin``, plus ``unmask`` with
``--unmask``; ``subject export``: ``admin`` and ``export``, plus ``unmask``; ``erase``:
``admin`` and ``erase``; ``merge``: ``admin``). ``--role`` replaces them by the roles the
acting person really holds (with ``--actor`` and ``--team``), so that the registry's access
policy decides as it would for them: a refusal exits with 4 and prints nothing personal.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

from custrec._files import write_private_text
from custrec.cli._support import (
    EXIT_CONFIG,
    EXIT_DENIED,
    EXIT_OK,
    EXIT_USAGE,
    _Failure,
    _print,
    _reason_text,
    _registry,
)
from custrec.interchange import render_table
from custrec.matching import DEFAULT_RULES, Strategy, SurvivorshipRules
from custrec.model.records import Customer
from custrec.model.serialization import make_converter
from custrec.security import DEFAULT_GRANTS, Action, Actor, Resource, RoleBasedPolicy

ROLES: Final = tuple(sorted(DEFAULT_GRANTS))
"""The roles ``--role`` accepts: those of the registry's default access policy."""

_CONVERTER: Final = make_converter()


def _role_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        choices=ROLES,
        metavar="ROLE",
        help="act with this role instead of the command's own (repeat for several): "
        + ", ".join(ROLES),
    )


def _format_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def add_record_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``show``, ``subject``, ``erase`` and ``merge`` to the subcommands ``commands``."""
    show = commands.add_parser("show", help="one customer, masked unless --unmask (audited)")
    show.add_argument("id", metavar="ID", help="the customer id")
    show.add_argument(
        "--unmask", action="store_true", help="show clear values (refused without the right)"
    )
    show.add_argument("--purpose", help="why the record is read (recorded in the audit log)")
    _format_flag(show)
    _role_flag(show)
    common(show)

    subject = commands.add_parser("subject", help="data-subject requests")
    actions = subject.add_subparsers(dest="subject_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="everything held about a customer as JSON (PIPL Art. 45, GDPR Art. 15), audited",
    )
    export.add_argument("id", metavar="ID", help="the customer id")
    export.add_argument("--out", metavar="FILE", help="write it here (mode 0600), not stdout")
    export.add_argument(
        "--unmask", action="store_true", help="clear values (for the subject; needs the right)"
    )
    _role_flag(export)
    common(export)

    erase = commands.add_parser(
        "erase", help="erase a customer's personal data by destroying its key (audited)"
    )
    erase.add_argument("id", metavar="ID", help="the customer id")
    erase.add_argument(
        "--reason", type=_reason_text, required=True, help="why (recorded; no personal data)"
    )
    _format_flag(erase)
    _role_flag(erase)
    common(erase)

    merge = commands.add_parser(
        "merge", help="merge duplicates into a survivor by the survivorship rules (audited)"
    )
    merge.add_argument("survivor", metavar="SURVIVOR", help="the customer id that stays")
    merge.add_argument("others", metavar="OTHER", nargs="+", help="ids merged into it")
    merge.add_argument(
        "--reason", type=_reason_text, required=True, help="why (recorded; no personal data)"
    )
    merge.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="FIELD=STRATEGY",
        help="how one field is chosen (repeatable): "
        + ", ".join(s.value for s in Strategy)
        + "; the others follow the default rules",
    )
    merge.add_argument(
        "--default",
        choices=tuple(s.value for s in Strategy),
        help=f"the strategy of fields without a rule (default {DEFAULT_RULES.default.value})",
    )
    _format_flag(merge)
    _role_flag(merge)
    common(merge)


def _acting(args: argparse.Namespace, roles: set[str]) -> Actor:
    chosen = set(args.roles) if args.roles else roles
    return Actor(id=args.actor, roles=chosen, team=args.team)


def _flatten(value: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(path, text)`` for every filled leaf of an unstructured record."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{n}]")
    elif value is not None and value != "":
        yield prefix, str(value)


def _cmd_show(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    actor = _acting(args, {"admin", "unmask"} if args.unmask else {"admin"})
    with _registry(args) as registry:
        customer = registry.customers.get(args.id, actor=actor, purpose=args.purpose)
    # The registry's default policy (the one the command line's registry uses) tells whether
    # what came back is masked; asked to unmask, a masked record is a refusal, not an answer.
    masked = RoleBasedPolicy().decide(actor, Action.READ, Resource.of(customer)).masked
    if args.unmask and masked:
        raise _Failure(
            EXIT_DENIED,
            f"actor {actor.id} may not unmask customer {customer.id} "
            f"(roles: {', '.join(sorted(actor.roles)) or 'none'}); the read was audited as "
            "masked and nothing was shown",
        )
    document = _CONVERTER.unstructure(customer)
    if args.format == "json":
        _print(out, json.dumps({"masked": masked, "customer": document}, ensure_ascii=False))
        return EXIT_OK
    _print(out, f"customer {customer.id} ({'masked' if masked else 'unmasked'})")
    rows = [(path, text) for path, text in _flatten(document) if path != "id"]
    _print(out, render_table(("field", "value"), rows, align="ll"))
    return EXIT_OK


def _cmd_subject(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    roles = {"admin", "export", "unmask"} if args.unmask else {"admin", "export"}
    actor = _acting(args, roles)
    with _registry(args) as registry:
        export = registry.privacy.export_subject(args.id, actor=actor)
    if args.unmask and export.masked:
        raise _Failure(
            EXIT_DENIED,
            f"actor {actor.id} may not unmask customer {export.customer_id}; the export was "
            "audited as masked and nothing was written",
        )
    text = json.dumps(export.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        out.write(text)
        return EXIT_OK
    write_private_text(args.out, text)
    state = "masked" if export.masked else "unmasked"
    _print(out, f"subject export of {export.customer_id} ({state}) written to {args.out}")
    return EXIT_OK


def _cmd_erase(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    actor = _acting(args, {"admin", "erase"})
    with _registry(args) as registry:
        try:
            receipt = registry.privacy.erase(args.id, actor=actor, reason=args.reason)
        except ValueError as exc:  # a reason that repeats the customer's data (never echoed)
            raise _Failure(EXIT_CONFIG, str(exc)) from None
    if args.format == "json":
        document = {
            "customer_id": receipt.customer_id,
            "erased_at": receipt.erased_at.isoformat(),
            "actor_id": receipt.actor_id,
            "reason": receipt.reason,
            "actions": [{"target": a.target, "action": a.action} for a in receipt.actions],
        }
        _print(out, json.dumps(document, ensure_ascii=False))
        return EXIT_OK
    _print(
        out,
        f"erased customer {receipt.customer_id} at {receipt.erased_at.isoformat()} "
        f"by {receipt.actor_id}",
    )
    _print(out, f"reason: {receipt.reason}")
    rows = [(a.target, a.action) for a in receipt.actions]
    if rows:
        _print(out, render_table(("target", "action"), rows, align="ll"))
    return EXIT_OK


def _rules(args: argparse.Namespace) -> SurvivorshipRules | None:
    if not args.rule and args.default is None:
        return None
    fields: dict[str, Strategy] = dict(DEFAULT_RULES.fields)
    for given in args.rule:
        name, sep, strategy = given.partition("=")
        if not sep or not name.strip():
            raise _Failure(EXIT_USAGE, f"--rule {given!r}: expected FIELD=STRATEGY")
        try:
            fields[name.strip()] = Strategy(strategy.strip())
        except ValueError:
            choices = ", ".join(s.value for s in Strategy)
            raise _Failure(EXIT_USAGE, f"--rule {name}: the strategy is one of {choices}") from None
    try:
        return SurvivorshipRules(default=args.default or DEFAULT_RULES.default, fields=fields)
    except ValueError as exc:
        raise _Failure(EXIT_USAGE, f"--rule: {exc}") from None


def _cmd_merge(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    rules = _rules(args)
    reason: str = args.reason
    if args.survivor in args.others or len(set(args.others)) != len(args.others):
        raise _Failure(EXIT_USAGE, "the ids must be distinct, and OTHER must not be SURVIVOR")
    actor = _acting(args, {"admin"})
    with _registry(args) as registry:
        result = registry.matching.merge(
            args.survivor, args.others, actor=actor, reason=reason, rules=rules
        )
    changed = [c for c in result.choices if c.changed]
    survivor: Customer = result.customer
    if args.format == "json":
        document = {
            "survivor": survivor.id,
            "merged": list(result.merged_ids),
            "activities_moved": result.activities_moved,
            "consent_events_copied": result.consent_events_copied,
            "fields": [
                {
                    "field": c.field,
                    "strategy": c.strategy.value if c.strategy is not None else None,
                    "from": list(c.source_ids),
                }
                for c in changed
            ],
        }
        _print(out, json.dumps(document, ensure_ascii=False))
        return EXIT_OK
    _print(out, f"merged {', '.join(result.merged_ids)} into {survivor.id}")
    _print(
        out,
        f"moved {result.activities_moved} transactions and interactions; copied "
        f"{result.consent_events_copied} consent events; the merged ids now lead to the survivor",
    )
    rows = [
        (
            c.field,
            c.strategy.value if c.strategy is not None else "(fixed)",
            ", ".join(c.source_ids),
        )
        for c in changed
    ]
    if rows:
        _print(out, render_table(("field changed", "rule", "taken from"), rows, align="lll"))
    else:
        _print(out, "no field of the survivor changed")
    return EXIT_OK
