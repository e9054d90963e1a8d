"""Mapping files: JSON and TOML load, and a broken, missing or non-UTF-8 file is a MappingError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custrec.interchange import MappingError, load_mapping


def test_loading_mapping_files(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"columns": {"名称": "name"}}), encoding="utf-8")
    assert load_mapping(tmp_path / "m.json").name == "m"
    (tmp_path / "bad.toml").write_text("columns = [", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(tmp_path / "bad.toml")
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "missing.toml")
    (tmp_path / "gbk.toml").write_bytes('name = "中文"'.encode("gbk"))
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(tmp_path / "gbk.toml")
