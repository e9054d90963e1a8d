"""Preparing rows for an import: the pure, per-row part, in this process or in worker processes.

Preparing a row maps it (:class:`~custrec.interchange.mapping.BoundMapping`), runs
:func:`~custrec.validation.parse_customer` on it, and derives its strong identifiers and the
id an import gives it, and for a real import into an encrypting registry seals it
(:mod:`custrec.services._presealed`: stored form, tokens, payload under a fresh data key). That
needs only the mapping, the import id, the instant rows are checked against and the index keys,
never the store, and no row depends on another: it can run in any order and
in any process. What depends on the order (duplicates in the file, store matching, writing,
the report) stays with the importer in the calling process, which consumes the prepared chunks
in file order, so the outcome does not depend on how many processes prepared them.

:func:`prepared_chunks` runs the preparation in this process (``workers=1``) or in
``workers`` processes started with the ``spawn`` method (never ``fork``: the caller may hold
SQLite connections and threads). Each worker has its own pipe and holds at most one chunk: the
caller hands chunk *k* to worker *k* mod ``workers`` and reads the results back in the same
order, so at most ``workers`` chunks are being prepared while the caller writes another, and
memory stays flat however large the file. A worker that dies (killed, out of memory) is noticed
through its process sentinel and raises :class:`~custrec.errors.ImportWorkerError`; a worker whose
parent dies reads the end of its pipe and exits. A failure inside a worker is reported by the
exception's type and the row number only, never its message, which could quote a cell.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

import attrs

from custrec._collector import paused, settle_worker
from custrec.errors import ImportWorkerError
from custrec.interchange._binding import BoundMapping, MappedRow, is_shifted, shown_value
from custrec.interchange._identity import derive_id, row_identity
from custrec.interchange.mapping import ImportMapping, MappingError
from custrec.interchange.readers import SourceRow
from custrec.interchange.report import ColumnUsage, RowIssue
from custrec.model._replace import replace
from custrec.model.issues import Severity, ValidationReport
from custrec.model.records import Customer
from custrec.model.serialization import SCHEMA_VERSION
from custrec.services import Preparation, PreparedCustomer
from custrec.services._preparation import prepared
from custrec.services._presealed import Presealed, Presealer
from custrec.storage.codec import StrongKey, strong_keys
from custrec.validation import parse_customer

__all__ = [
    "NOT_MERGED",
    "Binder",
    "Prepared",
    "Preparer",
    "is_document",
    "prepared_chunks",
    "row_issues",
]

NOT_MERGED: Final = frozenset({"id", "version", "created_at", "updated_at"})
_BINDINGS_KEPT: Final = 256  # distinct header sets remembered (JSON Lines may vary per line)
_START_METHOD: Final = "spawn"
_SLICE: Final = 500  # prepared rows a worker pickles at once


def _worker_error(message: str) -> ImportWorkerError:
    """A worker failed or stopped: :class:`~custrec.errors.ImportWorkerError`."""
    return ImportWorkerError(message)


def is_document(cells: Mapping[str, Any]) -> bool:
    """Whether a row is a whole custrec export document (JSON Lines)."""
    return "schema_version" in cells and "data" in cells


def row_issues(
    source: SourceRow, mapped: MappedRow | None, report: ValidationReport
) -> Iterator[RowIssue]:
    """Validation issues as row issues: with the column that fed each path and its value,
    masked when it holds personal data (every value of a row with shifted cells)."""
    for issue in report.issues:
        column = mapped.column_of(issue.path) if mapped is not None else None
        value: str | None = None
        if column is not None and mapped is not None and column in mapped.values:
            path = None if is_shifted(source) else mapped.paths.get(column)
            value = shown_value(mapped.values[column], path)
        yield RowIssue(
            row=source.number,
            column=column,
            path=issue.path,
            code=issue.code,
            message=issue.message,
            severity=issue.severity,
            value=value,
        )


class Binder:
    """Binds the mapping to each distinct header set (one for CSV, a few for JSON Lines).

    With ``track`` (the importer's binder) it also collects the column usage for the report,
    and a mapping that does not fit the first header set raises :class:`MappingError` (the
    wrong file or the wrong mapping); later header sets that do not fit are row issues. A
    preparer's binder (``track=False``) never raises: the importer has decided already.
    """

    def __init__(
        self, mapping: ImportMapping, headers: Sequence[str] | None, *, track: bool = True
    ) -> None:
        self.mapping = mapping
        self._track = track
        self._first = track
        self._bound: dict[tuple[str, ...], BoundMapping | MappingError] = {}
        self.mapped: dict[str, str] = {}
        self.unmapped: dict[str, None] = {}
        self.missing: set[str] | None = None
        if headers is not None:
            self._bind(tuple(headers))

    def _bind(self, headers: tuple[str, ...]) -> BoundMapping | MappingError:
        first, self._first = self._first, False
        try:
            bound: BoundMapping | MappingError = self.mapping.bind(headers)
        except MappingError as exc:
            if first:
                raise
            bound = exc
        if len(self._bound) >= _BINDINGS_KEPT:  # pathological JSON Lines: every line its keys
            self._bound.clear()
        self._bound[headers] = bound
        if self._track and isinstance(bound, BoundMapping):
            self.mapped.update(bound.usage.mapped)
            self.unmapped.update(dict.fromkeys(bound.usage.unmapped))
            missing = set(bound.usage.missing)
            self.missing = missing if self.missing is None else self.missing & missing
        return bound

    def get(self, cells: Mapping[str, Any]) -> BoundMapping | MappingError:
        """The binding for a row's header set."""
        headers = tuple(cells)
        bound = self._bound.get(headers)
        return bound if bound is not None else self._bind(headers)

    def observe(self, source: SourceRow) -> None:
        """Bind the row's header set if the row is mapped at all (for the column usage)."""
        if not source.cells and source.problems:
            return
        if self.mapping.native and is_document(source.cells):
            return
        self.get(source.cells)

    def usage(self) -> ColumnUsage:
        """Which headers were mapped, left unmapped, or missing from every header set."""
        unmapped = tuple(h for h in self.unmapped if h not in self.mapped)
        missing = tuple(r.name for r in self.mapping.columns if r.name in (self.missing or ()))
        return ColumnUsage(mapped=dict(self.mapped), unmapped=unmapped, missing=missing)


@attrs.frozen
class Prepared:
    """One row, prepared: its issues so far, what the mapping made of it (``None`` when the
    row could not be mapped), and, when it is valid, the customer (with the id the import gives
    it), its strong identifiers and that id (``explicit_id`` when the row named its own); when
    sealed (``presealed``), the customer itself may be left out (see :class:`Preparer`)."""

    issues: list[RowIssue]
    mapped: MappedRow | None = None
    customer: Customer | None = None
    keys: frozenset[StrongKey] = frozenset()
    target: str | None = None
    explicit_id: bool = False
    vouched: PreparedCustomer | None = None  # ``customer``, as the registry's intake trusts it
    presealed: Presealed | None = None  # ``customer`` as stored, sealed (see ``_presealed``)


def _issue(source: SourceRow, code: str, message: str) -> RowIssue:
    return RowIssue(row=source.number, column=None, path="", code=code, message=message)


Settings = tuple[
    ImportMapping, tuple[str, ...] | None, str, datetime, Preparation | None, Presealer | None, bool
]


class Preparer:
    """Prepares rows (see the module docs): pure, picklable settings and a binding cache.

    With a ``preparation`` (the registry's, for the importing actor) each row is validated by
    it, with the registry's rules, and the customer is handed to intake as the
    :class:`~custrec.services.PreparedCustomer` it trusts: validated once. Without one, rows are
    validated with the default rules and intake validates them again. With a ``presealer`` too
    (a real import into an encrypting registry), each valid customer is also given its stored
    form, tokens and sealed payload at the instant the chunk is handed over (``now``), so the
    writer only decides and writes (:mod:`custrec.services._presealed`); the customer record
    itself is then left out of the result unless ``records`` (an import that may update a
    stored customer merges it).
    """

    def __init__(
        self,
        mapping: ImportMapping,
        *,
        headers: Sequence[str] | None,
        import_id: str,
        as_of: datetime,
        preparation: Preparation | None = None,
        presealer: Presealer | None = None,
        records: bool = True,
    ) -> None:
        self.mapping = mapping
        self.headers = tuple(headers) if headers is not None else None
        self.import_id = import_id
        self.as_of = as_of
        self.preparation = preparation
        self.presealer = presealer if preparation is not None else None
        self.records = records
        self._binder = Binder(mapping, None, track=False)

    def settings(self) -> Settings:
        """What a worker process needs to build the same preparer."""
        return (
            self.mapping,
            self.headers,
            self.import_id,
            self.as_of,
            self.preparation,
            self.presealer,
            self.records,
        )

    def prepare(self, source: SourceRow, now: datetime | None = None) -> Prepared:
        """Map, normalise and validate one row, and derive its keys and id; with a presealer
        and ``now`` (the registry's clock when the chunk was handed over), seal it too."""
        if not source.cells and source.problems:
            return Prepared(list(source.problems))
        cells = source.cells
        if self.mapping.native and is_document(cells):
            data = self._document(source)
            if isinstance(data, RowIssue):
                return Prepared([*source.problems, data])
            mapped = MappedRow(data=data, touched=frozenset(k for k in data if k not in NOT_MERGED))
            issues = list(source.problems)
        else:
            bound = self._binder.get(cells)
            if isinstance(bound, MappingError):
                return Prepared([*source.problems, _issue(source, "row.columns", bound.message)])
            mapped = bound.apply(source)
            issues = list(mapped.issues)
        data = dict(mapped.data)
        data.pop("version", None)
        vouched: PreparedCustomer | None = None
        sealing = self.presealer is not None and now is not None
        if sealing:  # validated as the preparation does; the presealed row carries the trust
            preparation = self.preparation
            assert preparation is not None
            customer, report = prepared(
                data,
                region=preparation.region,
                rules=preparation.rules,
                as_of=preparation.as_of,
                fields=preparation.fields,
            )
        elif self.preparation is not None:
            vouched = self.preparation.prepare(data)
            customer, report = vouched.record, vouched.report
        else:
            result = parse_customer(
                data, region=self.mapping.region, as_of=self.as_of, fields=self.mapping.fields
            )
            customer, report = result.record, result.report
        issues.extend(row_issues(source, mapped, report))
        if customer is None or any(i.severity is Severity.ERROR for i in issues):
            return Prepared(issues, mapped)
        explicit = "id" in data
        target = customer.id if explicit else derive_id(self.import_id, row_identity(customer))
        if vouched is not None:
            vouched = vouched.with_id(target)
            customer = vouched.record
            assert customer is not None
        elif not explicit:
            customer = replace(customer, id=target)  # here, not in the writer: it costs
        presealed = None
        keys = strong_keys(customer)
        if sealing:
            assert self.presealer is not None and now is not None
            presealed = self.presealer.seal(customer, now, keys)
            if not self.records:
                return Prepared(issues, mapped, None, keys, target, explicit, None, presealed)
        return Prepared(issues, mapped, customer, keys, target, explicit, vouched, presealed)

    def _document(self, source: SourceRow) -> dict[str, Any] | RowIssue:
        cells = source.cells
        if cells.get("schema_version") != SCHEMA_VERSION:
            message = f"not a custrec document of schema version {SCHEMA_VERSION}"
            return _issue(source, "row.schema", message)
        if cells.get("type", "customer") != "customer":
            return _issue(source, "row.schema", "not a customer document")
        if cells.get("masked") is True:
            message = "a masked export cannot be imported: export with unmask"
            return _issue(source, "row.masked", message)
        if not isinstance(cells.get("data"), dict):
            return _issue(source, "row.not_object", "the document's data must be an object")
        return dict(cells["data"])


# ------------------------------------------------------------------------------ workers


def _slim(prepared: Prepared) -> Prepared:
    """What the importer still needs of a prepared row: not the mapped data, nor the cells
    read and their paths (only the worker shows a cell in an issue; the writer's issues name a
    column at most), so no cell text crosses to the writer and rows in flight stay small."""
    mapped = prepared.mapped
    if mapped is None:
        return prepared
    slim = MappedRow(  # built directly: ``attrs.evolve`` costs twice as much, for every row
        data={},
        issues=mapped.issues,
        columns=mapped.columns,
        declared=mapped.declared,
        touched=mapped.touched,
    )
    p = prepared
    return Prepared(
        p.issues, slim, p.customer, p.keys, p.target, p.explicit_id, p.vouched, p.presealed
    )


def _serve(conn: Connection, settings: Settings) -> None:
    """A worker's loop: prepare each chunk received, send the results back, until ``None``
    or the end of the pipe (the parent is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    mapping, headers, import_id, as_of, preparation, presealer, records = settings
    preparer = Preparer(
        mapping,
        headers=headers,
        import_id=import_id,
        as_of=as_of,
        preparation=preparation,
        presealer=presealer,
        records=records,
    )
    # what the worker imported and was given lives as long as it does: kept out of the
    # collections, and the rows' short-lived objects collected less often
    settle_worker()
    while True:
        try:
            received = conn.recv()
        except (EOFError, OSError):
            return
        if received is None:
            return
        packed, now = received
        try:
            blobs = _prepare_pickled(preparer, _unpacked(packed), now)
            message: tuple[str, Any] = ("ok", len(blobs))
        except _RowFailed as failed:
            blobs, message = [], ("error", str(failed))
        packed = received = None  # the rows are not needed while the results go out
        try:
            conn.send(message)
            for blob in blobs:
                conn.send_bytes(blob)
        except (OSError, ValueError):
            return


Packed = tuple[list[tuple[str, ...]], list[tuple[int, int, tuple[Any, ...], tuple[RowIssue, ...]]]]


def _packed(chunk: list[SourceRow]) -> Packed:
    """A chunk as a worker gets it: its rows' distinct header tuples (one for CSV), and per row
    its number, which header tuple, its cell values and its problems; not its raw cells (only
    the error file, written here, needs them). Smaller and quicker to pickle than the rows."""
    shapes: dict[tuple[str, ...], int] = {}
    rows = []
    for source in chunk:
        cells = source.cells
        headers = tuple(cells)
        shape = shapes.get(headers)
        if shape is None:
            shape = shapes[headers] = len(shapes)
        rows.append((source.number, shape, tuple(cells.values()), source.problems))
    return list(shapes), rows


def _unpacked(packed: Packed) -> list[SourceRow]:
    """The rows of a packed chunk (``raw`` left empty: a worker never reads it)."""
    shapes, rows = packed
    return [
        SourceRow(
            number=number,
            cells=dict(zip(shapes[shape], values, strict=True)),
            raw=(),
            problems=problems,
        )
        for number, shape, values, problems in rows
    ]


def _prepare_pickled(
    preparer: Preparer, chunk: list[SourceRow], now: datetime | None
) -> list[bytes]:
    """The chunk's prepared rows, pickled a slice at a time as they are made: a worker holds
    compact bytes, not a chunk's worth of live objects, until it can send them."""
    blobs: list[bytes] = []
    ready: list[Prepared] = []
    for position, source in enumerate(chunk):
        try:
            ready.append(_slim(preparer.prepare(source, now)))
            if len(ready) >= _SLICE or position == len(chunk) - 1:
                blobs.append(pickle.dumps(ready, protocol=pickle.HIGHEST_PROTOCOL))
                ready = []
        except Exception as exc:  # reported by type only: a message may quote a cell
            failed = f"preparing row {source.number} failed: {type(exc).__name__}"
            raise _RowFailed(failed) from None
    return blobs


class _RowFailed(Exception):
    """A row could not be prepared in a worker (the message names the row and the type)."""


class _Pool:
    """``workers`` spawned processes, each with its own pipe (see the module docs)."""

    def __init__(self, preparer: Preparer, workers: int) -> None:
        context = multiprocessing.get_context(_START_METHOD)
        self._conns: list[Connection] = []
        self._procs: list[BaseProcess] = []
        try:
            for _ in range(workers):
                mine, theirs = context.Pipe(duplex=True)
                process = context.Process(
                    target=_serve,
                    args=(theirs, preparer.settings()),
                    name="custrec-import-worker",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self._conns.append(mine)
                self._procs.append(process)
        except BaseException:
            self.close(abort=True)
            raise

    def send(self, worker: int, chunk: list[SourceRow], now: datetime | None) -> None:
        try:
            self._conns[worker].send((_packed(chunk), now))
        except (OSError, ValueError):
            raise self._stopped(worker) from None
        except Exception as exc:  # pickling: the rows hold a value that cannot be sent
            raise _worker_error(
                f"rows {chunk[0].number}-{chunk[-1].number} cannot be handed to a worker "
                f"process ({type(exc).__name__}); import with workers=1"
            ) from None

    def receive(self, worker: int) -> list[Prepared]:
        conn, process = self._conns[worker], self._procs[worker]
        multiprocessing.connection.wait([conn, process.sentinel])
        results: list[Prepared] = []
        try:
            kind, payload = conn.recv()
            if kind != "ok":
                raise _worker_error(f"an import worker failed: {payload}")
            # unpickling builds many small objects and no cycles: a collection pass over the
            # importer's heap at every few hundred objects made it ~40 % slower
            with paused():
                for _ in range(payload):
                    results.extend(pickle.loads(conn.recv_bytes()))
        except (EOFError, OSError):
            raise self._stopped(worker) from None
        return results

    def _stopped(self, worker: int) -> ImportWorkerError:
        process = self._procs[worker]
        process.join(timeout=5)
        code = process.exitcode
        if code is None:
            how = "its pipe closed"
        elif code < 0:
            how = f"by signal {-code}"
        else:
            how = f"with exit code {code}"
        return _worker_error(
            f"an import worker process stopped unexpectedly ({how}): a script that runs an "
            "import with workers must guard its top level with 'if __name__ == \"__main__\":' "
            "(workers are spawned and import it), or the machine ran out of memory; the "
            "chunks written so far are stored: run the same import again to resume"
        )

    def close(self, *, abort: bool = False) -> None:
        for conn in self._conns:
            if not abort:
                try:
                    conn.send(None)
                except (OSError, ValueError):
                    pass
            conn.close()
        for process in self._procs:
            if abort:
                process.terminate()
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


def prepared_chunks(
    preparer: Preparer,
    chunks: Iterator[list[SourceRow]],
    *,
    workers: int,
    prepared_one: Callable[[], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Generator[tuple[list[SourceRow], list[Prepared]], None, None]:
    """Each chunk with its prepared rows, in the order read.

    With ``workers`` > 1 and more than one chunk, the rows are prepared by worker processes,
    at most ``workers`` chunks ahead of the caller; otherwise in this process, calling
    ``prepared_one()`` after each row. ``clock`` (the registry's) gives the instant each chunk
    is sealed for, read as the chunk is handed over. Close the generator
    (``contextlib.closing``) to stop the workers early.
    """
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None) if workers > 1 else None
    if second is None:
        yield first, _in_process(preparer, first, prepared_one, clock)
        for chunk in chunks:
            yield chunk, _in_process(preparer, chunk, prepared_one, clock)
        return
    pool = _Pool(preparer, workers)
    failed = True
    try:
        yield from _through(pool, _chain(first, second, chunks), workers, clock)
        failed = False
    finally:
        pool.close(abort=failed)


def _through(
    pool: _Pool,
    chunks: Iterator[list[SourceRow]],
    workers: int,
    clock: Callable[[], datetime] | None,
) -> Iterator[tuple[list[SourceRow], list[Prepared]]]:
    """Chunk *k* to worker *k* mod ``workers``, results read back in the same order; a worker
    gets its next chunk as soon as its results are read, before the caller writes them."""
    queued: deque[tuple[list[SourceRow], int]] = deque()
    for worker in range(workers):
        chunk = next(chunks, None)
        if chunk is None:
            break
        pool.send(worker, chunk, None if clock is None else clock())
        queued.append((chunk, worker))
    while queued:
        done, worker = queued.popleft()
        prepared = pool.receive(worker)
        following = next(chunks, None)
        if following is not None:
            pool.send(worker, following, None if clock is None else clock())
            queued.append((following, worker))
        yield done, prepared


def _chain(
    first: list[SourceRow], second: list[SourceRow], rest: Iterator[list[SourceRow]]
) -> Iterator[list[SourceRow]]:
    yield first
    yield second
    yield from rest


def _in_process(
    preparer: Preparer,
    chunk: list[SourceRow],
    prepared_one: Callable[[], None] | None,
    clock: Callable[[], datetime] | None,
) -> list[Prepared]:
    now = None if clock is None else clock()
    if prepared_one is None:
        return [preparer.prepare(source, now) for source in chunk]
    out: list[Prepared] = []
    for source in chunk:
        out.append(preparer.prepare(source, now))
        prepared_one()
    return out
