"""The error file keeps the source's encoding and line ends, holds the rows skipped as
duplicates in the file, and feeds back once fixed (issue 22)."""

from __future__ import annotations

import codecs
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ErrorFile, ImportMapping, open_source, plan_import
from custrec.interchange.readers import LINE_ENDS, SourceRow, detect_line_end

IMPORTER = Actor(id="importer", roles={"admin"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
        },
    }
)
ROWS = [
    ("张三", "13800138000", "zs@example.cn"),
    ("李四", "12345", ""),  # rejected: not a phone
    ("张三（重复）", "13800138000", ""),  # a duplicate of row 1 in the file
    ("王五", "13900139000", ""),
]


def csv_bytes(encoding: str, line_end: str) -> bytes:
    eol = LINE_ENDS[line_end]
    lines = ["名称,手机,邮箱", *(",".join(row) for row in ROWS)]
    return "".join(line + eol for line in lines).encode(encoding)


def run(registry: Registry, source: Path, errors: Path, import_id: str = "t1") -> Any:
    with open_source(source) as rows, ErrorFile.for_source(errors, rows.info) as error_file:
        return plan_import(
            rows,
            MAPPING,
            registry,
            actor=IMPORTER,
            import_id=import_id,
            dry_run=False,
            error_file=error_file,
        )


def counts(report: Any) -> dict[str, int]:
    return {outcome.value: n for outcome, n in report.counts.items() if n}


@pytest.mark.parametrize(
    ("encoding", "line_end", "bom"),
    [("gb18030", "CRLF", b""), ("utf-8-sig", "LF", codecs.BOM_UTF8), ("utf-8", "CR", b"")],
)
def test_csv_error_file_keeps_encoding_and_line_ends(
    tmp_path: Path, encoding: str, line_end: str, bom: bytes
) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    source = tmp_path / "source.csv"
    source.write_bytes(csv_bytes(encoding, line_end))
    errors = tmp_path / "errors.csv"

    report = run(registry, source, errors)

    assert counts(report) == {"created": 2, "rejected": 1, "duplicate_in_file": 1}
    assert (report.error_encoding, report.error_line_end, report.error_note) == (
        encoding,
        line_end,
        None,
    )
    assert report.source.line_end == line_end
    raw = errors.read_bytes()
    assert raw.startswith(bom) and (bom or not raw.startswith(codecs.BOM_UTF8))
    text = raw.decode(encoding)
    eol = LINE_ENDS[line_end]
    assert text.endswith(eol) and text.count(eol) == 3
    if line_end != "CRLF":
        assert "\r\n" not in text
    lines = text.split(eol)[:-1]
    assert lines[0] == "_row,_errors,名称,手机,邮箱"
    assert lines[1].startswith("2,手机: phone.invalid")
    assert lines[2] == "3,row: duplicate.in_file (same phone as row 1),张三（重复）,13800138000,"
    assert report.error_rows == 2
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600

    # fix both rows in the error file, in its own encoding and line ends, and feed it back
    fixed = text.replace(",12345,", ",13700137000,").replace(
        ",张三（重复）,13800138000,", ",张三丰,13600136000,"
    )
    fixed_path = tmp_path / "fixed.csv"
    fixed_path.write_bytes(bom + fixed.encode(encoding.removesuffix("-sig")))
    again = run(registry, fixed_path, tmp_path / "errors-2.csv")
    assert counts(again) == {"created": 2}
    assert again.error_rows == 0 and again.source.encoding == encoding
    assert registry.customers.count(actor=IMPORTER) == 4


def test_json_lines_error_file(tmp_path: Path) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    source = tmp_path / "source.jsonl"
    lines = [
        json.dumps(dict(zip(("名称", "手机", "邮箱"), row, strict=True)), ensure_ascii=False)
        for row in ROWS
    ]
    lines.append("not json")
    source.write_bytes("".join(line + "\r\n" for line in lines).encode("utf-8"))
    errors = tmp_path / "errors.jsonl"

    report = run(registry, source, errors)

    assert counts(report) == {"created": 2, "rejected": 2, "duplicate_in_file": 1}
    assert (report.error_encoding, report.error_line_end) == ("utf-8", "CRLF")
    text = errors.read_bytes().decode("utf-8")
    written = [json.loads(line) for line in text.split("\r\n")[:-1]]
    assert [w["_row"] for w in written] == [2, 3, 5]
    assert written[1]["_errors"] == ["row: duplicate.in_file (same phone as row 1)"]
    assert written[1]["名称"] == "张三（重复）"
    assert written[2]["_line"] == "not json"

    written[0]["手机"] = "13700137000"
    written[1]["手机"] = "13600136000"
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(
        "".join(json.dumps(w, ensure_ascii=False) + "\n" for w in written[:2]), encoding="utf-8"
    )
    again = run(registry, fixed, tmp_path / "errors-2.jsonl")
    assert counts(again) == {"created": 2}
    assert registry.customers.count(actor=IMPORTER) == 4


