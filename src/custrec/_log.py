"""custrec's loggers: one per module that does work, under the ``custrec`` package logger.

The package logger gets a :class:`logging.NullHandler` once (when the first module that logs
is imported), so a program that configures no logging sees nothing and gets no "no handlers"
warning. What is logged never holds personal data: ids, counts, durations and versions only
(docs/logging.md).
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Final

__all__ = ["PACKAGE_LOGGER", "SLOW_BATCH_ENV", "get_logger", "slow_batch", "slow_batch_seconds"]

PACKAGE_LOGGER: Final = "custrec"
SLOW_BATCH_ENV: Final = "CUSTREC_SLOW_BATCH_SECONDS"
_SLOW_BATCH_DEFAULT: Final = 5.0


def _install() -> None:
    package = logging.getLogger(PACKAGE_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in package.handlers):
        package.addHandler(logging.NullHandler())


_install()


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (pass ``__name__``); the package's NullHandler is set."""
    return logging.getLogger(name)


def slow_batch_seconds() -> float:
    """The duration from which a batch is logged as slow: ``CUSTREC_SLOW_BATCH_SECONDS`` (read
    at each batch, so it can be changed while a program runs), 5 seconds when unset or not a
    non-negative number."""
    text = os.environ.get(SLOW_BATCH_ENV)
    if text is None:
        return _SLOW_BATCH_DEFAULT
    try:
        value = float(text)
    except ValueError:
        return _SLOW_BATCH_DEFAULT
    return value if math.isfinite(value) and value >= 0 else _SLOW_BATCH_DEFAULT


def slow_batch(logger: logging.Logger, what: str, started: float, count: int) -> float:
    """Log at WARNING that a batch of ``count`` items of ``what`` was slow when it took
    :func:`slow_batch_seconds` or longer since ``started`` (a :func:`time.monotonic` reading);
    return the seconds it took."""
    took = time.monotonic() - started
    threshold = slow_batch_seconds()
    if took >= threshold:
        logger.warning(
            "slow %s batch: %d item(s) in %.3f s (threshold %.3f s)", what, count, took, threshold
        )
    return took
