"""Fixtures for service tests on real files: a SQLite database in the test's tmp_path.

``SQLiteStore`` keeps its data keys (and the audit head) in a key file beside the database, so
``sqlite_path`` names both: ``crm.sqlite`` and ``crm.keys.sqlite``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from custrec import SQLiteStore


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Where the test's SQLite database lives (its key file sits beside it)."""
    return tmp_path / "crm.sqlite"


@pytest.fixture
def sqlite_store(sqlite_path: Path) -> Iterator[SQLiteStore]:
    """A SQLite store on ``sqlite_path``, closed after the test."""
    store = SQLiteStore(sqlite_path)
    yield store
    store.close()
