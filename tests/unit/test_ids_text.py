"""Time-ordered ids and the text helpers."""

from __future__ import annotations

import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from custrec._text import clean, compact, nfkc
from custrec.model.ids import id_timestamp_ms, is_valid_id, new_id


def test_ids_are_uuid7_strictly_increasing_even_in_one_millisecond() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids[:10])


def test_id_timestamp_is_close_to_now() -> None:
    assert abs(id_timestamp_ms(new_id()) - time.time() * 1000) < 5000


@given(st.one_of(st.none(), st.integers(), st.text(), st.binary()))
def test_is_valid_id_never_raises(value: object) -> None:
    assert is_valid_id(value) in (True, False)


def test_full_width_text_is_folded() -> None:
    assert nfkc("１３８－００１３") == "138-0013"
    assert clean("  张　三  ") == "张 三"
    assert compact("＋８６ １３８-００１３", strip=" -") == "+86138" + "0013"


@given(st.text())
def test_clean_is_idempotent(value: str) -> None:
    assert clean(clean(value)) == clean(value)
