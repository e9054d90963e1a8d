"""Importing a small part of custrec loads only that part.

``custrec``'s top-level names (``Registry``, ``SQLiteStore``, ...) are imported on first use, so
a program that only normalises phone numbers does not load the registry, the storage backends,
sqlite3 or cryptography. Each check runs in a fresh interpreter: this one has imported
everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import custrec

# Loaded by the registry and the stores, never by a format module.
HEAVY = [
    "sqlite3",
    "cryptography",
    "custrec.registry",
    "custrec.backends",
    "custrec.services",
    "custrec.security",
    "custrec.storage",
]

# ``import custrec.validation.phone`` runs custrec/__init__.py, custrec/validation/__init__.py
# (validate and parse_customer: the record model, the rules and the other format modules) and
# phone itself: 18 custrec modules today, against 163 when custrec/__init__.py imported its
# exports eagerly.
PHONE_MODULE_BOUND = 20


def loaded_after(statement: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def custrec_modules(loaded: list[str]) -> list[str]:
    return [name for name in loaded if name == "custrec" or name.startswith("custrec.")]


def heavy(loaded: list[str]) -> list[str]:
    return [name for name in HEAVY if name in loaded]


def test_importing_the_phone_module_loads_no_store_registry_or_cryptography() -> None:
    loaded = loaded_after("import custrec.validation.phone")
    assert heavy(loaded) == []
    assert "custrec.validation.phone" in loaded
    assert len(custrec_modules(loaded)) <= PHONE_MODULE_BOUND, custrec_modules(loaded)


def test_normalising_a_phone_number_stays_light() -> None:
    loaded = loaded_after(
        "from custrec.validation import phone\n"
        "assert phone.normalize('138 0013 8000') == '+8613800138000'"
    )
    assert heavy(loaded) == []


def test_importing_custrec_alone_loads_nothing_else_of_custrec() -> None:
    loaded = loaded_after("import custrec")
    assert custrec_modules(loaded) == ["custrec"]
    assert heavy(loaded) == []


def test_reading_the_version_loads_nothing_else_of_custrec() -> None:
    loaded = loaded_after("import custrec\nassert custrec.__version__")
    assert custrec_modules(loaded) == ["custrec"]


def test_the_first_use_of_an_export_imports_its_module() -> None:
    assert "custrec.registry" not in loaded_after("import custrec")
    loaded = loaded_after("from custrec import Registry")
    assert "custrec.registry" in loaded
    assert "sqlite3" in loaded_after("import custrec\ncustrec.SQLiteStore")


def test_every_export_is_the_object_its_home_module_defines() -> None:
    from custrec.backends import MemoryStore, SQLiteStore
    from custrec.errors import PlaintextStorageWarning
    from custrec.registry import Registry
    from custrec.security import Actor, KeyRing
    from custrec.services import BulkResult, ErasureReceipt, HistoryEntry

    homes = {
        "Actor": Actor,
        "BulkResult": BulkResult,
        "ErasureReceipt": ErasureReceipt,
        "HistoryEntry": HistoryEntry,
        "KeyRing": KeyRing,
        "MemoryStore": MemoryStore,
        "PlaintextStorageWarning": PlaintextStorageWarning,
        "Registry": Registry,
        "SQLiteStore": SQLiteStore,
    }
    assert set(custrec.__all__) == {*homes, "__version__"}
    for name, expected in homes.items():
        assert getattr(custrec, name) is expected, name


def test_star_import_brings_every_export() -> None:
    code = textwrap.dedent(
        """
        import json
        from custrec import *
        from custrec.registry import Registry as Home
        assert Registry is Home
        assert isinstance(__version__, str)
        print(json.dumps(list(globals())))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert set(custrec.__all__) <= set(json.loads(done.stdout))


def test_dir_lists_every_export_before_its_first_use() -> None:
    code = "import custrec, json\nprint(json.dumps(dir(custrec)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert set(custrec.__all__) <= set(listed)
    assert listed == sorted(listed)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'custrec' has no attribute 'Registyr'"):
        _ = custrec.Registyr  # type: ignore[attr-defined]
    assert not hasattr(custrec, "registry_")
    with pytest.raises(ImportError, match="Registyr"):
        from custrec import Registyr  # type: ignore[attr-defined]  # noqa: F401


def test_type_checkers_see_the_exports_and_reject_misspellings(tmp_path: Path) -> None:
    source = tmp_path / "uses_custrec.py"
    source.write_text(
        textwrap.dedent(
            """
            import custrec
            from custrec import KeyRing, Registyr

            reveal_type(custrec.Registry)
            reveal_type(KeyRing.generate)
            custrec.SQLiteStor
            """
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    errors = [line.split(":")[1] for line in result.stdout.splitlines() if ": error:" in line]
    assert errors == ["3", "7"], result.stdout
    notes = [line for line in result.stdout.splitlines() if "Revealed type" in line]
    assert len(notes) == 2, result.stdout
    assert notes[0].endswith('-> custrec.registry.Registry"'), notes[0]
    assert "custrec.security.keyring.KeyRing" in notes[1], notes[1]
