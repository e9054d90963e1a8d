"""Reads keep their promises, seen from outside the library: the type checker (run as a process)
catches a misspelt facet, and an export file lists each customer once after a merge."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.testing import TickingClock

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"孙{n}",
        "contacts": [{"phones": [f"1350000{n:04d}"], "emails": [f"s{n}@example.cn"]}],
        **extra,
    }


def new_registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate(), clock=TickingClock(T0))


def test_the_type_checker_catches_a_misspelt_facet_value_and_name(tmp_path: Any) -> None:
    source = tmp_path / "typo.py"
    source.write_text(
        textwrap.dedent(
            """
            from custrec import Actor, Registry

            def use(registry: Registry, actor: Actor) -> None:
                registry.customers.query(actor=actor, stage="active")
                registry.customers.query(actor=actor, stage="activ")
                registry.customers.count(actor=actor, stge="active")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in lines] == ["6", "7"], result.stdout


def test_an_export_lists_each_customer_once_after_a_merge(tmp_path: Any) -> None:
    from custrec.interchange import export_customers

    registry = new_registry()
    ids = [registry.customers.intake(person(n), actor=ADMIN).id for n in range(10)]
    registry.matching.merge(ids[0], [ids[1]], actor=ADMIN, reason="same person")
    exporter = Actor(id="exp", roles={"admin", "export"})
    result = export_customers(registry, tmp_path / "out.jsonl", actor=exporter)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    exported = [json.loads(line)["data"]["id"] for line in lines]
    assert sorted(exported) == sorted(i for i in ids if i != ids[1])
    assert result.exported == 9
    with pytest.raises(ValueError, match="unknown stage 'activ'"):
        export_customers(registry, tmp_path / "typo.jsonl", actor=exporter, stage="activ")
