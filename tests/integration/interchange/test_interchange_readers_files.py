"""Readers on files: empty, missing and directory paths, reading once, progress by position, JSON
Lines with broken lines, and picking the reader by extension or format."""

from __future__ import annotations

from pathlib import Path

import pytest

from custrec.interchange import CsvSource, JsonlSource, ReadError, open_source


def test_an_empty_file_and_a_missing_file_are_read_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    with pytest.raises(ReadError, match="empty"):
        CsvSource(tmp_path / "empty.csv")
    with pytest.raises(ReadError, match="no such file"):
        open_source(tmp_path / "missing.csv")
    with pytest.raises(ReadError, match="directory"):
        open_source(tmp_path)


def test_a_source_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    with open_source(path) as source:
        list(source)
        with pytest.raises(ReadError, match="already been read"):
            list(source)


def test_size_and_position_support_a_progress_bar(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n" + "1\n" * 10_000)
    with open_source(path) as source:
        assert source.size == path.stat().st_size
        for _ in source:
            pass
        assert source.position == source.size


def test_json_lines_with_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"name": "A"}\n\nnot json\n[1, 2]\n{"name": "B", "tags": ["x"]}\n')
    with open_source(path) as source:
        assert isinstance(source, JsonlSource)
        rows = list(source)
    assert [(r.number, [i.code for i in r.problems]) for r in rows] == [
        (1, []),
        (3, ["row.json"]),
        (4, ["row.not_object"]),
        (5, []),
    ]
    assert rows[3].cells == {"name": "B", "tags": ["x"]}
    assert rows[1].raw == "not json"
    assert source.info.format == "jsonl"


def test_open_source_picks_the_reader_by_extension_or_format(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text('{"a": 1}\n')
    with open_source(path, format="jsonl") as source:
        assert [r.cells for r in source] == [{"a": 1}]
    with open_source(path) as source:
        assert isinstance(source, CsvSource)
    with pytest.raises(ValueError, match="unknown format"):
        open_source(path, format="xlsx")
