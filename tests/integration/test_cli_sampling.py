"""``custrec sample``: a post-import sampling batch from the command line, after ``custrec
import`` of the bundled legacy file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore, cli
from custrec.compliance.sampling import import_prefix, sampling_rank

EXAMPLES = Path(__file__).parents[2] / "examples" / "data"
CHECKER = Actor(id="qa", roles={"compliance"})


def custrec(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for variable in ("CUSTREC_KEY_FILE", "CUSTREC_DB", "CUSTREC_MASTER_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUSTREC_ACTOR", "qa")
    monkeypatch.chdir(tmp_path)  # the import writes its error file here
    keys, db = tmp_path / "custrec.keys.json", tmp_path / "customers.sqlite"
    assert custrec("keys", "init", keys)[0] == cli.EXIT_OK
    code, _, _ = custrec(
        "import",
        EXAMPLES / "legacy_customers.csv",
        "--db",
        db,
        "--mapping",
        EXAMPLES / "legacy_mapping.toml",
        "--keys",
        keys,
        "--import-id",
        "legacy-2025",
        "--exit-zero",
        "--no-progress",
    )
    assert code == cli.EXIT_OK
    return {"keys": keys, "db": db}


def test_sample_stores_a_batch_and_prints_the_ids(env: dict[str, Path]) -> None:
    flags = ["--db", env["db"], "--keys", env["keys"]]
    code, out, err = custrec(
        "sample", "legacy-2025", "--share", "0.5", "--seed", "7", "--json", *flags
    )
    assert (code, err) == (cli.EXIT_OK, "")
    printed = json.loads(out)
    assert (printed["share"], printed["seed"], printed["population"]) == (0.5, 7, 8)
    assert (
        printed["ids"] == sorted(printed["ids"]) and len(printed["ids"]) == printed["sample_size"]
    )
    assert all(sampling_rank(7, c) < 2**63 for c in printed["ids"])
    assert all(c.startswith(import_prefix("legacy-2025")) for c in printed["ids"])
    code, text, _ = custrec(
        "sample", "legacy-2025", "--share", "0.5", "--seed", "7", "--fields", "name,stage", *flags
    )
    assert code == cli.EXIT_OK
    assert "of 8 customers (share 50%, seed 7)" in text and "fields to check: name, stage" in text
    assert [line.strip() for line in text.splitlines()[2:]] == printed["ids"]

    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        batches = registry.sampling.batches(import_id="legacy-2025", actor=CHECKER)
        assert [b.fields for b in batches][1] == ("name", "stage")
        assert [b.created_by for b in batches] == ["qa", "qa"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["no-such-import"], cli.EXIT_CONFIG, "no stored customer was created by import"),
        (["legacy-2025", "--share", "0"], cli.EXIT_USAGE, "share must be above 0"),
        (["legacy-2025", "--fields", "nope"], cli.EXIT_USAGE, "unknown customer field path"),
        (["legacy-2025", "--share", "2"], cli.EXIT_USAGE, ""),
    ],
)
def test_sample_refuses_bad_input(
    env: dict[str, Path], argv: list[str], code: int, message: str
) -> None:
    result = custrec("sample", *argv, "--db", env["db"], "--keys", env["keys"])
    assert result[0] == code and message in result[2]
    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        assert registry.sampling.batches(actor=CHECKER) == []
    finally:
        store.close()
