"""Files holding personal data are readable by their owner only (mode 0600), whatever the umask.

Tests run as root, who can read anything: they check the mode bits, not access.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from custrec._files import PRIVATE_MODE, open_private, write_private_text

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A umask that narrows nothing: the files must be private on their own."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_new_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    with open_private(tmp_path / "a.csv", encoding="utf-8-sig", newline="") as stream:
        stream.write("名称\r\n")
    write_private_text(tmp_path / "b.json", "{}\n")
    assert mode(tmp_path / "a.csv") == mode(tmp_path / "b.json") == PRIVATE_MODE == 0o600
    assert (tmp_path / "a.csv").read_bytes() == "\ufeff名称\r\n".encode()


def test_a_narrower_umask_still_gives_an_owner_writable_file(tmp_path: Path) -> None:
    os.umask(0o277)
    write_private_text(tmp_path / "r.json", "{}")
    assert mode(tmp_path / "r.json") == 0o600


def test_an_existing_wide_file_is_narrowed_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text("old contents that are longer\n")
    path.chmod(0o644)
    write_private_text(path, "new\n")
    assert mode(path) == 0o600
    assert path.read_text() == "new\n"


def test_appending_keeps_the_contents_and_narrows_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text("one\n")
    path.chmod(0o664)
    with open_private(path, "a") as stream:
        stream.write("two\n")
    assert (mode(path), path.read_text()) == (0o600, "one\ntwo\n")


def test_exclusive_creation_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    open_private(path, "x").close()
    assert mode(path) == 0o600
    with pytest.raises(FileExistsError):
        open_private(path, "x")


def test_non_regular_files_keep_their_mode(tmp_path: Path) -> None:
    """Never chmod what is not a regular file (a FIFO here; /dev/stdout is the same case)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with open_private(fifo) as stream:
            stream.write("through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert mode(fifo) == 0o644


def test_bad_arguments_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        open_private(tmp_path / "r.txt", "r")
    with pytest.raises(LookupError):
        open_private(tmp_path / "e.txt", encoding="klingon")
    assert list(tmp_path.iterdir()) == []
