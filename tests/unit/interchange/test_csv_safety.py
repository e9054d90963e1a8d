"""CSV files people open in spreadsheets: no live formulas, reversibly, and no raw csv errors.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet. Every CSV custrec writes prefixes such a cell with ``'`` (OWASP's rule), custrec's
CSV reader removes it again, and the pair is a bijection: nothing a customer holds is lost.
Exports and error files written to disk are in
tests/integration/interchange/test_csv_safety_files.py.
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.interchange import (
    CsvSource,
    CsvWriter,
    ReadError,
    escape_cell,
    unescape_cell,
)
from custrec.interchange.csvsafe import FORMULA_PREFIXES

FORMULA_START = tuple(FORMULA_PREFIXES)

# text a file can hold: no lone surrogates (they cannot be encoded as UTF-8)
texts = st.text(st.characters(blacklist_categories=("Cs",)))
risky = st.one_of(
    texts,
    st.builds(lambda a, b: a + b, st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'"]), texts),
    st.builds(
        lambda a, b: "'" + a + b, st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'"]), texts
    ),
)


def assert_no_live_formula(records: list[list[str]]) -> None:
    live = [
        (n, i)
        for n, r in enumerate(records)
        for i, c in enumerate(r)
        if c.startswith(FORMULA_START)
    ]
    assert live == []


# ------------------------------------------------------------------------ the escaping rule


@given(risky)
def test_unescaping_an_escaped_cell_gives_back_the_value(value: str) -> None:
    assert unescape_cell(escape_cell(value)) == value


@given(risky)
def test_no_escaped_cell_starts_with_a_formula_character(value: str) -> None:
    assert not escape_cell(value).startswith(FORMULA_START)


@given(risky)
def test_escaping_touches_only_formulas_and_cells_that_look_escaped(value: str) -> None:
    needs = value.startswith(FORMULA_START) or (
        value.startswith("'") and value[1:2] in {*FORMULA_PREFIXES, "'"}
    )
    assert escape_cell(value) == ("'" + value if needs else value)


@given(st.lists(st.tuples(risky, risky), min_size=1, max_size=5))
def test_escaping_is_injective(pairs: list[tuple[str, str]]) -> None:
    for a, b in pairs:
        assert (escape_cell(a) == escape_cell(b)) == (a == b)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+86 138", "'+86 138"),
        ("-5", "'-5"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("''", "'''"),
        ("'", "'"),
        ("'abc", "'abc"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_the_rule_on_examples(value: str, cell: str) -> None:
    assert escape_cell(value) == cell
    assert unescape_cell(cell) == value


@given(st.lists(st.tuples(risky, risky, risky), min_size=1, max_size=4))
def test_any_value_survives_a_csv_written_and_read_by_custrec(
    rows: list[tuple[str, str, str]],
) -> None:
    stream = io.StringIO(newline="")
    writer = CsvWriter(stream)
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    assert_no_live_formula(list(csv.reader(io.StringIO(stream.getvalue(), newline=""))))
    with CsvSource(io.BytesIO(stream.getvalue().encode("utf-8"))) as source:
        read = [tuple(row.cells.values()) for row in source]
    kept = [row for row in rows if any(cell.strip() for cell in row)]  # blank records skipped
    assert read == kept


def test_the_writer_writes_none_as_blank_and_numbers_as_text() -> None:
    stream = io.StringIO(newline="")
    CsvWriter(stream, delimiter=";").writerow([None, 7, -5, "=x"])
    assert stream.getvalue() == ";7;'-5;'=x\r\n"


def test_a_legacy_cell_starting_with_an_apostrophe_and_a_formula_character_loses_it() -> None:
    """The documented price of the bijection: custrec reads ``'=x`` as ``=x``."""
    data = "名称,备注\n甲,'=x\n乙,'abc\n丙,''\n".encode()
    with CsvSource(io.BytesIO(data)) as source:
        assert [row.cells["备注"] for row in source] == ["=x", "'abc", "'"]


# ------------------------------------------------------------------- the field size limit


def test_a_header_cell_over_the_field_size_limit_is_a_read_error() -> None:
    secret = "机密" * (csv.field_size_limit() // 2 + 1)
    data = f"\n\n名称,{secret}\n张三,1\n".encode()
    with pytest.raises(ReadError) as caught:
        CsvSource(io.BytesIO(data), name="big.csv")
    message = str(caught.value)
    assert "big.csv" in message and "line 3" in message and "field size limit" in message
    assert "机密" not in message


def test_a_data_cell_over_the_field_size_limit_is_a_malformed_row() -> None:
    secret = "机密" * (csv.field_size_limit() // 2 + 1)
    data = f"名称,备注\n张三,a\n李四,{secret}\n王五,c\n".encode()
    with CsvSource(io.BytesIO(data)) as source:
        rows = list(source)
    assert [(r.number, r.cells.get("名称")) for r in rows] == [(1, "张三"), (2, None), (3, "王五")]
    (issue,) = rows[1].problems
    assert issue.code == "row.malformed" and "field size limit" in issue.message
    assert "机密" not in str(issue) and rows[1].raw == ()
