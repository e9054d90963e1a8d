"""Fixtures of the validation tests: the pre-optimisation oracle (see ``_oracle/__init__.py``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ORACLE_NAME = "custrec_validation_oracle"
_ORACLE_DIR = Path(__file__).parent / "_oracle"

# The oracle is a helper package, not tests: keep pytest (and --doctest-modules) out of it.
collect_ignore = ["_oracle"]


def load_oracle() -> ModuleType:
    """Import the oracle package from its folder (tests/unit/validation is not a package)."""
    loaded = sys.modules.get(ORACLE_NAME)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(
        ORACLE_NAME, _ORACLE_DIR / "__init__.py", submodule_search_locations=[str(_ORACLE_DIR)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[ORACLE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[ORACLE_NAME]
        raise
    return module


@pytest.fixture(scope="session")
def oracle() -> ModuleType:
    """The pre-optimisation reference implementation of the validation path."""
    return load_oracle()
