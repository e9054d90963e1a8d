"""Packages that import their public names on first use.

A package lists each name with the module that defines it; the module-level ``__getattr__``
made here imports that module the first time the name is asked for and keeps the value in the
package, so later look-ups do not come back. ``import custrec`` (or a worker process that needs
one service) then loads only what it uses.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def loader(package: str, homes: Mapping[str, str | None]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: a name of ``homes`` is imported from its
    module (``None``: the name is the package's submodule of that name) and kept in the
    package; any other name is an ``AttributeError``. An ``ImportError`` (an optional extra
    not installed) reaches the caller as it is."""

    def load(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = homes[name]
        if home is None:
            value: object = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)  # later look-ups find it here
        return value

    return load


def lister(package: str, homes: Mapping[str, str | None]) -> Callable[[], list[str]]:
    """The module ``__dir__`` of ``package``: what it holds and what it would import."""

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return names
