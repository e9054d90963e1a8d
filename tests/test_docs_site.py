"""The documentation site: every page is reachable, and the strict Sphinx build passes.

The site is built with Sphinx (``docs/conf.py``): the ``docs/*.md`` pages through myst-parser
and the API reference in ``docs/api/`` from the docstrings. The build test is slow; it is
skipped only where the documentation tools are not installed, and never under CI (``CI=true``),
which installs them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
BUILD = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
TOOLS = ("sphinx", "myst_parser", "furo")

# Public modules of custrec without an API page of their own, and why.
NOT_IN_API = {
    "custrec.cli": "the command line, documented as commands in docs/cli.md",
    "custrec.records": "re-exports custrec.model.records, documented on the model page",
}


def toctree_entries(text: str) -> list[str]:
    """The entries of every ``{toctree}`` fence (MyST) or ``.. toctree::`` directive in ``text``."""
    entries: list[str] = []
    for fence in re.findall(r"^```\{toctree\}[^\n]*\n(.*?)^```$", text, re.M | re.S):
        entries += [line.strip() for line in fence.splitlines()]
    for block in re.findall(r"^\.\. toctree::\n((?:(?: {3}.*)?\n)*)", text, re.M):
        entries += [line.strip() for line in block.splitlines()]
    return [e for e in entries if e and not e.startswith(":")]


def test_toctree_entries_are_read_from_myst_fences_and_rst_directives() -> None:
    myst = "# T\n\n```{toctree}\n:maxdepth: 2\n\nconcepts\napi/index\n```\n\nprose\n"
    rst = "T\n=\n\n.. toctree::\n   :maxdepth: 1\n\n   registry\n   errors\n\nprose\n"
    assert toctree_entries(myst) == ["concepts", "api/index"]
    assert toctree_entries(rst) == ["registry", "errors"]
    assert toctree_entries("```python\nconcepts\n```\n") == []


def test_every_page_is_in_a_toctree_once() -> None:
    """Each docs/*.md page is listed in a table of contents of docs/index.md, in reading order."""
    entries = toctree_entries((DOCS / "index.md").read_text(encoding="utf-8"))
    pages = {page.stem for page in DOCS.glob("*.md")} - {"index"}
    listed = [entry for entry in entries if "/" not in entry]
    assert sorted(listed) == sorted(set(listed)), "a page is listed twice"
    assert set(listed) == pages, (
        f"not in docs/index.md: {sorted(pages - set(listed))}; "
        f"listed but missing: {sorted(set(listed) - pages)}"
    )
    assert "api/index" in entries


def test_every_api_page_is_in_the_api_toctree() -> None:
    entries = toctree_entries((DOCS / "api" / "index.rst").read_text(encoding="utf-8"))
    pages = {page.stem for page in (DOCS / "api").glob("*.rst")} - {"index"}
    assert sorted(entries) == sorted(pages)


def test_every_public_module_has_api_documentation() -> None:
    """Each public top-level module or package of custrec is documented in docs/api/."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.rst"))
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", text, re.M))
    source = ROOT / "src" / "custrec"
    public = {
        f"custrec.{path.stem if path.is_file() else path.name}"
        for path in source.iterdir()
        if not path.name.startswith("_")
        and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }
    assert "custrec" in documented
    assert public - documented == set(NOT_IN_API), "add an API page (docs/api) or a reason"


def test_the_changelog_page_includes_the_changelog() -> None:
    """The changelog page is CHANGELOG.md itself, included, so the two never drift apart."""
    page = (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert page.strip() == "```{include} ../CHANGELOG.md\n```"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if importlib.util.find_spec(tool) is None]


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    """``sphinx-build -W``: a broken link, an orphan page or bad reST in a docstring fails."""
    missing = missing_tools()
    if missing:
        message = f"the documentation tools are not installed: {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI installs them)", pytrace=False)
        pytest.skip(message)
    result = subprocess.run(
        [*BUILD, "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "html" / "api" / "registry.html").is_file()
    changelog = (tmp_path / "html" / "changelog.html").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog  # the included file, not an empty page
