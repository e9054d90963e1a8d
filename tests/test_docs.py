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
- A fence whose language is a MyST directive in braces (```{toctree}, ```{include} ../X.md)
  builds the site (Sphinx reads these pages) and is not Python, except a code directive
  (``{code-block}``, ``{code}``, ...) showing Python: that must be a ```python fence, so it runs.
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
# A MyST directive fence: ```{name} and, on the same line, its arguments.
DIRECTIVE = re.compile(r"^\{(?P<name>[a-z][\w.:-]*)\}(?:\s+(?P<argument>.*))?$")
CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^`]*)$")
NOT_RUN = re.compile(r"^\s*<!-- not-run: (?P<reason>\S.*?) -->\s*$")

# The interpreter options of every page; a page that needs others gets an entry here.
OPTIONS: dict[str, list[str]] = {}
DEFAULT_OPTIONS = ["-W", "error::UserWarning"]


def fence_kind(lang: str) -> str:
    """``"run"``, ``"not-python"`` or ``"unknown"`` for the language of a fence."""
    if lang in RUN:
        return "run"
    if lang in NOT_PYTHON:
        return "not-python"
    directive = DIRECTIVE.match(lang)
    if directive is None:
        return "unknown"
    shows = (directive["argument"] or "").split()
    if directive["name"] in CODE_DIRECTIVES and shows and shows[0] in RUN | {"py", "python3"}:
        return "unknown"  # Python in a code directive would never run: use a python fence
    return "not-python"


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
        if fence_kind(lang) == "unknown":
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


@pytest.mark.parametrize(
    ("lang", "kind"),
    [
        ("python", "run"),
        ("pycon", "run"),
        ("console", "not-python"),
        ("{toctree}", "not-python"),
        ("{include} ../CHANGELOG.md", "not-python"),
        ("{code-block} text", "not-python"),
        ("{code-block} python", "unknown"),
        ("{code} py", "unknown"),
        ("{toctree", "unknown"),
        ("{}", "unknown"),
        ("", "unknown"),
        ("rust", "unknown"),
    ],
)
def test_fence_kinds(lang: str, kind: str) -> None:
    """MyST directive fences are not Python; Python hidden in a code directive is refused."""
    assert fence_kind(lang) == kind


def test_a_myst_directive_is_not_run_and_python_in_a_code_directive_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```{toctree}\n:maxdepth: 1\n\nconcepts\n```\n", encoding="utf-8")
    assert [(b.lang, b.not_run) for b in blocks(page)] == [("{toctree}", None)]
    page.write_text("```{code-block} python\nprint(1)\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="neither run nor known"):
        blocks(page)
