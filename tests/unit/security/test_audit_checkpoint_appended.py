"""The head's checkpoint of an entry just appended is the public ``checkpoint`` of that entry:
the registry signs one after every unit that wrote to the log, without checking the entry's
canonical bytes again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
from hypothesis import given
from hypothesis import strategies as st

from custrec.security.audit import AuditChain
from custrec.storage import AuditRecord

zones = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(
    key=st.binary(min_size=32, max_size=64),
    seq=st.integers(1, (1 << 63) - 1),
    at=st.datetimes(
        min_value=datetime(1980, 1, 1), max_value=datetime(2200, 1, 1), timezones=zones
    ),
    actor=st.text(min_size=1, max_size=12),
)
def test_the_checkpoint_of_an_appended_entry_is_the_public_one(
    key: bytes, seq: int, at: datetime, actor: str
) -> None:
    chain = AuditChain(key)
    entry = AuditRecord(seq=seq, at=at, actor_id=actor, action="customer.read", customer_id="c-1")
    linked = attrs.evolve(entry, chain=chain.link(entry, bytes(32)))
    fast = chain._checkpoint_appended(linked)
    assert fast == chain.checkpoint(linked)
    assert fast.at.tzinfo is UTC
    assert chain.verify_checkpoint(fast)
