"""custrec's loggers: one per module that does work, under the ``custrec`` package logger.

The package logger gets a :class:`logging.NullHandler` once (when the first module that logs
is imported), so a program that configures no logging sees nothing and gets no "no handlers"
warning. What is logged never holds personal data: ids, counts, durations and versions only
(docs/logging.md).
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["PACKAGE_LOGGER", "get_logger"]

PACKAGE_LOGGER: Final = "custrec"


def _install() -> None:
    package = logging.getLogger(PACKAGE_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in package.handlers):
        package.addHandler(logging.NullHandler())


_install()


def get_logger(name: str) -> logging.Logger:
    """The logger of module ``name`` (pass ``__name__``); the package's NullHandler is set."""
    return logging.getLogger(name)
