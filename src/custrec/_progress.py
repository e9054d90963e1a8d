"""The progress-callback convention every long operation follows.

A long operation takes ``progress: Progress | None = None`` and calls it with the number of
items done so far: the numbers never go down, and the last call gives the total done. A
callback that raises stops the operation: what earlier batches committed stays, the batch in
hand is rolled back, and the exception reaches the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

__all__ = ["Progress"]

Progress: TypeAlias = Callable[[int], None]
"""A progress callback: called with the number of items done so far (monotonic; the last call
gives the total)."""
