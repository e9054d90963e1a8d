"""A tamper-evident audit log: an HMAC chain with sequence numbers, and signed checkpoints.

Each entry's chain value is ``HMAC-SHA256(k_chain, previous chain || canonical(entry))`` where
``canonical`` is a length-prefixed encoding of ``seq``, ``at`` (UTC ISO 8601 with microseconds),
``actor_id``, ``action``, ``customer_id``, ``fields``, ``reason`` and ``outcome``, followed by
``on_behalf_of`` when an entry has one (so entries without it keep their bytes); the first
entry (``seq`` 1) chains from :data:`GENESIS`, 32 zero bytes. Changing any byte of an entry,
inserting, deleting or reordering entries breaks the chain or the sequence. Deleting the newest
entries (truncation) leaves a valid but shorter chain, so keep a :class:`Checkpoint` (the seq
and chain value of a recent entry, signed) outside the database and pass it to
:meth:`AuditChain.verify`.

Entries name customers by id and fields by name; nothing personal enters the chain, so erasing
a customer (destroying their data key) leaves the log verifiable.

Keys: ``k_chain`` and the checkpoint key are derived with HKDF-SHA256 from the one audit key
given to :class:`AuditChain`, with distinct ``info`` labels. Checkpoints are signed with
HMAC-SHA256 (verifying one needs the audit key; publish checkpoint values to write-once storage
if third parties must check them).

>>> from datetime import UTC, datetime
>>> import attrs
>>> @attrs.frozen(kw_only=True)
... class Entry:
...     seq: int
...     at: datetime
...     actor_id: str
...     action: str
...     customer_id: str | None = None
...     fields: tuple[str, ...] = ()
...     reason: str | None = None
...     outcome: str = "ok"
...     chain: bytes = b""
>>> chain = AuditChain(bytes(32))
>>> at = datetime(2025, 1, 1, tzinfo=UTC)
>>> first = Entry(seq=1, at=at, actor_id="u-1", action="customer.read", customer_id="c-1")
>>> first = attrs.evolve(first, chain=chain.link_after(first, None))
>>> second = Entry(seq=2, at=at, actor_id="u-1", action="customer.update", customer_id="c-1")
>>> second = attrs.evolve(second, chain=chain.link_after(second, first))
>>> chain.verify([first, second]).ok
True
>>> chain.verify([second]).problem
'sequence_gap'
>>> checkpoint = chain.checkpoint(second)
>>> chain.verify([first], checkpoint=checkpoint).problem
'truncated'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custrec._checks import aware, check, optional
from custrec.security._common import KEY_SIZE, pack

__all__ = [
    "GENESIS",
    "AuditChain",
    "AuditEntry",
    "ChainVerification",
    "ChainedAuditEntry",
    "Checkpoint",
]

GENESIS: Final = bytes(32)
"""The "previous chain value" of the first entry."""

_ENTRY_LABEL: Final = b"custrec/audit/v1/entry"
_QUEUED_LABEL: Final = b"custrec/audit/v1/queued"
_CHECKPOINT_LABEL: Final = b"custrec/audit/v1/checkpoint"
_CHAIN_INFO: Final = b"custrec/audit/v1/chain-key"
_CHECKPOINT_INFO: Final = b"custrec/audit/v1/checkpoint-key"


class AuditEntry(Protocol):
    """What the chain reads from an audit entry (``custrec.storage.AuditRecord`` fits)."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def customer_id(self) -> str | None: ...
    @property
    def fields(self) -> tuple[str, ...]: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...


class ChainedAuditEntry(AuditEntry, Protocol):
    """An audit entry that carries its chain value."""

    @property
    def chain(self) -> bytes: ...


class _Malformed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(value: object, name: str, *, optional: bool = False) -> bytes:
    if value is None and optional:
        return b"\x00"
    if not isinstance(value, str):
        raise _Malformed(f"entry.{name} must be a string")
    encoded = value.encode("utf-8", "surrogatepass")
    return b"\x01" + encoded if optional else encoded


_last_instant: tuple[datetime, str] | None = None


