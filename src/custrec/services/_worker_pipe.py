"""The pipe between a clustering run and its worker process, shared by the scoring and the
profiling workers: messages are pickled; the worker reads them on a thread of its own (so the
run may send the next message while the worker sends back the last); the run reads replies of
the form ``("ok", ...)`` or ``("error", text)`` and turns a stopped worker into a typed error."""

from __future__ import annotations

import multiprocessing.connection
import pickle
import queue
from multiprocessing.connection import Connection
from typing import Any

from custrec.errors import StorageError


def read_into(conn: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    """In the worker: put every message into ``inbox`` until ``None`` (or the pipe closes,
    which also puts ``None``)."""
    try:
        while True:
            message = conn.recv()
            inbox.put(message)
            if message is None:
                return
    except (EOFError, OSError):
        inbox.put(None)


def reply(conn: Connection, process: Any) -> tuple[Any, ...]:
    """In the run: the worker's next ``("ok", ...)`` reply without its tag; its error, or its
    stopping, as :class:`~custrec.errors.StorageError`."""
    multiprocessing.connection.wait([conn, process.sentinel])
    try:
        message = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        raise stopped(conn, process) from None
    if message[0] != "ok":
        raise StorageError(f"a clustering worker failed: {message[1]}")
    return tuple(message[1:])


def last_error(conn: Connection) -> StorageError | None:
    """The error a worker reported and nobody read yet, if it reported one."""
    try:
        if conn.poll():
            message = pickle.loads(conn.recv_bytes())
            if message[0] == "error":
                return StorageError(f"a clustering worker failed: {message[1]}")
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):
        pass
    return None


def stopped(conn: Connection, process: Any) -> StorageError:
    """The error for a worker that stopped: what it said before it stopped, if anything."""
    said = last_error(conn)
    if said is not None:
        return said
    process.join(timeout=5)
    code = process.exitcode
    how = "its pipe closed" if code is None else f"exit code {code}"
    return StorageError(
        f"a clustering worker stopped unexpectedly ({how}): a script that clusters with "
        "workers=2 must guard its top level with 'if __name__ == \"__main__\":'"
    )
