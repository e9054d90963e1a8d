"""Retention schedules for ``custrec retention``: the default one and :func:`load_schedule`."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any, Final

from custrec.cli._support import EXIT_CONFIG, _Failure, _instant
from custrec.interchange.convert import ConversionError
from custrec.interchange.zones import parse_zone
from custrec.model.records import CustomerKind, DataCategory, LifecycleStage, RecordState
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
        zone = parse_zone(str(data.get("timezone", "UTC")))
        return RetentionSchedule(
            parts["rules"], floors=parts["floors"], holds=parts["holds"], tz=zone
        )
    except (ConversionError, RetentionError, ValueError) as exc:
        raise _Failure(EXIT_CONFIG, f"{file}: {exc}") from None
