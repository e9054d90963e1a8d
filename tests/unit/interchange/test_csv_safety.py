"""CSV files people open in spreadsheets: no live formulas, reversibly, and no raw csv errors.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet. Every CSV custrec writes prefixes such a cell with ``'`` (OWASP's rule), custrec's
CSV reader removes it again, and the pair is a bijection: nothing a customer holds is lost.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import (
    CsvSource,
    CsvWriter,
    ErrorFile,
    ImportMapping,
    ReadError,
    SourceRow,
    escape_cell,
    export_customers,
    open_source,
    plan_import,
    unescape_cell,
)
from custrec.interchange.csvsafe import FORMULA_PREFIXES
from custrec.model.records import Customer

OPERATOR = Actor(id="ops", roles={"admin", "unmask", "auditor"})
EXPORTER = Actor(id="exporter", roles={"admin", "export", "unmask"})
VIEWER = Actor(id="viewer", roles={"admin", "export"})
DANGEROUS = ("=1+1", "+86 138 0013 8000", "-5", "@x", "\tx", "'=x")
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


def raw_cells(path: Path) -> list[list[str]]:
    """The file's records as a spreadsheet sees them: no unescaping."""
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


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


# ------------------------------------------------------------------------------- exports


def dangerous_registry() -> Registry:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    for n, value in enumerate(DANGEROUS):
        registry.customers.intake(
            {
                "kind": "individual",
                "name": value,
                "notes": value,
                "industry": value,
                "tags": [value, f"t{n}"],
                "contacts": [{"name": value, "emails": [f"u{n}@example.com"]}],
            },
            actor=OPERATOR,
        )
    return registry


def everything(registry: Registry) -> dict[str, Customer]:
    return {
        c.id: attrs.evolve(c, version=0, updated_at=None)
        for batch in registry.customers.batches(actor=OPERATOR)
        for c in batch
    }


def test_csv_exports_hold_no_live_formula_and_round_trip(tmp_path: Path) -> None:
    registry = dangerous_registry()
    path = tmp_path / "customers.csv"
    assert export_customers(registry, path, actor=EXPORTER, format="csv").exported == 6

    records = raw_cells(path)
    assert_no_live_formula(records)
    names = {row[records[0].index("name")] for row in records[1:]}
    assert {"'=1+1", "'+86 138 0013 8000", "'-5", "'@x", "''=x"} <= names

    fresh = Registry(MemoryStore(), keyring=KeyRing.generate())
    with open_source(path) as rows:
        report = plan_import(rows, None, fresh, actor=OPERATOR, import_id="back", dry_run=False)
    assert [i for i in report.issues if i.severity.value == "error"] == []
    assert everything(fresh) == everything(registry)
    assert {c.name for c in everything(fresh).values()} >= {"=1+1", "'=x", "-5", "@x"}


def test_masked_csv_exports_hold_no_live_formula(tmp_path: Path) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    registry.customers.intake(
        {
            "kind": "individual",
            "name": '=HYPERLINK("http://evil.example","x")',
            "contacts": [{"name": "@SUM(A1)", "emails": ["a@example.com"]}],
        },
        actor=OPERATOR,
    )
    path = tmp_path / "masked.csv"
    assert export_customers(registry, path, actor=VIEWER, format="csv").masked == 1
    records = raw_cells(path)
    assert_no_live_formula(records)
    assert records[1][records[0].index("name")].startswith("'=")


# ---------------------------------------------------------------------------- error files

LEGACY_MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "姓名": "name",
            "手机": "contacts[0].phones[0]",
            "行业": "industry",
            "备注": "notes",
            "标签": "tags",
        },
    }
)


def legacy_file(path: Path) -> None:
    """A legacy export with live formulas in its cells, every row with a bad phone."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)  # a plain writer: what other systems produce
        writer.writerow(["姓名", "手机", "行业", "备注", "标签"])
        for value in DANGEROUS:
            if value.startswith("'"):
                continue  # a legacy "'=" loses its apostrophe (tested above)
            writer.writerow([value, "12345", value, value, value])
        writer.writerow(["=cmd|' /C calc'!A0", "-1", "@SUM(A1)", "\rx", "+1"])


def test_error_files_hold_no_live_formula_and_restore_the_cells(tmp_path: Path) -> None:
    source, errors = tmp_path / "legacy.csv", tmp_path / "errors.csv"
    legacy_file(source)
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    with open_source(source) as rows, ErrorFile.for_source(errors, rows.info) as error_file:
        first = plan_import(
            rows, LEGACY_MAPPING, registry, actor=OPERATOR, import_id="x", error_file=error_file
        )
    assert error_file.rows == 6

    assert_no_live_formula(raw_cells(errors))
    with open_source(source) as rows:
        original = [dict(row.cells) for row in rows]
    with open_source(errors) as rows:
        fed_back = [{k: v for k, v in row.cells.items() if not k.startswith("_")} for row in rows]
    assert fed_back == original

    with open_source(errors) as rows:
        again = plan_import(rows, LEGACY_MAPPING, registry, actor=OPERATOR, import_id="x")
    assert again.columns.unmapped == ()
    assert [(i.row, i.column, i.code, i.value) for i in again.issues] == [
        (i.row, i.column, i.code, i.value) for i in first.issues
    ]


@given(st.lists(st.tuples(risky, risky), min_size=1, max_size=4))
def test_error_files_give_back_every_cell(records: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "errors.csv"
        with ErrorFile(path, headers=("a", "b")) as error_file:
            for n, record in enumerate(records, start=1):
                error_file.write(SourceRow(number=n, cells={}, raw=record), [])
        assert_no_live_formula(raw_cells(path))
        with open_source(path) as source:
            read = {int(row.cells["_row"]): (row.cells["a"], row.cells["b"]) for row in source}
    assert read == dict(enumerate(records, start=1))


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
