"""Batch duplicate clustering over a stream of profiles, in bounded memory.

The pipeline (after dedupe's blocking map and Splink's "count before you compare"):

1. every profile is written once to a scratch SQLite database in a private temporary directory,
   sealed with AES-GCM under a key that lives only in this process for this run (the scratch
   file never holds readable personal data), together with its match keys (strong identifiers and
   blocking keys) as 64-bit keyed digests under a second throw-away key;
2. block sizes are counted in SQL; a key shared by more than ``cap`` records is a stop key,
   reported and never expanded into pairs;
3. blocks are streamed in key order; a pair sharing several keys is scored only in the block of
   its smallest shared key, so no pair is scored twice and no list of pairs is ever held;
4. pairs at or above the wanted decision are kept as links (with the government ids of their
   records); at the end they are joined strongest first by
   :func:`custrec.matching.clusters.consistent_clusters`, which refuses (and reports) a link that
   would put two values of one government-id scheme into one cluster.
"""

from __future__ import annotations

import hashlib
import marshal
import operator
import os
import pickle
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import groupby
from operator import itemgetter
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custrec._collector import paused
from custrec._log import get_logger
from custrec.matching._fast import DATE, LinkTest, Prepared, prepare
from custrec.matching.clusters import ClusterRun, StopKey, consistent_clusters
from custrec.matching.keys import GOVERNMENT_KINDS, MatchKey, StrongKey
from custrec.matching.scoring import (
    Match,
    MatchDecision,
    MatchProfile,
    Thresholds,
    Weights,
    compare,
)

__all__ = [
    "Chunk",
    "Loaded",
    "Scored",
    "chunks",
    "cluster_profiles",
    "key_digest",
    "load_profile",
    "score_block",
]

_BATCH: Final = 5000
_log: Final = get_logger(__name__)
_CACHE: Final = 20_000
_HASH_BITS: Final = 55
_HASH_MASK: Final = (1 << _HASH_BITS) - 1


def key_digest(kind_id: int, value: str, secret: bytes | hashlib.blake2b) -> int:
    """A 64-bit keyed digest of a match key's value, its kind number in the top bits.

    ``secret``: the key, or a keyed ``blake2b(digest_size=8, key=...)`` object to copy (the
    same digest, without keying a new hash for every value)."""
    if isinstance(secret, bytes):
        digest = hashlib.blake2b(digest_size=8, key=secret)
    else:
        digest = secret.copy()
    digest.update(value.encode("utf-8", "surrogatepass"))
    return (kind_id << _HASH_BITS) | (int.from_bytes(digest.digest(), "big") & _HASH_MASK)


_DATE: Final = DATE  # marks a date (stored as its ordinal) in a marshalled profile


def _fields() -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(MatchProfile) if f.init)


_FIELDS: Final = _fields()
_VALUES: Final = operator.attrgetter(*_FIELDS)

Loaded = tuple[Prepared, tuple[int, ...], Any]
"""A spilled profile read back: what the link test compares (:func:`~custrec.matching._fast.
prepare`), its sorted key digests, and what :func:`_profile` rebuilds the profile from."""


def _dump(p: MatchProfile, keys: list[int]) -> bytes:
    """Serialise a profile (every field, whatever fields profiles gain), its key digests and
    its prepared form for the link test.

    ``marshal`` (a tenth of the cost of JSON, and the blob is sealed and authenticated, so
    only this process's own output is ever read back); ``pickle`` for a value it cannot hold.
    """
    values = _VALUES(p)
    if any(isinstance(v, date) for v in values):
        values = tuple((_DATE, v.toordinal()) if isinstance(v, date) else v for v in values)
    try:
        return b"m" + marshal.dumps((values, tuple(keys), prepare(p)))
    except ValueError:
        return b"p" + pickle.dumps((p, tuple(keys)), protocol=pickle.HIGHEST_PROTOCOL)


def load_profile(blob: bytes) -> Loaded:
    """Read back what :func:`_dump` wrote."""
    if blob[:1] == b"p":
        profile, keys = pickle.loads(blob[1:])  # our own sealed output
        return prepare(profile), keys, profile
    values, keys, prepared = marshal.loads(blob[1:])
    return prepared, keys, values


def _profile(source: Any) -> MatchProfile:
    """The profile of a loaded entry (rebuilt from its marshalled values)."""
    if isinstance(source, MatchProfile):
        return source
    fields: dict[str, Any] = {
        name: date.fromordinal(v[1]) if type(v) is tuple and v and v[0] == _DATE else v
        for name, v in zip(_FIELDS, source, strict=True)
    }
    return MatchProfile(**fields)


