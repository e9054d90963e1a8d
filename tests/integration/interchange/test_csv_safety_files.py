"""CSV files custrec writes to disk hold no live formulas, reversibly: exports (masked or not) and
the error files of an import, which read back to the cells of the source.

The escaping rule itself, and CSV in memory, are in tests/unit/interchange/test_csv_safety.py.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import attrs
from hypothesis import given
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import (
    ErrorFile,
    ImportMapping,
    SourceRow,
    export_customers,
    open_source,
    plan_import,
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
