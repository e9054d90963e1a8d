"""The conformance kit as a backend author uses it: from a fresh project, in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given

import custrec.testing
import custrec.testing.contracts
from custrec.model.ids import is_valid_id
from custrec.storage.types import ActivityRow, CustomerRow
from custrec.testing import strategies

KIT_SUBCLASS = """\
import pytest
from custrec.backends import SQLiteStore
from custrec.testing import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        yield (store := SQLiteStore(tmp_path / "kit.db"))
        store.close()
"""

FAST_PROFILE = """\
from hypothesis import settings

settings.register_profile("kit-smoke", max_examples=5, stateful_step_count=5, database=None)
settings.load_profile("kit-smoke")
"""

DOCS = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``project`` as a user would, isolated from this repository's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def summary_counts(output: str) -> dict[str, int]:
    """Parse pytest's final summary line ("3 passed, 1 skipped in 0.1s") into counts."""
    lines = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    assert lines, f"no pytest summary in:\n{output}"
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1])}


def test_kit_subclass_is_ten_lines() -> None:
    assert len(KIT_SUBCLASS.splitlines()) <= 10


def test_docs_show_the_kit_subclass_exactly_as_tested() -> None:
    assert KIT_SUBCLASS in DOCS.read_text(encoding="utf-8")
    assert len(KIT_SUBCLASS.splitlines()) <= 10


@pytest.mark.slow
def test_kit_subclass_runs_the_contracts_against_sqlite(tmp_path: Path) -> None:
    (tmp_path / "test_my_backend.py").write_text(KIT_SUBCLASS, encoding="utf-8")
    (tmp_path / "conftest.py").write_text(FAST_PROFILE, encoding="utf-8")
    result = run_pytest(tmp_path, "-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = summary_counts(output)
    assert counts.get("passed", 0) >= 100, counts
    assert "failed" not in counts and "error" not in counts and "errors" not in counts, counts
    assert "no store_opener fixture" in output  # the process race skips with a message


def test_bare_contracts_are_not_collected(tmp_path: Path) -> None:
    names = ", ".join(custrec.testing.__all__)
    (tmp_path / "test_imports_only.py").write_text(
        f"from custrec.testing import {names}\n", encoding="utf-8"
    )
    result = run_pytest(tmp_path, "--collect-only")
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout + result.stderr


def test_contract_classes_are_not_named_like_tests() -> None:
    contracts = [name for name in custrec.testing.__all__ if name.endswith("Contract")]
    assert len(contracts) == 17
    every = [name for name in custrec.testing.contracts.__all__ if name.endswith("Contract")]
    assert sorted(contracts) == sorted(every)  # every contract class is exported by the package
    assert not [name for name in contracts if name.startswith("Test")]


def test_base_store_fixture_raises_not_implemented(tmp_path: Path) -> None:
    (tmp_path / "test_unconfigured.py").write_text(
        "from custrec.testing import CustomerTableContract\n\n"
        "class TestUnconfigured(CustomerTableContract):\n"
        "    pass\n",
        encoding="utf-8",
    )
    result = run_pytest(tmp_path, "-k", "test_add_returns_version_one")
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "NotImplementedError" in output
    assert "override the store fixture" in output
    assert summary_counts(output).get("error") == 1


@pytest.mark.parametrize("missing", ["hypothesis", "pytest"])
def test_import_without_test_dependencies_says_how_to_install(missing: str) -> None:
    code = f"import sys; sys.modules[{missing!r}] = None; import custrec.testing"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "pip install custrec[testing]" in result.stderr


@given(
    row=strategies.customer_rows(),
    activity=strategies.activity_rows(),
    amount=strategies.amounts(),
    instant=strategies.aware_datetimes(),
    customer_id=strategies.ids(),
)
def test_strategies_generate_valid_values(
    row: CustomerRow, activity: ActivityRow, amount: Decimal, instant: datetime, customer_id: str
) -> None:
    assert is_valid_id(customer_id) and customer_id[14] == "7"  # a UUIDv7, like new_id()
    assert row.version == 0 and row.created_at <= row.updated_at
    assert row.created_at.utcoffset() == timedelta(0)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int) and exponent >= -4
    assert abs(amount) <= 10**9
    assert instant.utcoffset() == timedelta(0)
    assert datetime(1990, 1, 1, tzinfo=UTC) <= instant <= datetime(2100, 1, 1, tzinfo=UTC)
    if activity.kind == "transaction":
        assert activity.amount is not None and activity.currency
    else:
        assert activity.amount is None and activity.currency is None
