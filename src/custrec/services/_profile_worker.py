"""A second process that opens pages of stored customers and profiles them for clustering.

Started with the ``spawn`` method (never ``fork``: the caller holds SQLite connections and
threads), it calls ``reopen()``, a picklable callable the caller supplies that opens the same
registry (the same store, keys read from the same key source: a key file, the environment, a
key service); no key and no secret ever crosses the pipe, and nothing is written to disk.
The caller sends pages of sealed payloads with their non-personal facts; the worker opens
them (:func:`~custrec.services._match_profiles.open_page`) and sends back the profiles, in
page order, with the ids it left out. A failure in the worker is reported by the exception's
type only (a message could quote a value); a worker that dies is noticed through its process
sentinel; a worker whose parent dies reads the end of its pipe and exits.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Final

from custrec.errors import StorageError
from custrec.services._worker_pipe import last_error, read_into, reply, stopped

__all__ = ["ProfileWorker"]

_START_METHOD: Final = "spawn"


def _serve(conn: Connection, reopen: Callable[[], Any]) -> None:
    from custrec._collector import settle_worker
    from custrec.services._match_profiles import open_page

    settle_worker()  # a process of its own for batch work: few collector passes
    try:
        registry = reopen()
        context = registry.matching._context
    except Exception as exc:  # reported by type only
        conn.send(("error", f"opening the registry failed: {type(exc).__name__}"))
        return
    # pages are read by a thread of their own: the caller may send the next page while this
    # process sends back the last one, and neither side must wait for the other's pipe
    pages: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=read_into, args=(conn, pages), daemon=True).start()
    try:
        while True:
            page = pages.get()
            if page is None:
                return
            try:
                with context.unit(readonly=True) as unit:
                    found, gone = open_page(unit, context.converter, page)
            except Exception as exc:  # reported by type only
                conn.send(("error", f"opening customers failed: {type(exc).__name__}"))
                return
            conn.send_bytes(pickle.dumps(("ok", found, gone), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        return
    finally:
        close = getattr(getattr(context, "store", None), "close", None)
        if close is not None:
            close()


class ProfileWorker:
    """One worker process and its pipe (see the module docstring); use it as a context manager."""

    def __init__(self, reopen: Callable[[], Any]) -> None:
        context = multiprocessing.get_context(_START_METHOD)
        mine, theirs = context.Pipe(duplex=True)
        self._conn = mine
        self._process = context.Process(
            target=_serve, args=(theirs, reopen), name="custrec-cluster-worker", daemon=True
        )
        try:
            self._process.start()
        except Exception as exc:  # reopen cannot be pickled, or no process can be started
            mine.close()
            theirs.close()
            raise StorageError(
                f"a clustering worker could not be started ({type(exc).__name__}): reopen must "
                "be a picklable, module-level callable"
            ) from None
        theirs.close()

    def send(self, page: list[tuple[str, bytes, dict[str, Any]]]) -> None:
        """Hand a page to the worker."""
        try:
            self._conn.send(page)
        except (OSError, ValueError):
            raise self._stopped() from None

    def receive(self) -> tuple[list[Any], list[str]]:
        """The next page's profiles and the ids left out."""
        found, gone = reply(self._conn, self._process)
        return found, gone

    def _stopped(self) -> StorageError:
        return stopped(self._conn, self._process)

    def close(self) -> None:
        """Stop the worker and wait for it."""
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._conn.close()  # first: a worker blocked on sending a reply stops at once
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def finish(self) -> None:
        """The run ended well: stop the worker, and fail the run if the worker could not open
        the registry (a run over fewer pages than it takes to hand one to the worker would
        otherwise never hear of a ``reopen`` that opens something else)."""
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._process.join(timeout=10)
        said = last_error(self._conn)  # the pipe was kept open so that this can be read
        self.close()
        if said is not None:
            raise said

    def __enter__(self) -> ProfileWorker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish()
        else:
            self.close()