def test_a_value_that_does_not_encode_switches_to_utf8_and_says_so(tmp_path: Path) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    source = tmp_path / "latin.csv"
    # 0x81 is no character in cp1252: read as U+FFFD (a row.encoding issue), which cp1252
    # cannot write back
    source.write_bytes(
        b"Name,Phone\r\nJos\xe9,13800138000\r\nBad\x81,13900139000\r\n"
        + "Zoë,12345\r\n".encode("cp1252")
    )
    errors = tmp_path / "errors.csv"
    with (
        open_source(source, encoding="cp1252") as rows,
        ErrorFile.for_source(errors, rows.info) as error_file,
    ):
        mapping = ImportMapping.from_dict(
            {
                "defaults": {"kind": "individual"},
                "columns": {"Name": "name", "Phone": "contacts[0].phones[0]"},
            }
        )
        report = plan_import(
            rows, mapping, registry, actor=IMPORTER, import_id="t1", error_file=error_file
        )

    assert report.source.encoding == "cp1252"
    assert report.error_encoding == "utf-8-sig" and report.error_line_end == "CRLF"
    assert report.error_note is not None and "cp1252" in report.error_note
    assert "UTF-8" in report.render()
    text = errors.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff_row,_errors,Name,Phone\r\n")  # the header rewritten too
    assert "Bad\ufffd" in text and "Zoë" in text
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600
    assert not (tmp_path / "errors.csv.tmp").exists()


def test_json_lines_escape_what_does_not_encode(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    with ErrorFile(path, format="jsonl", encoding="gb18030") as error_file:
        error_file.write(SourceRow(number=1, cells={}, raw={"名称": "\ud800x"}), ())
        error_file.write(SourceRow(number=2, cells={}, raw={"名称": "张三"}), ())
    lines = path.read_bytes().decode("gb18030").split("\n")
    assert json.loads(lines[0])["名称"] == "\ud800x" and "\\ud800" in lines[0]
    assert "张三" in lines[1] and error_file.note is None and error_file.encoding == "gb18030"


CELL = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=5),
    encoding=st.sampled_from(["gb18030", "utf-8-sig", "utf-8", "utf-16"]),
    line_end=st.sampled_from(sorted(LINE_ENDS)),
)
def test_error_files_read_back_as_written(
    tmp_path: Path, rows: list[tuple[str, str]], encoding: str, line_end: str
) -> None:
    """Whatever the cells, encoding and line ends, the error file reads back through the CSV
    reader with the same cells, encoding and line ends."""
    path = tmp_path / "e.csv"
    with ErrorFile(path, headers=("a", "b"), encoding=encoding, line_end=line_end) as error_file:
        for number, row in enumerate(rows, start=1):
            error_file.write(SourceRow(number=number, cells={}, raw=("x" + row[0], row[1])), ())
    with open_source(path, encoding=encoding) as source:
        back = [(r.cells["a"], r.cells["b"]) for r in source]
        info = source.info
    assert back == [("x" + a, b) for a, b in rows]
    assert info.encoding == encoding and info.line_end == line_end
    assert info.headers == ("_row", "_errors", "a", "b")
    assert path.read_bytes().startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")


@given(
    lines=st.lists(st.text(st.characters(blacklist_characters="\r\n"), max_size=8), min_size=2),
    line_end=st.sampled_from(sorted(LINE_ENDS)),
)
def test_detect_line_end_names_the_first_line_end(lines: list[str], line_end: str) -> None:
    assert detect_line_end(LINE_ENDS[line_end].join([*lines, "z"])) == line_end
    assert detect_line_end(lines[0]) is None
