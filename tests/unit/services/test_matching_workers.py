"""Clustering with a second process (``workers=2``, optionally ``reopen``) gives exactly the
result of one process; the second process gets its keys from the key source, never through
the pipe, and a worker that cannot open the customers fails the run instead of leaving them out.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.errors import StorageError
from custrec.matching import ClusterRun
from custrec.security.keys import generate_key_file
from custrec.services._clustering import key_digest
from custrec.testing.synthetic import hard_labelled_customers

ACTOR = Actor(id="admin", roles={"admin"})
N = 1500


def open_registry(db: Path, keys: Path) -> Registry:
    """Open the registry in a worker process: the same file, keys read from the same file."""
    return Registry(SQLiteStore(db), keyring=KeyRing.from_file(keys))


def open_with_other_keys(db: Path) -> Registry:
    return Registry(SQLiteStore(db), keyring=KeyRing.generate())


def fill(registry: Registry) -> None:
    items = (
        {**rec.data, "id": f"r{n:06d}"} for n, rec in enumerate(hard_labelled_customers(N, seed=3))
    )
    registry.customers.intake_many(items, actor=ACTOR, allow_duplicates=True)


def shape(run: ClusterRun) -> Any:
    """Everything a run found: clusters with every link and reason, conflicts, the counts."""
    return (
        run.clusters,
        run.conflicts,
        run.records,
        run.blocks,
        run.comparisons_planned,
        run.comparisons,
        [(s.kind, s.records) for s in run.stop_keys],
    )


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("workers")
    db, keys = directory / "customers.sqlite", directory / "keys.json"
    generate_key_file(keys)
    registry = open_registry(db, keys)
    fill(registry)
    return db, keys


def test_two_processes_reading_and_scoring_find_exactly_what_one_finds(
    stored: tuple[Path, Path],
) -> None:
    db, keys = stored
    registry = open_registry(db, keys)
    one = registry.matching.clusters(actor=ACTOR)
    two = registry.matching.clusters(
        actor=ACTOR, workers=2, reopen=functools.partial(open_registry, db, keys)
    )
    assert one.clusters  # the set has duplicates to find
    assert shape(two) == shape(one)


def test_scoring_in_two_processes_finds_exactly_what_one_finds() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    fill(registry)
    one = registry.matching.clusters(actor=ACTOR)
    two = registry.matching.clusters(actor=ACTOR, workers=2)
    assert shape(two) == shape(one)


def test_a_worker_opening_the_store_with_other_keys_fails_the_run(
    stored: tuple[Path, Path],
) -> None:
    db, keys = stored
    registry = open_registry(db, keys)
    with pytest.raises(StorageError, match="clustering worker failed"):
        registry.matching.clusters(
            actor=ACTOR, workers=2, reopen=functools.partial(open_with_other_keys, db)
        )


def open_other_store(directory: Path) -> Registry:
    """Another database beside the right one, with keys of its own (a mistaken reopen)."""
    keys = directory / "other-keys.json"
    if not keys.exists():
        generate_key_file(keys)
    return open_registry(directory / "other.sqlite", keys)


def test_a_worker_opening_another_store_fails_the_run(stored: tuple[Path, Path]) -> None:
    """The second process opens without error but cannot open this store's customers: the
    run fails rather than quietly doing the work in one process."""
    db, keys = stored
    registry = open_registry(db, keys)
    with pytest.raises(StorageError, match="reopen must open the same store"):
        registry.matching.clusters(
            actor=ACTOR, workers=2, reopen=functools.partial(open_other_store, db.parent)
        )


def test_a_worker_that_cannot_open_the_registry_fails_even_a_run_too_small_to_use_it(
    tmp_path: Path,
) -> None:
    """A store of one page never hands a page to the second process; its failure to open the
    registry (other keys) still fails the run when it ends."""
    db, keys = tmp_path / "small.sqlite", tmp_path / "keys.json"
    generate_key_file(keys)
    registry = open_registry(db, keys)
    registry.customers.intake(
        {"kind": "individual", "name": "王小明", "contacts": [{"phones": ["13800138000"]}]},
        actor=ACTOR,
    )
    with pytest.raises(StorageError, match="clustering worker failed"):
        registry.matching.clusters(
            actor=ACTOR, workers=2, reopen=functools.partial(open_with_other_keys, db)
        )


def test_reopen_must_be_picklable_and_needs_two_workers(stored: tuple[Path, Path]) -> None:
    db, keys = stored
    registry = open_registry(db, keys)
    with pytest.raises(StorageError, match="picklable"):
        registry.matching.clusters(actor=ACTOR, workers=2, reopen=lambda: open_registry(db, keys))
    with pytest.raises(ValueError, match="workers=2"):
        registry.matching.clusters(actor=ACTOR, reopen=functools.partial(open_registry, db, keys))
    with pytest.raises(ValueError, match="workers"):
        registry.matching.clusters(actor=ACTOR, workers=3)


@settings(max_examples=200)
@given(kind=st.integers(0, 255), value=st.text(), secret=st.binary(min_size=1, max_size=64))
def test_a_key_digest_from_a_keyed_hash_to_copy_equals_one_from_the_key(
    kind: int, value: str, secret: bytes
) -> None:
    keyed = hashlib.blake2b(digest_size=8, key=secret)
    assert key_digest(kind, value, keyed) == key_digest(kind, value, secret)
    assert key_digest(kind, value, keyed) == key_digest(kind, value, secret)  # keyed is intact
