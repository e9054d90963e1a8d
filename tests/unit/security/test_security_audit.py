"""The audit chain: linking, verification, checkpoints and 1,000 random tamperings."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from custrec.security import GENESIS, AuditChain, Checkpoint, KeyRing

KEY = bytes(range(32))


@attrs.frozen(kw_only=True)
class Entry:
    """Same attributes as custrec.storage.AuditRecord (storage is not imported here)."""

    seq: int = 0
    at: datetime
    actor_id: str
    action: str
    customer_id: str | None = None
    fields: tuple[str, ...] = ()
    reason: str | None = None
    outcome: str = "ok"
    chain: bytes = b""


ACTIONS = ("customer.create", "customer.read", "customer.update", "customer.erase", "audit.read")
FIELDS = ("name", "contacts[0].phones", "notes", "identifiers[0].value", "stage")
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def random_entries(rng: random.Random, count: int) -> list[Entry]:
    entries = []
    for seq in range(1, count + 1):
        entries.append(
            Entry(
                seq=seq,
                at=T0 + timedelta(seconds=seq * 7, microseconds=rng.randrange(1_000_000)),
                actor_id=f"u-{rng.randrange(5)}",
                action=rng.choice(ACTIONS),
                customer_id=rng.choice([None, f"c-{rng.randrange(100)}"]),
                fields=tuple(rng.sample(FIELDS, rng.randrange(3))),
                reason=rng.choice([None, "", "customer request", "ticket 42"]),
                outcome=rng.choice(["ok", "denied"]),
            )
        )
    return entries


def chained(chain: AuditChain, entries: list[Entry]) -> list[Entry]:
    values = chain.link_all(entries, previous=None)
    return [attrs.evolve(e, chain=v) for e, v in zip(entries, values, strict=True)]


# ------------------------------------------------------------------------------- basics


def test_untampered_chain_verifies() -> None:
    chain = AuditChain(KEY)
    log = chained(chain, random_entries(random.Random(1), 50))
    result = chain.verify(log)
    assert result.ok and result.checked == 50 and result.problem is None
    checkpoint = chain.checkpoint(log[-1])
    assert chain.verify(log, checkpoint=checkpoint).ok
    assert chain.verify([]).ok
    middle = chain.checkpoint(log[19])
    assert chain.verify(log, checkpoint=middle).ok  # the log may grow past a checkpoint


def test_chain_values_are_stable_known_answers() -> None:
    # chain values are stored: any change of the construction would break verification
    chain = AuditChain(KEY)
    first = Entry(
        seq=1,
        at=datetime(2025, 1, 1, tzinfo=UTC),
        actor_id="u-1",
        action="customer.read",
        customer_id="c-1",
        fields=("name",),
        reason="support",
    )
    second = Entry(seq=2, at=datetime(2025, 1, 2, tzinfo=UTC), actor_id="u-2", action="a")
    second = attrs.evolve(second, action="customer.create")
    assert [v.hex() for v in chain.link_all([first, second], previous=None)] == [
        "49480e392f4a4059bdf520c7d0ae32bfd93cb22822769ad45cf180b57c8d98e7",
        "ede7d01bb61014b9ec22a0326cb893908818b4cbe7ac3278a77e297b0a7c76c5",
    ]


def test_first_entry_chains_from_genesis() -> None:
    chain = AuditChain(KEY)
    entry = Entry(seq=1, at=T0, actor_id="u", action="a")
    assert chain.link_after(entry, None) == chain.link(entry, GENESIS)
    assert bytes(32) == GENESIS


def test_incremental_verification_from_a_checkpoint() -> None:
    chain = AuditChain(KEY)
    log = chained(chain, random_entries(random.Random(2), 40))
    start = chain.checkpoint(log[24])
    end = chain.checkpoint(log[-1])
    result = chain.verify(log[25:], start_after=start, checkpoint=end)
    assert result.ok and result.checked == 15
    assert chain.verify([], start_after=end, checkpoint=end).ok
    assert chain.verify(log[26:], start_after=start).problem == "sequence_gap"
    assert chain.verify(log[25:], checkpoint=end).problem == "sequence_gap"  # not from seq 1
    assert chain.verify(log[25:], start_after=start, checkpoint=start).ok
    early = chain.checkpoint(log[3])
    result = chain.verify(log[25:], start_after=start, checkpoint=early)
    assert result.problem == "checkpoint_out_of_range"


def test_link_after_and_link_all_check_sequence() -> None:
    chain = AuditChain(KEY)
    first = Entry(seq=1, at=T0, actor_id="u", action="a")
    first = attrs.evolve(first, chain=chain.link_after(first, None))
    with pytest.raises(ValueError, match="seq must be 2"):
        chain.link_after(Entry(seq=3, at=T0, actor_id="u", action="a"), first)
    with pytest.raises(ValueError, match="seq must be 1"):
        chain.link_after(Entry(seq=2, at=T0, actor_id="u", action="a"), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        chain.link(Entry(seq=1, at=datetime(2025, 1, 1), actor_id="u", action="a"), GENESIS)
    with pytest.raises(ValueError, match="seq"):
        chain.link(Entry(seq=0, at=T0, actor_id="u", action="a"), GENESIS)
    with pytest.raises(TypeError):
        chain.link(first, "genesis")  # type: ignore[arg-type]


def test_equal_instants_in_other_zones_chain_equally() -> None:
    chain = AuditChain(KEY)
    utc = Entry(seq=1, at=T0, actor_id="u", action="a")
    shanghai = attrs.evolve(utc, at=T0.astimezone(timezone(timedelta(hours=8))))
    assert chain.link(utc, GENESIS) == chain.link(shanghai, GENESIS)


def test_none_and_empty_are_distinct() -> None:
    chain = AuditChain(KEY)
    base = Entry(seq=1, at=T0, actor_id="u", action="a")
    values = {
        chain.link(base, GENESIS),
        chain.link(attrs.evolve(base, customer_id=""), GENESIS),
        chain.link(attrs.evolve(base, reason=""), GENESIS),
        chain.link(attrs.evolve(base, fields=("",)), GENESIS),
        chain.link(attrs.evolve(base, fields=("a", "b")), GENESIS),
        chain.link(attrs.evolve(base, fields=("ab",)), GENESIS),
    }
    assert len(values) == 6


def test_key_validation_and_repr() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AuditChain(b"short")
    with pytest.raises(TypeError):
        AuditChain("key")  # type: ignore[arg-type]
    assert KEY.hex() not in repr(AuditChain(KEY))
    other = AuditChain(bytes(32))
    log = chained(AuditChain(KEY), random_entries(random.Random(3), 5))
    assert other.verify(log).problem == "chain_mismatch"


def test_malformed_entries_are_reported_not_raised() -> None:
    chain = AuditChain(KEY)
    log = chained(chain, random_entries(random.Random(4), 3))
    naive = attrs.evolve(log[1], at=datetime(2025, 1, 1))
    assert chain.verify([log[0], naive, log[2]]).problem == "malformed_entry"
    assert chain.verify([log[0], object()]).problem == "malformed_entry"  # type: ignore[list-item]
    no_chain = attrs.evolve(log[1], chain=None)  # type: ignore[arg-type]
    result = chain.verify([log[0], no_chain])
    assert (result.problem, result.seq, result.checked) == ("malformed_entry", 2, 1)


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_sign_and_serialise() -> None:
    chain = AuditChain(KEY)
    log = chained(chain, random_entries(random.Random(5), 10))
    checkpoint = chain.checkpoint(log[-1], at=T0 + timedelta(days=1))
    assert checkpoint.seq == 10 and checkpoint.chain == log[-1].chain
    assert chain.verify_checkpoint(checkpoint)
    restored = Checkpoint.from_dict(checkpoint.to_dict())
    assert restored == checkpoint and chain.verify_checkpoint(restored)
    assert checkpoint.signature.hex() not in repr(checkpoint)
    for forged in (
        attrs.evolve(checkpoint, seq=9),
        attrs.evolve(checkpoint, chain=log[-2].chain),
        attrs.evolve(checkpoint, at=checkpoint.at + timedelta(microseconds=1)),
        attrs.evolve(checkpoint, signature=bytes(32)),
    ):
        assert not chain.verify_checkpoint(forged)
        assert chain.verify(log, checkpoint=forged).problem == "checkpoint_signature"
        assert chain.verify(log, start_after=forged).problem == "checkpoint_signature"
    assert not AuditChain(bytes(32)).verify_checkpoint(checkpoint)
    assert not chain.verify_checkpoint("checkpoint")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="malformed checkpoint"):
        Checkpoint.from_dict({"seq": 1})
    with pytest.raises(ValueError, match="malformed checkpoint"):
        Checkpoint.from_dict({**checkpoint.to_dict(), "at": "2025-01-01T00:00:00"})


def test_rewritten_history_under_the_key_fails_the_checkpoint() -> None:
    chain = AuditChain(KEY)
    original = chained(chain, random_entries(random.Random(6), 10))
    checkpoint = chain.checkpoint(original[-1])
    rewritten = chained(chain, random_entries(random.Random(7), 12))
    result = chain.verify(rewritten, checkpoint=checkpoint)
    assert (result.ok, result.problem, result.seq) == (False, "checkpoint_mismatch", 10)


# ---------------------------------------------------------------------------- tampering

Tamper = Callable[[random.Random, list[Entry]], tuple[str, list[Entry]]]


def _change_char(rng: random.Random, text: str) -> str:
    if not text:
        return rng.choice("xyz")
    index = rng.randrange(len(text))
    replacement = rng.choice(
        [c for c in "abcdefghijklmnopqrstuvwxyz0123456789.-" if c != text[index]]
    )
    return text[:index] + replacement + text[index + 1 :]


def modify_field(rng: random.Random, log: list[Entry]) -> tuple[str, list[Entry]]:
    index = rng.randrange(len(log))
    entry = log[index]
    name = rng.choice(
        ["seq", "at", "actor_id", "action", "customer_id", "fields", "reason", "outcome", "chain"]
    )
    value: Any
    if name == "seq":
        value = entry.seq + rng.choice([-2, -1, 1, 2, 1000])
    elif name == "at":
        value = entry.at + timedelta(microseconds=rng.choice([-1, 1, 999, 1_000_000]))
    elif name in ("customer_id", "reason"):
        current = getattr(entry, name)
        value = "c-x" if current is None else rng.choice([None, _change_char(rng, current)])
    elif name == "fields":
        fields = list(entry.fields)
        if fields and rng.random() < 0.5:
            position = rng.randrange(len(fields))
            fields[position] = _change_char(rng, fields[position])
        elif fields and rng.random() < 0.5:
            fields.pop()
        else:
            fields.append(rng.choice(FIELDS))
        value = tuple(fields)
    elif name == "chain":
        flipped = bytearray(entry.chain)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        value = bytes(flipped)
    else:
        value = _change_char(rng, getattr(entry, name))
    tampered = list(log)
    tampered[index] = attrs.evolve(entry, **{name: value})
    return f"modify {name} of #{index + 1}", tampered


def drop_entry(rng: random.Random, log: list[Entry]) -> tuple[str, list[Entry]]:
    index = rng.randrange(len(log))
    return f"drop #{index + 1}", log[:index] + log[index + 1 :]


def insert_forged(rng: random.Random, log: list[Entry]) -> tuple[str, list[Entry]]:
    index = rng.randrange(len(log) + 1)
    neighbour = log[min(index, len(log) - 1)]
    forged = Entry(
        seq=index + 1,
        at=neighbour.at,
        actor_id="intruder",
        action="customer.read",
        customer_id="c-1",
        chain=rng.choice([rng.randbytes(32), neighbour.chain, log[index - 1].chain]),
    )
    renumber = rng.random() < 0.5
    tail = [attrs.evolve(e, seq=e.seq + 1) for e in log[index:]] if renumber else log[index:]
    return f"insert at #{index + 1} (renumber={renumber})", [*log[:index], forged, *tail]


def swap_adjacent(rng: random.Random, log: list[Entry]) -> tuple[str, list[Entry]]:
    index = rng.randrange(len(log) - 1)
    tampered = list(log)
    first, second = tampered[index], tampered[index + 1]
    if rng.random() < 0.5:  # also swap the sequence numbers so the order looks right
        first, second = attrs.evolve(first, seq=second.seq), attrs.evolve(second, seq=first.seq)
    tampered[index], tampered[index + 1] = second, first
    return f"swap #{index + 1} and #{index + 2}", tampered


def truncate_tail(rng: random.Random, log: list[Entry]) -> tuple[str, list[Entry]]:
    keep = rng.randrange(len(log))
    return f"truncate to {keep}", log[:keep]


TAMPERINGS: tuple[Tamper, ...] = (
    modify_field,
    drop_entry,
    insert_forged,
    swap_adjacent,
    truncate_tail,
)


def test_one_thousand_random_tamperings_are_all_detected() -> None:
    rng = random.Random(20250301)
    chain = AuditChain(KEY)
    logs = [chained(chain, random_entries(rng, rng.randrange(2, 30))) for _ in range(20)]
    counts: dict[str, int] = {}
    for round_number in range(1000):
        log = logs[round_number % len(logs)]
        checkpoint = chain.checkpoint(log[-1])
        tamper = TAMPERINGS[round_number % len(TAMPERINGS)]
        description, tampered = tamper(rng, log)
        assert tampered != log, description
        result = chain.verify(tampered, checkpoint=checkpoint)
        assert not result.ok, description
        assert result.problem is not None
        counts[tamper.__name__] = counts.get(tamper.__name__, 0) + 1
        # Without a checkpoint only the loss of the newest entries goes unnoticed.
        tail_loss = len(tampered) < len(log) and tampered == log[: len(tampered)]
        assert chain.verify(tampered).ok == tail_loss, description
    assert counts == {t.__name__: 200 for t in TAMPERINGS}


# ------------------------------------------------------------------------- no personal data


def test_chain_depends_only_on_the_audit_attributes() -> None:
    @attrs.frozen(kw_only=True)
    class EntryWithPayload(Entry):
        payload: str = ""

    chain = AuditChain(KEY)
    plain = Entry(seq=1, at=T0, actor_id="u-1", action="customer.update", customer_id="c-1")
    with_pii = EntryWithPayload(
        seq=1,
        at=T0,
        actor_id="u-1",
        action="customer.update",
        customer_id="c-1",
        payload="张三丰 +8613800138000",
    )
    other_pii = attrs.evolve(with_pii, payload="李四 +8613900139000")
    assert chain.link(plain, GENESIS) == chain.link(with_pii, GENESIS)
    assert chain.link(with_pii, GENESIS) == chain.link(other_pii, GENESIS)


def test_erasing_a_customer_leaves_the_chain_verifiable() -> None:
    ring = KeyRing.generate()
    chain = ring.audit_chain()
    data_keys = {f"c-{n}": ring.new_data_key(f"c-{n}") for n in range(5)}
    log = chained(
        chain,
        [
            Entry(seq=n + 1, at=T0, actor_id="u-1", action="customer.create", customer_id=cid)
            for n, cid in enumerate(data_keys)
        ],
    )
    checkpoint = chain.checkpoint(log[-1])
    del data_keys["c-2"]  # crypto-shredding: the data key is destroyed
    erase = Entry(seq=6, at=T0, actor_id="u-1", action="customer.erase", customer_id="c-2")
    log.append(attrs.evolve(erase, chain=chain.link_after(erase, log[-1])))
    assert ring.audit_chain().verify(log, checkpoint=checkpoint).ok


def test_a_queued_entry_tag_covers_every_attribute_but_the_seq() -> None:
    """Entries wait in an audit queue before they have a seq: their tag binds everything else,
    under the chain key, and cannot pass for a chain value."""
    chain = AuditChain(KEY)
    entry = random_entries(random.Random(7), 1)[0]
    tag = chain.tag(entry)
    assert chain.check_tag(entry, tag)
    assert chain.check_tag(attrs.evolve(entry, seq=99), tag), "the seq is not known yet"
    for change in (
        {"actor_id": "u-other"},
        {"action": "audit.forged"},
        {"customer_id": "c-other"},
        {"fields": ("forged",)},
        {"reason": "forged"},
        {"outcome": "forged"},
        {"at": entry.at + timedelta(microseconds=1)},
    ):
        assert not chain.check_tag(attrs.evolve(entry, **change), tag), change
    assert not AuditChain(bytes(32)).check_tag(entry, tag), "another key"
    assert tag != chain.link(attrs.evolve(entry, seq=1), GENESIS), "not a chain value"
    assert not chain.check_tag(entry, b"short")
    assert not chain.check_tag(attrs.evolve(entry, at=datetime(2025, 1, 1)), tag)  # naive
