"""Time-ordered ids and the text helpers."""

from __future__ import annotations

import os
import time
import unicodedata
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec._text import _DASH_CHARACTERS, _DASHES, clean, compact, nfkc
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


class _Text(str):
    """A str subclass, as an application may pass."""


# A dash-like character nfkc folds, or a compatibility form NFKC turns into one or into a plain
# hyphen (full-width and small hyphen-minus), or none.
_DASH = st.sampled_from([*_DASH_CHARACTERS, "\uff0d", "\ufe63", ""])


@given(st.text(max_size=6), _DASH, st.text(max_size=6), st.booleans())
def test_nfkc_is_the_normal_form_with_its_dashes_folded(
    before: str, dash: str, after: str, subclass: bool
) -> None:
    """nfkc translates only a text holding a dash-like character (one search for them decides):
    the answer is a plain str equal to NFKC then the translation, for str subclasses too."""
    value = before + dash + after
    result = nfkc(_Text(value) if subclass else value)
    assert result == unicodedata.normalize("NFKC", value).translate(_DASHES)
    assert type(result) is str


@given(st.text())
def test_clean_is_idempotent(value: str) -> None:
    assert clean(clean(value)) == clean(value)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_draws_the_parents_random_bits() -> None:
    new_id()  # the parent has random bits pooled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_id() for _ in range(3)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(write)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = "".join(new_id() for _ in range(3))
    # the last 12 hex digits are random: the same bytes in both would give the same tails
    assert [child[i * 36 + 24 : i * 36 + 36] for i in range(3)] != [
        parent[i * 36 + 24 : i * 36 + 36] for i in range(3)
    ]
