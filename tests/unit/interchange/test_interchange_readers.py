"""CSV and JSON Lines readers: encodings, delimiters, row numbers and broken records.

Reading files on disk is in tests/integration/interchange/test_interchange_readers_files.py.
"""

from __future__ import annotations

import codecs
import io

import pytest

from custrec.interchange import CsvSource, ReadError
from custrec.interchange.readers import detect_encoding, sniff_delimiter

TEXT = "客户名称,手机\r\n北京星河科技有限公司,１３８００１３８０００\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("utf-16"), "utf-16"),
    ],
)
def test_encodings_are_detected(data: bytes, encoding: str) -> None:
    with CsvSource(io.BytesIO(data)) as source:
        rows = list(source)
    assert source.info.encoding == encoding
    assert source.headers == ("客户名称", "手机")
    assert [(r.number, dict(r.cells)) for r in rows] == [
        (1, {"客户名称": "北京星河科技有限公司", "手机": "１３８００１３８０００"})
    ]


def test_a_declared_gbk_file_is_read_as_gb18030() -> None:
    with CsvSource(io.BytesIO(TEXT.encode("gbk")), encoding="GBK") as source:
        assert source.info.encoding == "gb18030"
        assert next(iter(source)).cells["客户名称"] == "北京星河科技有限公司"


def test_an_unknown_encoding_is_a_read_error() -> None:
    with pytest.raises(ReadError, match="unknown encoding"):
        CsvSource(io.BytesIO(b"a\n1\n"), encoding="klingon")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(delimiter: str) -> None:
    data = delimiter.join(["名称", "手机", "备注"]) + "\n" + delimiter.join(["甲", "1", "x"]) + "\n"
    with CsvSource(io.BytesIO(data.encode())) as source:
        assert source.info.delimiter == delimiter
        assert next(iter(source)).cells == {"名称": "甲", "手机": "1", "备注": "x"}


def test_sniffing_ignores_delimiters_inside_quotes() -> None:
    assert sniff_delimiter('"a;b;c",d,e') == ","
    assert sniff_delimiter("only") == ","


def test_detect_encoding_tolerates_a_sequence_cut_by_the_sample() -> None:
    assert detect_encoding("名称".encode()[:-1]) == "utf-8"


def test_row_numbers_count_data_rows_including_blank_ones() -> None:
    data = 'name,phone\n\nA,1\n\n\nB,2\n"C\nwith a newline",3\n'
    with CsvSource(io.BytesIO(data.encode())) as source:
        rows = list(source)
    assert [(r.number, r.cells["name"]) for r in rows] == [
        (2, "A"),
        (5, "B"),
        (6, "C\nwith a newline"),
    ]


def test_blank_lines_before_the_header_are_skipped() -> None:
    with CsvSource(io.BytesIO(b"\n\nname\nA\n")) as source:
        assert source.headers == ("name",)
        assert [r.number for r in source] == [1]


def test_broken_records_become_issues() -> None:
    data = "a,b,c\n1,2,3,4\n1,2\n1,2,3,,\n"
    with CsvSource(io.BytesIO(data.encode())) as source:
        rows = list(source)
    assert [[i.code for i in r.problems] for r in rows] == [
        ["row.extra_cells"],
        ["row.missing_cells"],
        [],  # trailing empty cells are harmless
    ]
    assert rows[0].raw == ("1", "2", "3", "4")
    assert rows[1].cells == {"a": "1", "b": "2", "c": ""}
    assert rows[1].problems[0].severity.value == "warning"


def test_undecodable_bytes_are_flagged_on_their_cell() -> None:
    data = b"name,city\nA,\xff\xfe\xfd\n"
    with CsvSource(io.BytesIO(data), encoding="utf-8") as source:
        (row,) = list(source)
    assert [(i.column, i.code) for i in row.problems] == [("city", "row.encoding")]


def test_repeated_headers_are_made_unique() -> None:
    with CsvSource(io.BytesIO("电话,电话,,x\n1,2,3,4\n".encode())) as source:
        assert source.headers == ("电话", "电话 (2)", "(column 3)", "x")


@pytest.mark.parametrize(
    ("start", "what"),
    [(b"PK\x03\x04\x14\x00", "ZIP archive"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 file")],
)
@pytest.mark.parametrize("name", ["customers.csv", "customers.jsonl", "客户.xlsx"])
def test_a_spreadsheet_workbook_is_refused_with_how_to_save_it(
    start: bytes, what: str, name: str
) -> None:
    from custrec.interchange import open_source

    with pytest.raises(ReadError, match=f"is an? {what}.*save it as CSV") as caught:
        open_source(io.BytesIO(start + "客户名称".encode() * 20), name=name)
    assert "客户名称" not in str(caught.value)
