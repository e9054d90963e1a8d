"""``custrec keys rotate`` / ``keys reindex``, and the progress bars of the long commands."""

from __future__ import annotations

import io
import json
import shutil
import stat
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore, cli


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def custrec(*argv: str | Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for variable in (
        "CUSTREC_KEY_FILE",
        "CUSTREC_DB",
        "CUSTREC_MASTER_KEYS",
        "CUSTREC_INDEX_KEYS",
        "CUSTREC_AUDIT_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUSTREC_ACTOR", "tester")
    monkeypatch.chdir(tmp_path)
    keys = tmp_path / "custrec.keys.json"
    assert custrec("keys", "init", keys).code == cli.EXIT_OK
    db = tmp_path / "customers.sqlite"
    store = SQLiteStore(db)
    registry = Registry(store, keyring=KeyRing.from_file(keys))
    ops = Actor(id="ops", roles={"admin"})
    for n in range(7):
        phones = [f"1380013800{n}"]
        registry.customers.intake(
            {"kind": "individual", "name": f"客户{n}", "contacts": [{"phones": phones}]}, actor=ops
        )
    store.close()
    return {"dir": tmp_path, "keys": keys, "db": db}


def flags(env: dict[str, Path]) -> list[str | Path]:
    return ["--db", env["db"], "--keys", env["keys"]]


def master_keys(path: Path) -> tuple[str, list[str]]:
    document = json.loads(path.read_text())
    return document["current"], sorted(document["keys"])


def test_rotate_adds_a_master_key_and_rewraps_every_data_key(env: dict[str, Path]) -> None:
    before = env["dir"] / "before.keys.json"
    shutil.copy(env["keys"], before)
    result = custrec("keys", "rotate", "--reason", "yearly", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert "added master key k2" in result.out and "re-wrapped 7 data keys under k2" in result.out
    assert "back the key file up again" in result.out
    assert master_keys(env["keys"]) == ("k2", ["k1", "k2"])
    assert stat.S_IMODE(env["keys"].stat().st_mode) == 0o600
    assert custrec("quality", *flags(env)).code == cli.EXIT_OK
    stale = custrec("quality", "--db", env["db"], "--keys", before)
    assert stale.code == cli.EXIT_CONFIG and "'k2'" in stale.err
    again = custrec("keys", "rotate", "--master-id", "2027", *flags(env))
    assert again.code == cli.EXIT_OK and master_keys(env["keys"]) == ("2027", ["2027", "k1", "k2"])
    finish = custrec("keys", "rotate", "--rewrap-only", *flags(env))
    assert finish.code == cli.EXIT_OK and "re-wrapped 0 data keys under 2027; 7" in finish.out


def test_rotate_refusals_leave_the_key_file_alone(env: dict[str, Path]) -> None:
    original = env["keys"].read_bytes()
    taken = custrec("keys", "rotate", "--master-id", "k1", *flags(env))
    assert taken.code == cli.EXIT_USAGE and "k1" in taken.err
    both = custrec("keys", "rotate", "--master-id", "k9", "--rewrap-only", *flags(env))
    assert both.code == cli.EXIT_USAGE
    other = env["dir"] / "other.keys.json"
    custrec("keys", "init", other)
    wrong = custrec("keys", "rotate", "--db", env["db"], "--keys", other)
    assert wrong.code == cli.EXIT_CONFIG and master_keys(other) == ("k1", ["k1"])
    missing = custrec("keys", "rotate", "--db", env["dir"] / "none.sqlite", "--keys", env["keys"])
    assert missing.code == cli.EXIT_CONFIG and "no database" in missing.err
    env["keys"].chmod(0o644)
    loose = custrec("keys", "rotate", *flags(env))
    assert loose.code == cli.EXIT_CONFIG and "chmod 600" in loose.err
    env["keys"].chmod(0o600)
    assert env["keys"].read_bytes() == original


def test_rotate_with_keys_from_the_environment(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.loads(env["keys"].read_text())
    monkeypatch.setenv("CUSTREC_MASTER_KEYS", f"k1:{data['keys']['k1']}")
    monkeypatch.setenv("CUSTREC_INDEX_KEYS", f"i1:{data['index_keys']['i1']}")
    monkeypatch.setenv("CUSTREC_AUDIT_KEY", data["audit_key"])
    refused = custrec("keys", "rotate", "--db", env["db"])
    assert refused.code == cli.EXIT_CONFIG and "--rewrap-only" in refused.err
    done = custrec("keys", "rotate", "--rewrap-only", "--db", env["db"])
    assert done.code == cli.EXIT_OK and "under k1; 7 were already" in done.out


def test_reindex(env: dict[str, Path]) -> None:
    result = custrec("keys", "reindex", "--reason", "new settings", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert "re-indexed 0 customers" in result.out


@pytest.mark.parametrize(
    ("command", "label"),
    [
        (["keys", "rotate"], "re-wrapping: 7 keys"),
        (["keys", "reindex"], "re-indexing: 7 customers"),
        (["quality"], "assessing: 7 customers"),
        (["duplicates"], "clustering: 7 customers"),
        (["export", "out.csv"], "exporting: 7 rows"),
    ],
)
def test_long_commands_show_progress_with_a_total_on_request(
    env: dict[str, Path], command: list[str], label: str
) -> None:
    shown = custrec(*command, "--progress", *flags(env))
    assert shown.code == cli.EXIT_OK, shown.err
    assert label in shown.err and "100%" in shown.err
    quiet = custrec(*command, "--no-progress", *flags(env))
    assert quiet.err == ""
    by_default = custrec(*command, *flags(env))  # stderr is no terminal here
    assert by_default.err == ""


def test_grade_and_retention_show_progress(env: dict[str, Path]) -> None:
    graded = custrec("grade", "--policy", "churn", "--progress", *flags(env))
    assert graded.code == cli.EXIT_OK and "grading: 7 customers" in graded.err
    planned = custrec("retention", "--progress", *flags(env))
    assert planned.code == cli.EXIT_OK and "planning: 7 customers" in planned.err