class _Scratch:
    def __init__(self, directory: str) -> None:
        self.conn = sqlite3.connect(os.path.join(directory, "scratch.db"), isolation_level=None)
        for pragma in (
            "PRAGMA journal_mode = OFF",
            "PRAGMA synchronous = OFF",
            "PRAGMA cache_size = -32768",
        ):
            self.conn.execute(pragma)
        self.conn.execute("CREATE TABLE profiles (n INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
        self.conn.execute("CREATE TABLE blocks (k INTEGER NOT NULL, n INTEGER NOT NULL)")
        self.conn.execute("CREATE TABLE stop (k INTEGER PRIMARY KEY)")
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._cache: OrderedDict[int, Loaded] = OrderedDict()

    def seal(self, n: int, data: bytes) -> bytes:
        return self._aead.encrypt(n.to_bytes(12, "big"), data, None)

    def profiles(self, members: list[int]) -> dict[int, Loaded]:
        found: dict[int, Loaded] = {}
        missing = []
        for n in members:
            hit = self._cache.get(n)
            if hit is None:
                missing.append(n)
            else:
                self._cache.move_to_end(n)
                found[n] = hit
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for n, blob in self.conn.execute(
                f"SELECT n, blob FROM profiles WHERE n IN ({marks})", chunk
            ):
                loaded = load_profile(self._aead.decrypt(n.to_bytes(12, "big"), blob, None))
                found[n] = loaded
                self._cache[n] = loaded
                if len(self._cache) > _CACHE:
                    self._cache.popitem(last=False)
        return found

    def raw(self, members: list[int]) -> dict[int, bytes]:
        """The opened (serialised, not loaded) profiles of ``members``, for a scoring worker."""
        found: dict[int, bytes] = {}
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for n, blob in self.conn.execute(
                f"SELECT n, blob FROM profiles WHERE n IN ({marks})", chunk
            ):
                found[n] = self._aead.decrypt(n.to_bytes(12, "big"), blob, None)
        return found

    def close(self) -> None:
        self.conn.close()


def cluster_profiles(
    profiles: Iterable[tuple[MatchProfile, Iterable[MatchKey]]],
    *,
    cap: int,
    decision: MatchDecision,
    thresholds: Thresholds,
    weights: Weights,
    workers: int = 1,
) -> ClusterRun:
    """Cluster a stream of ``(profile, match keys)`` pairs (see the module docstring); with
    ``workers=2``, blocks are scored in this process and in a second one by turns."""
    # the run makes millions of short-lived tuples and no reference cycle (custrec._collector)
    with paused(), tempfile.TemporaryDirectory(prefix="custrec-match-") as directory:
        scratch = _Scratch(directory)
        try:
            return _run(scratch, profiles, cap, decision, thresholds, weights, workers)
        finally:
            scratch.close()


def _run(
    scratch: _Scratch,
    profiles: Iterable[tuple[MatchProfile, Iterable[MatchKey]]],
    cap: int,
    wanted: MatchDecision,
    thresholds: Thresholds,
    weights: Weights,
    workers: int,
) -> ClusterRun:
    conn = scratch.conn
    kinds: dict[str, int] = {}
    rows: list[tuple[int, bytes]] = []
    blocks: list[tuple[int, int]] = []
    total = 0
    conn.execute("BEGIN")
    secret = hashlib.blake2b(digest_size=8, key=os.urandom(32))
    for n, (p, match_keys) in enumerate(profiles):
        keys = sorted(
            {key_digest(kinds.setdefault(kind, len(kinds)), v, secret) for kind, v in match_keys}
        )
        rows.append((n, scratch.seal(n, _dump(p, keys))))
        blocks.extend((k, n) for k in keys)
        total = n + 1
        if len(rows) >= _BATCH:
            conn.executemany("INSERT INTO profiles VALUES (?, ?)", rows)
            conn.executemany("INSERT INTO blocks VALUES (?, ?)", blocks)
            rows.clear()
            blocks.clear()
    conn.executemany("INSERT INTO profiles VALUES (?, ?)", rows)
    conn.executemany("INSERT INTO blocks VALUES (?, ?)", blocks)
    conn.execute("CREATE INDEX blocks_k ON blocks (k, n)")
    conn.execute("COMMIT")
    kind_names = {number: name for name, number in kinds.items()}

    # count before comparing: block sizes decide which keys are stop keys
    stop_keys: list[StopKey] = []
    planned = 0
    block_count = 0
    stop: list[tuple[int]] = []
    for k, size in conn.execute("SELECT k, count(*) FROM blocks GROUP BY k HAVING count(*) > 1"):
        if size > cap:
            stop.append((k,))
            digest = f"{k & _HASH_MASK:014x}"
            stop_keys.append(StopKey(kind_names[k >> _HASH_BITS], size, digest))
        else:
            block_count += 1
            planned += size * (size - 1) // 2
    conn.executemany("INSERT INTO stop VALUES (?)", stop)
    stopped = frozenset(k for (k,) in stop)
    if stop_keys:
        _log.warning(
            "clustering: %d stop key(s) held by more than %d records each, never expanded (%s)",
            len(stop_keys),
            cap,
            ", ".join(
                f"{s.kind}: {s.records}" for s in sorted(stop_keys, key=lambda s: -s.records)
            ),
        )

    found = _Found()
    if workers > 1:
        from custrec.services._score_worker import score_in_two  # spawns only when asked

        score_in_two(scratch, _blocks(conn), stopped, wanted, thresholds, weights, found)
    else:
        test = LinkTest(wanted, thresholds, weights)
        for chunk in chunks(_blocks(conn)):  # the chunk's profiles read in a few statements
            loaded = scratch.profiles(sorted({n for _, members in chunk for n in members}))
            for k, members in chunk:
                found.add(score_block(k, members, loaded, stopped, test))
    compared, links, shared_keys, government = (
        found.compared,
        found.links,
        found.shared_keys,
        found.government,
    )
    clusters, conflicts = consistent_clusters(
        links, government, support=lambda m: shared_keys[m.left, m.right]
    )
    _log.info(
        "clustering: %d records, %d blocks, %d comparisons, %d clusters",
        total,
        block_count,
        compared,
        len(clusters),
    )
    return ClusterRun(
        clusters=clusters,
        records=total,
        blocks=block_count,
        comparisons_planned=planned,
        comparisons=compared,
        stop_keys=tuple(sorted(stop_keys, key=lambda s: (-s.records, s.kind, s.digest))),
        decision=wanted,
        conflicts=conflicts,
    )


Scored = tuple[
    int, list[tuple[Match, int, tuple[str, frozenset[StrongKey]], tuple[str, frozenset[StrongKey]]]]
]
"""What scoring blocks found: pairs compared, and per link the match, how many keys its records
share and each record's id with its government-id keys."""


@attrs.define
class _Found:
    compared: int = 0
    links: list[Match] = attrs.Factory(list)
    shared_keys: dict[tuple[str, str], int] = attrs.Factory(dict)
    government: dict[str, frozenset[StrongKey]] = attrs.Factory(dict)

    def add(self, scored: Scored) -> None:
        compared, links = scored
        self.compared += compared
        for match, shared, *records in links:
            self.links.append(match)
            self.shared_keys[match.left, match.right] = shared
            for rid, keys in records:
                self.government.setdefault(rid, keys)


def score_block(
    k: int,
    members: list[int],
    loaded: dict[int, Loaded],
    stopped: frozenset[int],
    test: LinkTest,
) -> Scored:
    """Score the pairs of one block whose smallest shared key (stop keys aside) is ``k``."""
    compared = 0
    links: list[
        tuple[Match, int, tuple[str, frozenset[StrongKey]], tuple[str, frozenset[StrongKey]]]
    ] = []
    thresholds, weights = test.thresholds, test.weights
    for i, a in enumerate(members):
        pa, ka, sa = loaded[a]
        for b in members[i + 1 :]:
            pb, kb, sb = loaded[b]
            for x in ka:  # sorted: scored in the block of the pair's smallest shared key
                if x >= k or (x in kb and x not in stopped):
                    break
            if x != k:
                continue
            compared += 1
            # the levels' weights, without holder counts (see docs/matching.md, "How shared
            # values are weighed": on the harder set the counts cost more recall than they
            # add precision); the decision first, the reasons only for a link (most pairs
            # are not)
            if test(pa, pb):
                left, right = _profile(sa), _profile(sb)
                match = compare(left, right, thresholds=thresholds, weights=weights)
                shared = len(set(ka).intersection(kb))
                links.append((match, shared, _government(left), _government(right)))
    return compared, links


def _government(p: MatchProfile) -> tuple[str, frozenset[StrongKey]]:
    return p.id, frozenset(key for key in p.strong if key[0] in GOVERNMENT_KINDS)


Chunk = list[tuple[int, list[int]]]
_CHUNK_PAIRS: Final = 4000  # pairs (counted before the smallest-key rule) per chunk of blocks


def chunks(blocks: Iterable[tuple[int, list[int]]]) -> Iterator[Chunk]:
    """Consecutive blocks, grouped until a group holds :data:`_CHUNK_PAIRS` pairs."""
    chunk: Chunk = []
    pairs = 0
    for k, members in blocks:
        chunk.append((k, members))
        pairs += len(members) * (len(members) - 1) // 2
        if pairs >= _CHUNK_PAIRS:
            yield chunk
            chunk, pairs = [], 0
    if chunk:
        yield chunk


def _blocks(conn: sqlite3.Connection) -> Iterator[tuple[int, list[int]]]:
    cursor = conn.execute(
        "SELECT k, n FROM blocks WHERE k NOT IN (SELECT k FROM stop) ORDER BY k, n"
    )
    for k, group in groupby(cursor, key=itemgetter(0)):
        members = [n for _, n in group]
        if len(members) > 1:
            yield k, members
