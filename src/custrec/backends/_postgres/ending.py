"""A unit of work's last writes and its ``COMMIT`` in one round trip (PostgreSQL).

Every unit of work of a ``Registry`` that writes ends the same way: its change-feed events, its
audit entries for the queue, then ``COMMIT``. Sent one after the other that is three round
trips, each a wait for the server (and, with many clients on few cores, a sleep and a wake-up
of both processes); :func:`commit_with` sends them in one pipeline. A failure of any of them
gives the whole unit up (nothing is committed), as it did before; a connection lost while they
ran leaves the outcome unknown, since the server may have committed before its reply was lost:
that error is not retry-safe, and nothing is sent again.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from custrec.backends._postgres.dialect import closed_by_server
from custrec.backends._postgres.tables import _AuditTable
from custrec.backends._postgres.workflow import _ChangeTable
from custrec.errors import StorageError
from custrec.storage.types import AuditRecord, ChangeEvent

if TYPE_CHECKING:
    from custrec.backends.postgres import _PostgresSession

__all__ = ["commit_with"]


def commit_with(
    session: _PostgresSession, events: Sequence[ChangeEvent], entries: Sequence[AuditRecord]
) -> builtins.list[int] | None:
    """Append ``events`` to the change feed, queue ``entries`` (in their queued form: see
    :func:`custrec.storage.sealing.queued_form`) and commit ``session``, in one round trip;
    return the entries' tickets. ``None``, with nothing sent, when there is no entry or the
    session has sent nothing yet (its first statements are sent again on another connection
    when the first is found dead, and a ``COMMIT`` must never be sent twice): the caller then
    writes and commits as usual."""
    if not entries or session._unbegun or session._alone:
        return None
    session._usable(write=True, what="commit")
    queued = _AuditTable(session)._queue_statement(list(entries))
    appended = _ChangeTable(session)._append_statement(list(events)) if events else None
    if queued is None:
        return None
    render = session._store._render
    batch: builtins.list[tuple[bytes, Any]] = []
    if appended is not None:
        batch.append((render(appended[0]), appended[1]))
    batch += [(render(queued[0]), queued[1]), (b"COMMIT", None)]
    session._write_starts()
    conn = session._conn
    if closed_by_server(conn):  # ended while idle in the transaction: nothing can commit now
        session._state = "failed"
        conn.close()
        raise StorageError(
            "commit: the connection to PostgreSQL was lost before commit; nothing was "
            "committed, retry the unit of work",
            retry_safe=True,
        )
    try:
        cursors = session._execute(batch)
        tickets = sorted(int(r[0]) for r in cursors[-2].fetchall())
    except psycopg.Error as exc:
        session._state = "failed"
        session._discard()
        error = session._error(exc, "commit", committing=True)
        # psycopg counts a statement as prepared once its Parse is queued in the pipeline; a
        # failure before it makes the server skip the Parse, so the connection's cache would
        # name a statement that does not exist: it is not used again
        conn.close()
        raise error from exc
    session._state = "committed"
    session._committed()
    return tickets
