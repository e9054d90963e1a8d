"""Distinct strings kept in code-point order, cheap to add to and remove from (private; the
MemoryStore's id lists and due-time index)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Final

__all__ = ["SortedIds"]

_CHUNK: Final = 512  # ids per chunk (a chunk splits at twice this)


class SortedIds:
    """Distinct strings in code-point order, in chunks: adding or removing one costs
    O(log n + chunk), not the O(n) shift of one long list."""

    def __init__(self) -> None:
        self._chunks: list[list[str]] = []
        self._maxes: list[str] = []  # the last id of each chunk

    def copy(self) -> SortedIds:
        twin = SortedIds()
        twin._chunks = [chunk.copy() for chunk in self._chunks]
        twin._maxes = self._maxes.copy()
        return twin

    def add(self, key: str) -> None:
        """Add ``key`` (not present)."""
        chunks, maxes = self._chunks, self._maxes
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            return
        i = min(bisect.bisect_left(maxes, key), len(maxes) - 1)
        chunk = chunks[i]
        bisect.insort(chunk, key)
        if len(chunk) > 2 * _CHUNK:
            chunks[i : i + 1] = [chunk[:_CHUNK], chunk[_CHUNK:]]
            maxes[i : i + 1] = [chunk[_CHUNK - 1], chunk[-1]]
        else:
            maxes[i] = chunk[-1]

    def remove(self, key: str) -> None:
        """Remove ``key`` (present)."""
        i = bisect.bisect_left(self._maxes, key)
        chunk = self._chunks[i]
        del chunk[bisect.bisect_left(chunk, key)]
        if chunk:
            self._maxes[i] = chunk[-1]
        else:
            del self._chunks[i], self._maxes[i]

    def after(self, key: str | None) -> Iterator[str]:
        """The ids greater than ``key`` (all when ``None``), in order."""
        start, skip = 0, 0
        if key is not None:
            start = bisect.bisect_right(self._maxes, key)
            if start < len(self._chunks):
                skip = bisect.bisect_right(self._chunks[start], key)
        for chunk in self._chunks[start:]:
            yield from chunk[skip:] if skip else chunk
            skip = 0
