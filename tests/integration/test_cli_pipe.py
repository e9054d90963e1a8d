"""A reader that closes the pipe early (``custrec ... | head``) stops the command quietly."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from custrec.cli import main


class ClosedPipe(io.StringIO):
    """Standard output whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_output_pipe_exits_141_without_a_message(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["keys", "init", str(tmp_path / "k.json")], stdout=ClosedPipe(), stderr=err)
    assert code == 141
    assert err.getvalue() == ""
    assert (tmp_path / "k.json").exists()  # the work was done before the output failed


def test_the_command_piped_into_a_reader_that_stops_prints_no_traceback(tmp_path: Path) -> None:
    # The child writes one line after another to a pipe whose reader closes it at once.
    script = (
        "import sys\n"
        "from custrec.cli import main\n"
        "import custrec.cli._manage as manage\n"
        "def many(stream, text=''):\n"
        "    for _ in range(100_000):\n"
        "        stream.write(text + '\\n')\n"
        "manage._print = many\n"
        f"sys.exit(main(['keys', 'init', {str(tmp_path / 'k.json')!r}]))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(10)
    child.stdout.close()  # the reader goes away, as `head` does
    stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_every_reason_option_refuses_a_blank_reason_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Parsed before any database is opened: exit 2 with the option named, never a traceback.
    for command in (
        ["keys", "rotate"],
        ["keys", "reindex"],
        ["erase", "some-id"],
        ["merge", "a", "b"],
        ["restore", str(tmp_path / "backup.sqlite")],
    ):
        assert main([*command, "--reason", "  ", "--db", str(tmp_path / "x.sqlite")]) == 2
        err = capsys.readouterr().err
        assert "--reason" in err and "must not be blank" in err, command


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_export_to_a_full_device_names_the_file_it_could_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the import's error file goes to the current directory
    db, keys = tmp_path / "c.sqlite", tmp_path / "k.json"
    assert main(["keys", "init", str(keys)], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    source = tmp_path / "in.csv"
    source.write_text(
        "name,kind,contacts[0].phones[0]\n张三,individual,13800138000\n", encoding="utf-8"
    )
    base = ["--db", str(db), "--keys", str(keys)]
    assert main(["import", str(source), *base], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    err = io.StringIO()
    code = main(
        ["export", "/dev/full", "--format", "jsonl", *base], stdout=io.StringIO(), stderr=err
    )
    assert code == 3
    assert "No space left on device" in err.getvalue()
    assert "/dev/full" in err.getvalue()


def test_an_export_with_empty_fields_says_how_to_send_the_whole_record(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(
        [
            "export",
            str(tmp_path / "out.jsonl"),
            "--disclose-to",
            "sf",
            "--purpose",
            "third_party",
            "--fields",
            " , ",
            "--unmask",
            "--db",
            str(tmp_path / "none.sqlite"),
        ],
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2
    assert "leave --fields out" in err.getvalue() and "None" not in err.getvalue()
    assert not (tmp_path / "out.jsonl").exists()
