"""Which customer each source row became: the row-to-id map of an import.

Every data row of an import gets one :class:`RowResult`: its row number, its
:class:`~custrec.interchange.report.Outcome` and the id of the customer it created, updated,
matched or duplicated (``None`` for ``rejected`` and ``conflict`` rows: no customer holds
them). The map holds no personal value: row numbers, outcomes and ids only.

A report keeps the map inline (:attr:`ImportReport.row_ids
<custrec.interchange.report.ImportReport.row_ids>`) when the import has at most
:data:`INLINE_ROW_IDS` rows, so a small import carries it in memory and in its JSON; a larger one
does not (``row_ids`` is ``None``), and memory stays flat: give the import an :class:`IdsFile`,
which streams the map as JSON Lines, one ``{"row": 1, "outcome": "created", "id": "..."}`` per
row in file order, and read it back with :func:`read_ids`.

>>> from custrec.interchange.report import Outcome
>>> RowResult(row=3, outcome=Outcome.CREATED, customer_id="c-1").to_dict()
{'row': 3, 'outcome': 'created', 'id': 'c-1'}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from custrec._files import open_private
from custrec.interchange.report import RowResult

__all__ = ["INLINE_ROW_IDS", "IdsFile", "RowResult", "read_ids"]

INLINE_ROW_IDS: Final = 10_000
"""The most rows whose row-to-id map an :class:`~custrec.interchange.report.ImportReport`
holds inline; larger imports stream it to an :class:`IdsFile` only."""


class IdsFile:
    """Streams an import's row-to-id map to ``path`` as JSON Lines (UTF-8, LF), one row at a
    time; created with mode 0600 like every file an import writes. Use it as a context manager,
    or call :meth:`close`. ``rows`` counts the lines written."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows = 0
        self._file: IO[str] = open_private(self.path, encoding="utf-8", newline="\n")

    def write(self, result: RowResult) -> None:
        """Write one row's result."""
        self._file.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
        self.rows += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_ids(path: str | os.PathLike[str]) -> Iterator[RowResult]:
    """The rows of an :class:`IdsFile`, in file order (streamed: memory stays flat)."""
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield RowResult.from_dict(json.loads(line))
