"""The index rows of a batch of customers (``_sqlite.schema.packed_index_rows``): each key
packed as :func:`pack_index_key` packs it, in order, whether its token head was seen before
(packed inline) or not, for tokens and for any other text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.backends._sqlite.schema import INDEX_KINDS, pack_index_key, packed_index_rows

HEX = "0123456789abcdef"
kinds = st.sampled_from([*INDEX_KINDS, "id.OTHER", "x", "", "a:b", "k\x00"])
key_ids = st.sampled_from(["k1", "idx-2026.1", "", "bad id", "k" * 65])
digests = st.one_of(
    st.text(HEX, min_size=14, max_size=66),
    st.text(HEX + "ABCDEF g", min_size=14, max_size=66),
    st.sampled_from(["ab" * 16, "AB" * 16, "ab" * 15 + "a", " " + "ab" * 16, "ab" * 33]),
)
tokens = st.builds(lambda k, i, d: f"{k}:{i}:{d}", kinds, key_ids, digests)
keys = st.one_of(tokens, st.text(max_size=40), st.sampled_from(["", ":", "phone:k1:", "a:b"]))


@settings(max_examples=500, deadline=None)
@given(
    batch=st.lists(st.tuples(st.integers(1, 10**9), st.lists(keys, max_size=6)), max_size=5),
    packed_first=st.booleans(),
)
def test_each_key_is_packed_as_pack_index_key_packs_it(
    batch: list[tuple[int, list[str]]], packed_first: bool
) -> None:
    if packed_first:  # heads not seen before take the general path
        rows = packed_index_rows(batch)
        expected = [(pk, pack_index_key(key)) for pk, row_keys in batch for key in row_keys]
    else:  # every head seen: tokens packed inline
        expected = [(pk, pack_index_key(key)) for pk, row_keys in batch for key in row_keys]
        rows = packed_index_rows(batch)
    assert rows == expected
