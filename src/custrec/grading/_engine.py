"""Private: which kernels the batch paths run on.

The numeric extra (numpy) is used when it is installed and the input is large enough to pay for
the conversion; otherwise the pure-Python kernels run. Both give exactly the same results (the
parity tests compare them with the pre-optimisation reference). :func:`forced` pins one engine,
for tests and benchmarks.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

__all__ = ["Engine", "forced", "numpy_available", "use_numpy"]

Engine = Literal["auto", "python", "numpy"]

NUMPY_MIN_SIZE: Final = 2_000
"""Below this many summaries the conversion to arrays costs more than it saves."""


def _find_numpy() -> bool:
    try:
        return importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):  # blocked, or a broken entry in sys.modules
        return False


_available = _find_numpy()
_mode: list[Engine] = ["auto"]


def numpy_available() -> bool:
    """Whether numpy (the ``numeric`` extra) can be imported."""
    return _available


def use_numpy(size: int) -> bool:
    """Whether a batch of ``size`` summaries runs on the numpy kernels."""
    mode = _mode[-1]
    if mode == "python" or not numpy_available():
        return False
    return mode == "numpy" or size >= NUMPY_MIN_SIZE


@contextmanager
def forced(engine: Engine) -> Iterator[None]:
    """Run the batch paths on one engine inside the block (``"numpy"`` needs numpy)."""
    if engine not in ("auto", "python", "numpy"):
        raise ValueError(f"unknown engine {engine!r}")
    if engine == "numpy" and not numpy_available():
        raise RuntimeError("the numpy engine needs the numeric extra: pip install custrec[numeric]")
    _mode.append(engine)
    try:
        yield
    finally:
        _mode.pop()
