"""Bulk writes that a caller gives up whole on any error.

The SQL sessions run each write method inside a savepoint, so that a failing one leaves the
session as it was; inside a savepoint the database keeps a copy of every page the write changes.
A caller that gives the whole transaction up on any error (a bulk intake's chunk, a key store's
one-write transaction) does not need that and asks for :func:`all_or_nothing`: on a session
that offers it (``SQLSession.all_or_nothing``) the write methods take no savepoint and a failing
one aborts the session; on any other session nothing changes.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import cast

__all__ = ["all_or_nothing", "with_savepoints"]


def all_or_nothing(session: object) -> AbstractContextManager[None]:
    """The session's ``all_or_nothing()`` block where it has one, else an empty block."""
    block = getattr(session, "all_or_nothing", None)
    return nullcontext() if block is None else cast(AbstractContextManager[None], block())


def with_savepoints(session: object) -> AbstractContextManager[None]:
    """A block inside :func:`all_or_nothing` whose write methods take their savepoints again
    (``SQLSession.with_savepoints``): for an attempt whose failure the caller catches and
    recovers from (sealing the audit queue), which must leave the session as it was."""
    block = getattr(session, "with_savepoints", None)
    return nullcontext() if block is None else cast(AbstractContextManager[None], block())
