"""The shape the architecture promises (docs/architecture.md, "Rules that keep it this way")."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "custrec"
MAX_MODULE_LINES = 900
MAX_CLASS_LINES = 600
MAX_FACADE_LINES = 250


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_is_longer_than_900_lines() -> None:
    long = {
        str(path.relative_to(SRC)): n
        for path in modules()
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_class_is_longer_than_600_lines() -> None:
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = length
    assert long == {}


def test_the_facade_stays_small() -> None:
    assert len((SRC / "registry.py").read_text("utf-8").splitlines()) <= MAX_FACADE_LINES