def _instant(value: object) -> str:
    global _last_instant
    if not isinstance(value, datetime):
        raise _Malformed("entry.at must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _Malformed("entry.at must be timezone-aware")
    # the entries of one unit of work share their time: remember the last one's text (equal
    # aware datetimes of one fold are the same instant, so they have the same UTC text; two
    # that differ only in fold compare equal, an hour apart, when a clock goes back)
    last = _last_instant
    if last is not None and last[0] == value and last[0].fold == value.fold:
        return last[1]
    text = value.astimezone(UTC).isoformat(timespec="microseconds")
    _last_instant = (value, text)
    return text


def _seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Malformed("entry.seq must be an integer >= 1")
    if value >= 1 << 63:
        raise _Malformed("entry.seq is too large")
    return value


def _canonical(entry: object, *, queued: bool = False) -> tuple[int, bytes]:
    """Return ``(seq, canonical bytes)``; raise ``_Malformed`` for a bad entry. A queued
    entry's bytes leave out its seq (0 then) and carry another label."""
    try:
        seq = 0 if queued else _seq(entry.seq)  # type: ignore[attr-defined]
        fields = entry.fields  # type: ignore[attr-defined]
        if isinstance(fields, str) or not isinstance(fields, tuple | list):
            raise _Malformed("entry.fields must be a tuple of strings")
        parts = [
            _QUEUED_LABEL if queued else _ENTRY_LABEL,
            seq.to_bytes(8, "big"),
            _instant(entry.at).encode("ascii"),  # type: ignore[attr-defined]
            _text(entry.actor_id, "actor_id"),  # type: ignore[attr-defined]
            _text(entry.action, "action"),  # type: ignore[attr-defined]
            _text(entry.customer_id, "customer_id", optional=True),  # type: ignore[attr-defined]
            pack(*(_text(f, "fields") for f in fields)),
            _text(entry.reason, "reason", optional=True),  # type: ignore[attr-defined]
            _text(entry.outcome, "outcome"),  # type: ignore[attr-defined]
        ]
        behalf = getattr(entry, "on_behalf_of", None)
        if behalf is not None:  # only then: entries without it keep their bytes
            parts.append(_text(behalf, "on_behalf_of"))
        encoded = pack(*parts)
    except AttributeError as exc:
        raise _Malformed(f"entry lacks attribute {exc.name!r}") from None
    return seq, encoded


_ENTRY_PART: Final = pack(_ENTRY_LABEL)
_QUEUED_PART: Final = pack(_QUEUED_LABEL)
_SEQ_SIZE: Final = (8).to_bytes(4, "big")
_NO_SEQ: Final = _SEQ_SIZE + bytes(8)  # a queued entry's seq part (0)
_PARTS_KEPT: Final = 256  # shared parts an AuditChain keeps (see AuditChain._parts_of)


def _part(value: bytes) -> bytes:
    """One part of :func:`pack`: the length, then the bytes."""
    return len(value).to_bytes(4, "big") + value


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def _seq_bytes(value: int) -> bytes:
    try:
        return _seq(value).to_bytes(8, "big")
    except _Malformed as exc:
        raise ValueError(exc.message) from None


def _plain_key(entry: object) -> tuple[Any, ...] | None:
    """What an entry shares with the others of its unit of work (all but its seq and
    customer), when every part is of its plain type (``None`` otherwise): equal keys give
    equal encodings of those parts."""
    try:  # an attribute missing: the general encoding reports it
        at = entry.at  # type: ignore[attr-defined]
        actor_id = entry.actor_id  # type: ignore[attr-defined]
        action = entry.action  # type: ignore[attr-defined]
        fields = entry.fields  # type: ignore[attr-defined]
        reason = entry.reason  # type: ignore[attr-defined]
        outcome = entry.outcome  # type: ignore[attr-defined]
        customer = entry.customer_id  # type: ignore[attr-defined]
        seq = entry.seq  # type: ignore[attr-defined]
    except AttributeError:
        return None
    behalf = getattr(entry, "on_behalf_of", None)
    if (
        type(at) is datetime
        and type(seq) is int
        and type(actor_id) is str
        and type(action) is str
        and type(outcome) is str
        and (reason is None or type(reason) is str)
        and (behalf is None or type(behalf) is str)
        and (customer is None or type(customer) is str)
        and type(fields) is tuple
        and all(type(f) is str for f in fields)
    ):
        # with the fold: equal datetimes of one fold are the same instant (one UTC text); two
        # that differ only in fold compare equal, an hour apart, when a clock goes back
        return (at, at.fold, actor_id, action, fields, reason, outcome, behalf)
    return None


def _shared_parts(entry: Any) -> tuple[bytes, bytes]:
    """The parts of :func:`_canonical` before and after the customer id (after the seq):
    ``at``, actor and action; fields, reason, outcome and ``on_behalf_of`` when given."""
    head = b"".join(
        (
            _part(_instant(entry.at).encode("ascii")),
            _part(_text(entry.actor_id, "actor_id")),
            _part(_text(entry.action, "action")),
        )
    )
    tail = [
        _part(pack(*(_text(f, "fields") for f in entry.fields))),
        _part(_text(entry.reason, "reason", optional=True)),
        _part(_text(entry.outcome, "outcome")),
    ]
    behalf = getattr(entry, "on_behalf_of", None)
    if behalf is not None:
        tail.append(_part(_text(behalf, "on_behalf_of")))
    return head, b"".join(tail)


def _customer_part(customer: str | None) -> bytes:
    """The customer id's part of :func:`_canonical` (a plain ``str`` or ``None``)."""
    return _part(b"\x00" if customer is None else b"\x01" + _utf8(customer))


def _stored_chain(entry: object) -> bytes:
    value = getattr(entry, "chain", None)
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _Malformed("entry.chain must be bytes")
    return bytes(value)


def _hex(value: bytes) -> str:
    return value.hex()


@attrs.frozen(kw_only=True)
class Checkpoint:
    """The signed ``seq`` and chain value of one entry, kept outside the audit store.

    :meth:`to_dict`/:meth:`from_dict` give a JSON-safe form for a file or write-once storage.
    """

    seq: int
    chain: bytes = attrs.field(repr=_hex)
    at: datetime
    signature: bytes = attrs.field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"seq", "chain" (hex), "at" (ISO 8601), "signature" (hex)}``."""
        return {
            "seq": self.seq,
            "chain": self.chain.hex(),
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Read :meth:`to_dict` output; raises ``ValueError`` if malformed.

        A well-formed but forged checkpoint is caught by :meth:`AuditChain.verify_checkpoint`.
        """
        try:
            seq = data["seq"]
            if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
                raise ValueError("seq must be a positive integer")
            at = datetime.fromisoformat(data["at"])
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError("at must carry a time zone")
            return cls(
                seq=seq,
                chain=bytes.fromhex(data["chain"]),
                at=at.astimezone(UTC),
                signature=bytes.fromhex(data["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed checkpoint: {exc}") from None


@attrs.frozen(kw_only=True)
class ChainVerification:
    """The result of :meth:`AuditChain.verify`.

    ``checked`` counts entries whose chain value was confirmed. When ``ok`` is false,
    ``problem`` is a stable code and ``seq`` the sequence number where it was found:

    - ``malformed_entry``: an entry lacks an attribute or has a wrong type;
    - ``sequence_gap``: a seq is not the previous one + 1 (deletion, insertion, reordering);
    - ``chain_mismatch``: an entry's content or chain value was altered, or an entry forged;
    - ``checkpoint_signature``: a checkpoint was not signed with this chain's key;
    - ``checkpoint_mismatch``: the entry at the checkpoint's seq has another chain value;
    - ``checkpoint_out_of_range``: the checkpoint lies before the verified range;
    - ``truncated``: the log ends before the checkpoint's seq;
    - ``entry_lost`` (from ``registry.audit.verify`` only): the chain verifies, but the audit
      head keeps evidence that the log lost, or changed, the entry at ``seq`` after a registry
      had committed it (a deferred head found it; ``reset_head`` acknowledges it).
    """

    ok: bool
    checked: int
    problem: str | None = None
    seq: int | None = None


def _derive(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(key)


def _fail(problem: str, *, checked: int, seq: int | None) -> ChainVerification:
    return ChainVerification(ok=False, checked=checked, problem=problem, seq=seq)


class AuditChain:
    """Links, verifies and checkpoints an audit log under one secret audit key.

    ``key`` must be at least 32 bytes (``KeyRing.audit_key()`` gives one); ``ValueError``
    otherwise. The same key must be used for the whole life of a log.
    """

    __slots__ = ("_chain_key", "_chain_mac", "_checkpoint_key", "_parts")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise TypeError(f"audit key must be bytes, not {type(key).__name__}")
        material = bytes(key)
        if len(material) < KEY_SIZE:
            raise ValueError(
                f"audit key must be at least {KEY_SIZE} bytes long (got {len(material)} bytes)"
            )
        self._chain_key = _derive(material, _CHAIN_INFO)
        self._checkpoint_key = _derive(material, _CHECKPOINT_INFO)
        # the keyed HMAC state, copied per entry instead of keyed again
        self._chain_mac = hmac.new(self._chain_key, digestmod=hashlib.sha256)
        # the shared parts of the last few plain entries (see _parts_of)
        self._parts: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}

    def __repr__(self) -> str:
        return "AuditChain(<key hidden>)"

    # ------------------------------------------------------------------------------ linking

    def _mac(self, previous: bytes, encoded: bytes) -> bytes:
        mac = self._chain_mac.copy()
        mac.update(pack(previous, encoded))
        return mac.digest()

    def _parts_of(self, key: tuple[Any, ...], entry: Any) -> tuple[bytes, bytes]:
        """:func:`_shared_parts` of a plain entry whose :func:`_plain_key` is ``key``, kept
        for the next few entries: a queued entry is tagged, its tag checked, then it is linked,
        and its parts are encoded once for the three."""
        parts = self._parts
        found = parts.get(key)
        if found is None:
            try:
                found = _shared_parts(entry)
            except _Malformed as exc:
                raise ValueError(exc.message) from None
            if len(parts) >= _PARTS_KEPT:
                parts.clear()
            parts[key] = found
        return found

    def link(self, entry: AuditEntry, previous_chain: bytes) -> bytes:
        """Return the chain value of ``entry`` (its own ``chain``, if any, is ignored).

        ``previous_chain`` is the chain value of the entry with ``seq - 1``, or :data:`GENESIS`
        for ``seq`` 1. Raises ``ValueError`` for a malformed entry (naive ``at``, seq < 1, ...).
        """
        if not isinstance(previous_chain, bytes | bytearray | memoryview):
            raise TypeError("previous_chain must be bytes")
        try:
            _, encoded = _canonical(entry)
        except _Malformed as exc:
            raise ValueError(exc.message) from None
        return self._mac(bytes(previous_chain), encoded)

    def link_after(self, entry: AuditEntry, previous: ChainedAuditEntry | None) -> bytes:
        """Return the chain value of ``entry`` appended after ``previous`` (``None``: first).

        Raises ``ValueError`` unless ``entry.seq`` is ``previous.seq + 1`` (or 1 when first).
        """
        return self.link_all([entry], previous=previous)[0]

    def link_all(
        self, entries: Sequence[AuditEntry], *, previous: ChainedAuditEntry | None
    ) -> list[bytes]:
        """Return the chain values of consecutive new ``entries`` appended after ``previous``.

        Raises ``ValueError`` unless the entries' seqs run on from ``previous.seq`` (or from 1).
        """
        values: list[bytes] = []
        expected = 1 if previous is None else previous.seq + 1
        chain = GENESIS if previous is None else bytes(previous.chain)
        # the entries of one unit of work share all but their seq and customer: the shared
        # parts of the canonical bytes are encoded once per run of equal ones (_shared_parts)
        shared_key: tuple[Any, ...] | None = None
        head = tail = b""
        for entry in entries:
            if entry.seq != expected:
                raise ValueError(f"entry seq must be {expected}, got {entry.seq}")
            key = _plain_key(entry)
            if key is None:  # anything unusual: the general encoding checks and reports it
                chain = self.link(entry, chain)
            else:
                if key != shared_key:
                    head, tail = self._parts_of(key, entry)
                    shared_key = key
                encoded = b"".join(
                    (
                        _ENTRY_PART,
                        _SEQ_SIZE,
                        _seq_bytes(entry.seq),
                        head,
                        _customer_part(entry.customer_id),
                        tail,
                    )
                )
                chain = self._mac(chain, encoded)
            values.append(chain)
            expected += 1
        return values

    def tag(self, entry: AuditEntry) -> bytes:
        """Return the tag of an entry waiting in an audit queue: an HMAC of its content
        without its seq (not known yet), under the chain key. The sealer checks it with
        :meth:`check_tag` before chaining the entry, so an entry forged or altered while queued
        is not chained as genuine. Raises ``ValueError`` for a malformed entry."""
        key = _plain_key(entry)
        if key is None:  # anything unusual: the general encoding checks and reports it
            try:
                _, encoded = _canonical(entry, queued=True)
            except _Malformed as exc:
                raise ValueError(exc.message) from None
        else:
            head, tail = self._parts_of(key, entry)
            customer = _customer_part(entry.customer_id)
            encoded = b"".join((_QUEUED_PART, _NO_SEQ, head, customer, tail))
        return self._mac(GENESIS, encoded)

    def check_tag(self, entry: AuditEntry, tag: bytes) -> bool:
        """Tell whether ``tag`` is :meth:`tag` of ``entry`` (never raises)."""
        try:
            expected = self.tag(entry)
            return hmac.compare_digest(expected, bytes(tag))
        except (TypeError, ValueError):
            return False

    # ------------------------------------------------------------------------- checkpoints

    def _sign(self, seq: int, chain: bytes, at: datetime) -> bytes:
        message = pack(
            _CHECKPOINT_LABEL, _seq(seq).to_bytes(8, "big"), chain, _instant(at).encode("ascii")
        )
        return hmac.new(self._checkpoint_key, message, hashlib.sha256).digest()

    def checkpoint(
        self, last_entry: ChainedAuditEntry, *, at: datetime | None = None
    ) -> Checkpoint:
        """Sign the position of ``last_entry`` (normally the newest entry).

        ``at`` is when the checkpoint was taken (aware; default: the entry's ``at``). Store the
        result away from the audit store. Raises ``ValueError`` for a malformed entry or a naive
        ``at`` (``TypeError`` for an ``at`` that is not a datetime).
        """
        check("at", at, optional(aware()))
        try:
            seq, _ = _canonical(last_entry)
            chain = _stored_chain(last_entry)
            when = last_entry.at if at is None else at
            _instant(when)
        except _Malformed as exc:
            raise ValueError(exc.message) from None
        stamp = when.astimezone(UTC)
        return Checkpoint(seq=seq, chain=chain, at=stamp, signature=self._sign(seq, chain, stamp))

    def _checkpoint_appended(self, entry: ChainedAuditEntry) -> Checkpoint:
        """:meth:`checkpoint` of an entry this chain just appended (its seq, chain and instant
        are well formed by construction), without rebuilding the entry's canonical bytes to
        check it: the registry signs one after every unit of work that wrote to the log."""
        chain = bytes(entry.chain)
        stamp = entry.at.astimezone(UTC)
        return Checkpoint(
            seq=entry.seq, chain=chain, at=stamp, signature=self._sign(entry.seq, chain, stamp)
        )

    def verify_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Tell whether ``checkpoint`` was signed with this chain's key and is unaltered."""
        if not isinstance(checkpoint, Checkpoint):
            return False
        try:
            expected = self._sign(checkpoint.seq, bytes(checkpoint.chain), checkpoint.at)
            signature = bytes(checkpoint.signature)
        except (_Malformed, TypeError, ValueError):
            return False
        return hmac.compare_digest(expected, signature)

    # ------------------------------------------------------------------------- verification

    def verify(
        self,
        entries: Iterable[ChainedAuditEntry],
        *,
        checkpoint: Checkpoint | None = None,
        start_after: Checkpoint | None = None,
    ) -> ChainVerification:
        """Check that ``entries`` (in sequence order) form an unbroken, unaltered chain.

        Without ``start_after`` the entries must start at seq 1 (chained from
        :data:`GENESIS`); with it, right after the checkpoint's seq, chained from its value, so
        a long log can be verified incrementally. With ``checkpoint``, the log must reach the
        checkpoint's seq with the checkpoint's chain value (this detects truncation). Never
        raises for bad entries: see :class:`ChainVerification` for the problem codes.
        """
        previous = GENESIS
        expected = 1
        if start_after is not None:
            if not self.verify_checkpoint(start_after):
                return _fail("checkpoint_signature", checked=0, seq=start_after.seq)
            previous = bytes(start_after.chain)
            expected = start_after.seq + 1
        checkpoint_seen = checkpoint is None
        if checkpoint is not None:
            if not self.verify_checkpoint(checkpoint):
                return _fail("checkpoint_signature", checked=0, seq=checkpoint.seq)
            if checkpoint.seq < expected:  # at or before the start of the verified range
                if start_after is None or checkpoint.seq != start_after.seq:
                    return _fail("checkpoint_out_of_range", checked=0, seq=checkpoint.seq)
                if not hmac.compare_digest(bytes(checkpoint.chain), previous):
                    return _fail("checkpoint_mismatch", checked=0, seq=checkpoint.seq)
                checkpoint_seen = True
        checked = 0
        for entry in entries:
            try:
                seq, encoded = _canonical(entry)
                stored = _stored_chain(entry)
            except _Malformed:
                raw = getattr(entry, "seq", None)
                where = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
                return _fail("malformed_entry", checked=checked, seq=where)
            if seq != expected:
                return _fail("sequence_gap", checked=checked, seq=seq)
            if not hmac.compare_digest(self._mac(previous, encoded), stored):
                return _fail("chain_mismatch", checked=checked, seq=seq)
            checked += 1
            if checkpoint is not None and seq == checkpoint.seq:
                if not hmac.compare_digest(stored, bytes(checkpoint.chain)):
                    return _fail("checkpoint_mismatch", checked=checked, seq=seq)
                checkpoint_seen = True
            previous = stored
            expected += 1
        if not checkpoint_seen and checkpoint is not None:
            return _fail("truncated", checked=checked, seq=checkpoint.seq)
        return ChainVerification(ok=True, checked=checked)
