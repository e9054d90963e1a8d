"""docs/cli.md documents every command of ``custrec``, and every example there parses."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from custrec.cli import build_parser

PAGE = Path(__file__).parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[list[str]]:
    found = []
    for block in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "custrec":
                found.append(words[1:])
    return found


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every command path the parser knows (``("keys", "rotate")``, ``("show",)``...)."""
    paths: set[tuple[str, ...]] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                below = commands(sub, (*prefix, name))
                paths |= below or {(*prefix, name)}
    return paths


@pytest.mark.parametrize("argv", examples(), ids=" ".join)
def test_every_example_parses(argv: list[str]) -> None:
    build_parser().parse_args(argv)


def test_every_command_has_an_example() -> None:
    shown = {tuple(argv[: len(path)]) for argv in examples() for path in commands(build_parser())}
    missing = commands(build_parser()) - shown
    assert not missing, f"docs/cli.md has no example of: {sorted(missing)}"
