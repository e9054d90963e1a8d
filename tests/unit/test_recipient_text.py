"""A recipient's name, contact and contract are one line each (they are printed one recipient
a line, where a line feed or a terminal escape would forge another); its note may hold several
lines; its country is an ISO 3166-1 alpha-2 code, taken in upper case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.compliance.recipients import Recipient

WHEN = datetime(2026, 3, 1, tzinfo=UTC)
GOOD = {"id": "sf-cn", "name": "顺丰速运", "contact": "privacy@sf.example", "contract": "DPA-1"}
BREAKS = ["\n", "\r", "\x1b", "\x00", "\x85", "\u2028", "\u2029", "\t", "\x7f"]


def recipient(**changes: object) -> Recipient:
    return Recipient(**{**GOOD, "registered_at": WHEN, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["name", "contact", "contract"])
@pytest.mark.parametrize("char", BREAKS)
def test_a_line_break_or_control_character_is_refused_in_one_line_fields(
    field: str, char: str
) -> None:
    with pytest.raises(ValueError, match=field) as caught:
        recipient(**{field: f"SF{char}Express"})
    assert "Express" not in str(caught.value)  # the value is not repeated


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30))
def test_a_one_line_field_is_accepted_exactly_when_it_has_no_control_character(text: str) -> None:
    control = any(c in "\x85\u2028\u2029" or ord(c) < 32 or 127 <= ord(c) < 160 for c in text)
    blank = not text.strip()
    try:
        made = recipient(name=text)
    except ValueError:
        assert control or blank
    else:
        assert not control and not blank
        assert made.name == text


def test_a_note_may_hold_lines_and_tabs_but_no_other_control_character() -> None:
    assert recipient(note="第一行\n\tsecond line").note == "第一行\n\tsecond line"
    for char in ("\r", "\x1b", "\x00", "\u2028"):
        with pytest.raises(ValueError, match="note"):
            recipient(note=f"a{char}b")


def test_a_country_code_in_lower_case_is_taken_in_upper_case() -> None:
    assert recipient(country="de").country == "DE"
    assert recipient(country="CN").country == "CN"
    for bad in ("Germany", "d", "DEU", "ＤＥ", "d1"):
        with pytest.raises(ValueError, match="alpha-2"):
            recipient(country=bad)


def test_a_control_character_stored_by_an_earlier_version_reads_as_a_replacement() -> None:
    stored = {**recipient(note="a\nb").to_json(), "name": "SF\nExpress", "note": "a\n\x1bb"}
    read = Recipient.from_json(stored)
    assert (read.name, read.note) == ("SF\ufffdExpress", "a\n\ufffdb")
