"""``custrec.services`` and ``custrec.interchange`` import their names on first use: an
import's worker process, which only prepares and seals rows, loads neither the registry nor the
services it does not use; ``from package import name`` works as before."""

from __future__ import annotations

import subprocess
import sys

import pytest

import custrec.interchange
import custrec.services


def test_a_worker_loads_neither_the_registry_nor_unused_services() -> None:
    code = (
        "import sys, custrec.interchange._prepare\n"
        "loaded = sorted(m for m in sys.modules if m in "
        "('custrec.registry', 'custrec.services.privacy', 'custrec.interchange.plan'))\n"
        "print(loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("package", [custrec.services, custrec.interchange])
def test_every_listed_name_is_there_and_no_other(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert all(getattr(package, name) is not None for name in names)
    assert set(names) <= set(dir(package))
    with pytest.raises(AttributeError):
        package.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_from_import_gives_the_defining_modules_objects() -> None:
    from custrec.interchange import plan_import
    from custrec.interchange.plan import plan_import as defined
    from custrec.services import Preparation, PreparedCustomer
    from custrec.services.customers import Preparation as via_customers

    assert plan_import is defined and Preparation is via_customers
    assert PreparedCustomer.__module__ == "custrec.services._preparation"
