"""Sphinx configuration of the custrec documentation site.

Build it strictly (any warning fails) from the repository root::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

The concept pages are the Markdown files in ``docs/`` (read by myst-parser); the API reference
in ``docs/api/`` is generated from the docstrings by ``sphinx.ext.autodoc``.
"""

from __future__ import annotations

import enum
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # document the checkout, not an installed copy

import custrec  # noqa: E402

project = "custrec"
author = "custrec developers"
copyright = "custrec developers"
release = custrec.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Markdown: plain CommonMark plus ``{name}`` directive fences (tests/test_docs.py knows them);
# an anchor for every heading down to level 3, so links such as ``registry.md#erasure`` resolve.
myst_heading_anchors = 3

# API reference
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
python_maximum_signature_line_length = 88  # one parameter a line beyond that
add_module_names = False
# Objects stay out of the sidebar: thousands of entries there would swamp it and slow the build.
toc_object_entries = False
python_display_short_literal_types = True

html_theme = "furo"
html_title = f"custrec {release}"


def _keep_constants_and_enum_members(
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    """Document the public constants of a module and the members of an enum, docstring or not.

    Everything else without a docstring stays out (``undoc-members`` would also list every attrs
    field, whose names such as ``type`` then make annotations ambiguous cross-references).
    """
    if not skip or name.startswith("_"):
        return None
    if what == "class" and isinstance(obj, enum.Enum):
        return False
    constant = not (inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj))
    if what == "module" and constant and name.isupper():
        return False
    return None


def setup(app: Sphinx) -> None:
    app.connect("autodoc-skip-member", _keep_constants_and_enum_members)
