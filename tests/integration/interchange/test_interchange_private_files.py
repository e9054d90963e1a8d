"""Exports and error files hold personal data: they are created with mode 0600, and an older
file they replace is narrowed to 0600. Tests run as root: they check modes, not access."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ErrorFile, SourceInfo, export_customers

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

OPERATOR = Actor(id="ops", roles={"admin"})
EXPORTER = Actor(id="exporter", roles={"admin", "export", "unmask"})
VIEWER = Actor(id="viewer", roles={"admin", "export"})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def registry() -> Registry:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=OPERATOR,
    )
    return registry


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("actor", [EXPORTER, VIEWER], ids=["unmasked", "masked"])
def test_exports_are_private_files(
    registry: Registry, tmp_path: Path, fmt: str, actor: Actor
) -> None:
    fresh, old = tmp_path / f"new.{fmt}", tmp_path / f"old.{fmt}"
    old.write_text("an older export\n" * 100)
    old.chmod(0o644)
    for path in (fresh, old):
        assert export_customers(registry, path, actor=actor, format=fmt).exported == 1
        assert mode(path) == 0o600
    assert "an older export" not in old.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_error_files_are_private_files(tmp_path: Path, fmt: str) -> None:
    info = SourceInfo(name=f"x.{fmt}", format=fmt, encoding="utf-8", headers=("名称",))
    old = tmp_path / f"errors.{fmt}"
    old.write_text("rows fixed last week\n")
    old.chmod(0o666)
    with ErrorFile.for_source(tmp_path / f"new.{fmt}", info), ErrorFile.for_source(old, info):
        pass
    assert mode(tmp_path / f"new.{fmt}") == mode(old) == 0o600
    assert "fixed last week" not in old.read_text(encoding="utf-8-sig")
