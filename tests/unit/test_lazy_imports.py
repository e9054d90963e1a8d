"""Importing a small part of custrec loads only that part.

``custrec``'s top-level names (``Registry``, ``SQLiteStore``, ...) and ``custrec.validation``'s
(``parse_customer``, ``validate``, the rules) are imported on first use, so a program that only
normalises phone numbers does not load the registry, the storage backends, sqlite3,
cryptography, the record model or the rule engine. Each check of what is loaded runs in a fresh
interpreter: this one has imported everything already.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import custrec
import custrec.validation

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

# Loaded by parse_customer and validate, not by the phone module.
VALIDATION_ENGINE = [
    "cattrs",
    "email_validator",
    "custrec.model.records",
    "custrec.model.serialization",
    "custrec.validation.rules",
    "custrec.validation._api",
    "custrec.validation.email",
]

# ``import custrec.validation.phone`` runs custrec/__init__.py, custrec/validation/__init__.py
# and phone, which needs custrec._text and custrec.errors: 5 custrec modules, against 163 when
# the two package __init__ files imported their exports eagerly.
PHONE_MODULE_BOUND = 6


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
    """The custrec modules loaded, without ``custrec._lazy`` (the few lines every lazy package
    imports to look its names up on first use; it imports nothing itself)."""
    return [
        name
        for name in loaded
        if (name == "custrec" or name.startswith("custrec.")) and name != "custrec._lazy"
    ]


def heavy(loaded: list[str]) -> list[str]:
    return [name for name in HEAVY if name in loaded]


def test_importing_the_phone_module_loads_no_store_registry_or_cryptography() -> None:
    loaded = loaded_after("import custrec.validation.phone")
    assert heavy(loaded) == []
    assert "custrec.validation.phone" in loaded
    assert len(custrec_modules(loaded)) <= PHONE_MODULE_BOUND, custrec_modules(loaded)


def test_importing_the_phone_module_loads_no_validation_engine() -> None:
    loaded = loaded_after("import custrec.validation.phone")
    assert [name for name in VALIDATION_ENGINE if name in loaded] == []


def test_importing_custrec_validation_alone_loads_nothing_else_of_custrec() -> None:
    loaded = loaded_after("import custrec.validation")
    assert custrec_modules(loaded) == ["custrec", "custrec.validation"]


def test_parsing_a_customer_loads_the_engine_but_no_store() -> None:
    loaded = loaded_after(
        "from custrec.validation import parse_customer\n"
        "assert parse_customer({'kind': 'individual', 'name': 'Zhang San',"
        " 'contacts': [{'phones': '13800138000'}]}).ok"
    )
    assert [name for name in VALIDATION_ENGINE if name not in loaded] == []
    assert heavy(loaded) == []


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


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_validation_export_is_the_object_its_home_module_defines() -> None:
    from custrec.model import issues
    from custrec.validation import _api, email, phone, ric, rules, uscc

    modules = {"email": email, "phone": phone, "ric": ric, "uscc": uscc}
    for name in custrec.validation.__all__:
        value = getattr(custrec.validation, name)
        if name in modules:
            assert value is modules[name]
        else:
            homes = [m for m in (_api, rules, issues) if getattr(m, name, None) is value]
            assert homes, name


LAZY_PACKAGES = ["custrec", "custrec.validation"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_star_import_brings_every_export(package: str) -> None:
    code = f"import json\nfrom {package} import *\nprint(json.dumps(list(globals())))"
    exports = importlib.import_module(package).__all__
    assert set(exports) <= set(json.loads(run(code)))


def test_star_import_binds_the_real_objects() -> None:
    run(
        "from custrec import *\n"
        "from custrec.validation import *\n"
        "import custrec.registry, custrec.validation._api, custrec.validation.phone\n"
        "assert Registry is custrec.registry.Registry\n"
        "assert parse_customer is custrec.validation._api.parse_customer\n"
        "assert phone is custrec.validation.phone\n"
        "assert isinstance(__version__, str)"
    )


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_dir_lists_every_export_before_its_first_use(package: str) -> None:
    listed = json.loads(run(f"import {package}, json\nprint(json.dumps(dir({package})))"))
    assert set(importlib.import_module(package).__all__) <= set(listed)
    assert listed == sorted(listed)


def test_a_format_module_is_an_attribute_of_the_package_before_it_is_imported() -> None:
    run(
        "import sys, custrec.validation\n"
        "assert 'custrec.validation.email' not in sys.modules\n"
        "assert custrec.validation.email.normalize('A@Example.COM') == 'A@example.com'"
    )


@pytest.mark.parametrize(
    ("package", "name"), [("custrec", "Registyr"), ("custrec.validation", "vaildate")]
)
def test_an_unknown_name_is_an_attribute_error(package: str, name: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"'{package}' has no attribute '{name}'"):
        getattr(module, name)
    assert not hasattr(module, name)
    with pytest.raises(ImportError, match=name):
        exec(f"from {package} import {name}", {})


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
            from custrec.validation import parse_customer, parse_custmer
            reveal_type(parse_customer)
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
    assert errors == ["3", "7", "8"], result.stdout
    notes = [line for line in result.stdout.splitlines() if "Revealed type" in line]
    assert len(notes) == 3, result.stdout
    assert notes[0].endswith('-> custrec.registry.Registry"'), notes[0]
    assert "custrec.security.keyring.KeyRing" in notes[1], notes[1]
    assert notes[2].endswith('-> custrec.validation._api.ParseResult"'), notes[2]
