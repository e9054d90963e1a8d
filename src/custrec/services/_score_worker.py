"""A second process that scores blocks of a clustering run.

:func:`score_in_two` walks the blocks of a run (:mod:`custrec.services._clustering`) and
shares them with one worker process, started with the ``spawn`` method (never ``fork``: the
caller holds SQLite connections and threads): a chunk of blocks goes to the worker while it has
fewer than two chunks in hand, otherwise it is scored here, so the two processes stay busy
whatever their speed. The worker receives each chunk's profiles, opened from the scratch
database, through its pipe (memory only: nothing is written, no key crosses) and sends back
what :func:`~custrec.services._clustering.score_block` found. The pairs scored, the decisions
and the links are those of one process; only the order in which links are found differs, and
:func:`~custrec.matching.clusters.consistent_clusters` orders them itself. A failure in the
worker is reported by the exception's type only; a worker that dies is noticed through its
process sentinel; a worker whose parent dies reads the end of its pipe and exits.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import queue
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Final

from custrec.matching.scoring import MatchDecision, Thresholds, Weights
from custrec.services._worker_pipe import read_into, reply
from custrec.services._worker_pipe import stopped as worker_stopped

if TYPE_CHECKING:
    from custrec.services._clustering import _Found, _Scratch

__all__ = ["score_in_two"]

_START_METHOD: Final = "spawn"
_AHEAD: Final = 2  # chunks the worker may hold


def _serve(
    conn: Connection,
    stopped: frozenset[int],
    wanted: MatchDecision,
    thresholds: Thresholds,
    weights: Weights,
) -> None:
    from custrec._collector import settle_worker
    from custrec.matching._fast import LinkTest
    from custrec.services._clustering import load_profile, score_block

    settle_worker()  # a process of its own for batch work: few collector passes
    test = LinkTest(wanted, thresholds, weights)

    chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=read_into, args=(conn, chunks), daemon=True).start()
    try:
        while True:
            message = chunks.get()
            if message is None:
                return
            blocks, opened = message
            try:
                loaded = {n: load_profile(blob) for n, blob in opened.items()}
                compared = 0
                links: list[Any] = []
                for k, members in blocks:
                    found = score_block(k, members, loaded, stopped, test)
                    compared += found[0]
                    links.extend(found[1])
            except Exception as exc:  # reported by type only
                conn.send(("error", type(exc).__name__))
                return
            conn.send_bytes(pickle.dumps(("ok", (compared, links)), pickle.HIGHEST_PROTOCOL))
    except OSError:
        return


def score_in_two(
    scratch: _Scratch,
    blocks: Iterator[tuple[int, list[int]]],
    stopped: frozenset[int],
    wanted: MatchDecision,
    thresholds: Thresholds,
    weights: Weights,
    found: _Found,
) -> None:
    """Score every block, here and in a worker process, adding what is found to ``found``."""
    from custrec.matching._fast import LinkTest
    from custrec.services._clustering import chunks, score_block

    test = LinkTest(wanted, thresholds, weights)
    context = multiprocessing.get_context(_START_METHOD)
    mine, theirs = context.Pipe(duplex=True)
    process = context.Process(
        target=_serve,
        args=(theirs, stopped, wanted, thresholds, weights),
        name="custrec-score-worker",
        daemon=True,
    )
    process.start()
    theirs.close()
    held = 0
    try:
        for chunk in chunks(blocks):
            while held and mine.poll():
                found.add(reply(mine, process)[0])
                held -= 1
            if held < _AHEAD:
                members = sorted({n for _, m in chunk for n in m})
                message = (chunk, scratch.raw(members))
                try:
                    mine.send_bytes(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
                except (OSError, ValueError):
                    raise worker_stopped(mine, process) from None
                held += 1
                continue
            loaded = scratch.profiles(sorted({n for _, m in chunk for n in m}))
            for k, members_ in chunk:
                found.add(score_block(k, members_, loaded, stopped, test))
        while held:
            found.add(reply(mine, process)[0])
            held -= 1
    finally:
        try:
            mine.send_bytes(pickle.dumps(None))
        except (OSError, ValueError):
            pass
        mine.close()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
