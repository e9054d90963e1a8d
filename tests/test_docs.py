"""The Python blocks of every docs/*.md page run, in order, as a reader would paste them.

Each page runs in a fresh interpreter (``-W error::UserWarning``) whose working directory is
an empty temporary directory holding a copy of ``examples/data`` (the pages read the bundled
sample files by their paths in a checkout); every file a block writes lands there. The blocks
of one page share one namespace, so a later block may use what an earlier one defined.

- A ```python (or ```pycon) block runs. One that starts with ``>>>`` is a doctest session:
  its outputs are compared (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` on).
- A Python block that is not meant to run (a signature, an excerpt of the reader's own code)
  says so on the line right before its fence: ``<!-- not-run: the reason -->``. Nothing is
  skipped silently: a fence without a language, or with one this file does not know, fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))

RUN = {"python", "pycon"}
NOT_PYTHON = {"bash", "console", "json", "sql", "text", "toml"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^`]*)$")
NOT_RUN = re.compile(r"^\s*<!-- not-run: (?P<reason>\S.*?) -->\s*$")

# The interpreter options of every page; a page that needs others gets an entry here.
OPTIONS: dict[str, list[str]] = {}
DEFAULT_OPTIONS = ["-W", "error::UserWarning"]


class Block(NamedTuple):
    line: int  # of the first line of code, 1-based
    lang: str
    code: str
    not_run: str | None  # the reason, for a block marked not to run


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``; ``ValueError`` for a fence or marker it cannot honour."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        marker = NOT_RUN.match(lines[i])
        if marker and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
            raise ValueError(f"{page.name}:{i + 1}: a not-run marker must be right before a fence")
        if not match:
            i += 1
            continue
        indent, lang = len(match["indent"]), match["lang"].strip()
        if lang not in RUN | NOT_PYTHON:
            raise ValueError(
                f"{page.name}:{i + 1}: fence language {lang!r} is neither run nor known"
            )
        start = i + 1
        i = start
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if i == len(lines):
            raise ValueError(f"{page.name}:{start}: unclosed fence")
        code = "\n".join(line[indent:] for line in lines[start:i]) + "\n"
        marked = NOT_RUN.match(lines[start - 2]) if start >= 2 else None
        if marked and lang not in RUN:
            raise ValueError(
                f"{page.name}:{start}: not-run marker on a {lang} block, which never runs"
            )
        found.append(Block(start + 1, lang, code, marked["reason"] if marked else None))
        i += 1
    return found


RUNNER = """\
import doctest, json, sys

page, blocks = sys.argv[1], json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for line, code in blocks:
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, page, page, line - 1)
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test, out=sys.stderr.write, clear_globs=False)
        if runner.failures:
            sys.exit(1)
    else:
        exec(compile("\\n" * (line - 1) + code, page, "exec"), namespace)
"""


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_in_order(page: Path, tmp_path: Path) -> None:
    runnable = [(b.line, b.code) for b in blocks(page) if b.lang in RUN and b.not_run is None]
    if not runnable:
        return  # no Python here (the fences were still checked)
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "examples" / "data")
    result = subprocess.run(
        [sys.executable, *OPTIONS.get(page.name, DEFAULT_OPTIONS), "-c", RUNNER, str(page)],
        input=json.dumps(runnable),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"a block of docs/{page.name} failed:\n{result.stderr}", pytrace=False)


def marked_not_run() -> list[tuple[str, str]]:
    found = []
    for page in DOCS:
        try:
            found += [(f"{page.name}:{b.line}", b.not_run) for b in blocks(page) if b.not_run]
        except ValueError:
            pass  # test_python_blocks_run_in_order reports it
    return found


@pytest.mark.parametrize(("where", "reason"), marked_not_run() or [("-", "")])
def test_blocks_marked_not_run(where: str, reason: str) -> None:
    """One skip per block marked not to run, so ``pytest -rs`` lists them with their reasons."""
    if reason:
        pytest.skip(f"{where} not run: {reason}")
