"""Sphinx configuration of the custrec documentation site.

Build it strictly (any warning fails) from the repository root::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

The concept pages are the Markdown files in ``docs/`` (read by myst-parser); the API reference
in ``docs/api/`` is generated from the docstrings by ``sphinx.ext.autodoc``.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

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


def _lookup(dotted: str) -> object | None:
    """The Python object a dotted name leads to, or ``None``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        if not module_name.startswith("custrec"):
            return None
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return getattr(obj, "__func__", obj)  # a classmethod, bound anew on each access
    return None


_SCALARS = (str, bytes, int, float, bool, type(None))
_DOCUMENTED: dict[int, str] = {}


def _documented_names(env: BuildEnvironment) -> dict[int, str]:
    """The documented name of each documented object, by the object's identity."""
    if not _DOCUMENTED:
        for name, entry in env.get_domain("py").objects.items():  # type: ignore[attr-defined]
            if entry.aliased or entry.objtype == "module":
                continue
            obj = _lookup(name)
            if obj is not None and not isinstance(obj, _SCALARS):
                _DOCUMENTED.setdefault(id(obj), name)
    return _DOCUMENTED


def _resolve_by_definition(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    """Resolve a reference that names an object where it is defined (``custrec.security.masking.
    mask``, or ``mask`` in that module's docstring) to where it is documented (``custrec.security.
    mask``). autodoc records such aliases for classes only."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module and cls:
        candidates.append(f"{module}.{cls}.{target}")
    if module:
        candidates.append(f"{module}.{target}")
    documented = _documented_names(env)
    for candidate in candidates:
        obj = _lookup(candidate)
        name = documented.get(id(obj)) if obj is not None else None
        if name is not None and name != target:
            return env.get_domain("py").resolve_xref(
                env, node["refdoc"], app.builder, "obj", name, node, contnode
            )
    return None


def _forget_documented_names(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    _DOCUMENTED.clear()


def setup(app: Sphinx) -> None:
    app.connect("autodoc-skip-member", _keep_constants_and_enum_members)
    app.connect("env-before-read-docs", _forget_documented_names)
    app.connect("missing-reference", _resolve_by_definition)
