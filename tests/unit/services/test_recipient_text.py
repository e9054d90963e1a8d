"""What is entered for a recipient is checked as text: the name, contact and contract are one
line each (they are printed one recipient a line, where a line feed, a terminal escape or a
bidi override would forge or reorder one); the note may hold lines (CRLF taken as LF) and
tabs; the country is an ISO 3166-1 alpha-2 code, taken in upper case. Values an earlier version
stored are read, listed and kept as they are."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, Registry
from custrec.compliance.recipients import entered
from custrec.services._documents import Documents

DPO = Actor(id="dpo", roles={"admin", "compliance"})
GOOD = {"name": "顺丰速运", "contact": "privacy@sf.example", "contract": "DPA-1"}
BREAKS = ["\n", "\r", "\x1b", "\x00", "\x85", "\u2028", "\u2029", "\t", "\x7f", "\u202e", "\u2066"]
BREAKS += ["\u200b", "\ufeff", "\u00ad"]


def register(registry: Registry, **changes: object) -> object:
    fields = {**GOOD, **changes}
    return registry.disclosures.register_recipient("sf-cn", actor=DPO, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["name", "contact", "contract"])
@pytest.mark.parametrize("char", BREAKS)
def test_a_line_break_control_or_format_character_is_refused_in_one_line_fields(
    registry: Registry, field: str, char: str
) -> None:
    with pytest.raises(ValueError, match=field) as caught:
        register(registry, **{field: f"SF{char}Express"})
    assert "Express" not in str(caught.value)  # the value is not repeated
    assert registry.disclosures.recipients(actor=DPO) == []  # nothing registered


@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30))
def test_a_one_line_value_is_accepted_exactly_when_it_has_no_such_character(text: str) -> None:
    import unicodedata

    bad = any(
        unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\u200c\u200d"
        for c in text
    )
    try:
        checked = entered(name=text)
    except ValueError:
        assert bad
    else:
        assert not bad
        assert checked["name"] == text


def test_a_persian_name_with_a_zero_width_non_joiner_is_one_line(registry: Registry) -> None:
    assert entered(name="شرکت\u200cها")["name"] == "شرکت\u200cها"


def test_a_note_may_hold_lines_and_tabs_and_crlf_is_taken_as_lf(registry: Registry) -> None:
    made = register(registry, note="第一行\r\n\tsecond line\n")
    assert made.note == "第一行\n\tsecond line\n"  # type: ignore[attr-defined]
    for char in ("\r", "\x1b", "\x00", "\u2028", "\u202e"):
        with pytest.raises(ValueError, match="note"):
            entered(note=f"a{char}b")


def test_a_country_code_in_lower_case_is_taken_in_upper_case(registry: Registry) -> None:
    assert register(registry, country="de").country == "DE"  # type: ignore[attr-defined]
    again = registry.disclosures.update_recipient("sf-cn", country="de", actor=DPO)
    assert again.version == 1  # the same country: nothing changes, nothing is audited
    for bad in ("Germany", "d", "DEU", "ＤＥ", "d1"):
        with pytest.raises(ValueError, match="alpha-2"):
            registry.disclosures.update_recipient("sf-cn", country=bad, actor=DPO)


def stored_by_an_earlier_version(registry: Registry, **fields: str) -> None:
    """A recipient document as versions before these checks could store it."""
    recipient = register(registry)
    data = {**recipient.to_json(), **fields}  # type: ignore[attr-defined]
    context = registry.disclosures._context  # type: ignore[attr-defined]
    with context.unit() as unit:
        row = Documents.find(unit, "recipient", "sf-cn")
        Documents.replace(unit, row, data, now=context.now())
        unit.commit()


def test_an_update_keeps_what_an_earlier_version_stored_in_other_fields(
    registry: Registry,
) -> None:
    stored_by_an_earlier_version(registry, note="line one\r\nline two\r\n", name="SF\nExpress")
    updated = registry.disclosures.update_recipient("sf-cn", country="DE", actor=DPO)
    assert (updated.note, updated.name) == ("line one\r\nline two\r\n", "SF\nExpress")
    [read] = registry.disclosures.recipients(actor=DPO)
    assert (read.note, read.name, read.country) == (updated.note, updated.name, "DE")


def test_the_command_line_lists_a_recipient_stored_with_a_line_break_on_one_line(
    registry: Registry,
) -> None:
    from custrec.cli._recipients import _one_line

    stored_by_an_earlier_version(registry, name="SF\nExpress\u202e")
    [read] = registry.disclosures.recipients(actor=DPO)
    shown = _one_line(read.name)
    assert shown == "SF\\u000aExpress\\u202e"
    assert "\n" not in shown and io.StringIO(shown).readline() == shown
