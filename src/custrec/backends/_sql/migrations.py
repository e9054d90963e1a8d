"""The schema migrations runner: versions 1..n, forward only, safe for concurrent openers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Final, Generic, Protocol, TypeVar

from custrec._log import get_logger
from custrec.errors import StorageError

__all__ = ["Migrator", "Versioned"]

_log: Final = get_logger(__name__)


class Versioned(Protocol):
    """A migration step: it has a version number."""

    @property
    def version(self) -> int: ...


_M = TypeVar("_M", bound=Versioned)


class Migrator(ABC, Generic[_M]):
    """Bring one database's schema up to date with a list of migrations.

    An up-to-date schema is only read, so that opening never waits for another opener's writes.
    Otherwise, under the dialect's exclusive lock, the version is read again (another opener may
    have migrated meanwhile) and every missing step applied in one transaction: all land or none.
    A schema newer than the list is refused with ``StorageError``.
    """

    def __init__(self, where: str, list_name: str) -> None:
        self.where = where
        self.list_name = list_name

    def run(self, migrations: Sequence[_M]) -> None:
        """Apply the steps of ``migrations`` that the schema lacks."""
        if [m.version for m in migrations] != list(range(1, len(migrations) + 1)):
            raise RuntimeError(f"{self.list_name} must be numbered 1, 2, 3, ...")
        latest = len(migrations)
        current = self._checked(latest)
        if current == latest:
            return
        with self.exclusive():
            current = self._checked(latest)
            if current is None:
                self.create_version_table()
                current = 0
            if current < latest:
                _log.info(
                    "schema migration (%s) from version %d to %d started",
                    self.list_name,
                    current,
                    latest,
                )
            for migration in migrations[current:]:
                self.apply(migration)
                _log.debug(
                    "schema migration (%s): step %d applied", self.list_name, migration.version
                )
        if current < latest:
            _log.info(
                "schema migration (%s) from version %d to %d done", self.list_name, current, latest
            )

    def _checked(self, latest: int) -> int | None:
        current = self.current()
        if current is not None and current > latest:
            raise StorageError(self.newer_message(current, latest))
        return current

    @abstractmethod
    def current(self) -> int | None:
        """The schema's version, or ``None`` for an empty (new) database or schema."""

    @abstractmethod
    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the migration lock and one transaction (committed on success)."""

    @abstractmethod
    def create_version_table(self) -> None:
        """Create the ``schema_version`` table."""

    @abstractmethod
    def apply(self, migration: _M) -> None:
        """Run one step and record it in ``schema_version``."""

    @abstractmethod
    def newer_message(self, current: int, latest: int) -> str:
        """What to say when the schema is newer than this code."""
