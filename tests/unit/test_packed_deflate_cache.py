"""Packed payloads keep the deflated form of the skeletons they packed last
(``_packed._deflated``): a payload is the same bytes whether its skeleton was deflated before
or not, with each ciphertext's length written as its varint (one byte below 128, more above),
and it unpacks to the skeleton and ciphertexts it was packed from."""

from __future__ import annotations

import zlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.storage import _packed

plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=30),
    st.sampled_from(["CN-RIC", "深圳", "lead", "unverified", "office"]),
)
skeletons = st.dictionaries(
    st.sampled_from(["version", "name", "city", "stage", "kind", "tags", "contacts", "x"]),
    st.recursive(plain, lambda inner: st.lists(inner, max_size=3), max_leaves=8),
    max_size=8,
)
blobs = st.lists(st.binary(max_size=40) | st.binary(min_size=120, max_size=300), max_size=4)


def _packed_afresh(skeleton: dict[str, Any], ciphertexts: list[bytes]) -> bytes:
    """The payload as pack made it with a new compressor for every skeleton."""
    encoded = _packed._ENCODER.encode(skeleton).encode("utf-8")
    deflater = zlib.compressobj(
        6, zlib.DEFLATED, _packed._WBITS, 2, zlib.Z_DEFAULT_STRATEGY, _packed.SKELETON_DICTIONARY
    )
    deflated = deflater.compress(encoded) + deflater.flush()
    flags = _packed.COMPACTED
    if len(deflated) < len(encoded):
        encoded, flags = deflated, flags | _packed.DEFLATED
    parts = [_packed.MAGIC, _packed._varint(1), _packed._varint(flags)]
    parts += [_packed._varint(len(encoded)), encoded]
    for blob in ciphertexts:
        parts += [_packed._varint(len(blob)), blob]
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(st.tuples(skeletons, blobs), min_size=1, max_size=6), repeat=st.booleans())
def test_a_payload_is_the_same_whether_its_skeleton_was_deflated_before(
    batch: list[tuple[dict[str, Any], list[bytes]]], repeat: bool
) -> None:
    if repeat:  # the same skeletons again: each deflated form comes from the cache
        batch = batch + batch
    for skeleton, ciphertexts in batch:
        payload = _packed.pack(1, skeleton, ciphertexts)
        assert payload == _packed_afresh(skeleton, ciphertexts)
        unpacked = _packed.unpack(payload, "a test")
        assert unpacked.skeleton == skeleton
        assert unpacked.ciphertexts == ciphertexts


def test_the_cache_is_emptied_when_full() -> None:
    for i in range(_packed._MAX_DEFLATED + 5):
        _packed.pack(1, {"version": i, "name": "x" * 40}, [])
        assert len(_packed._DEFLATED) <= _packed._MAX_DEFLATED
