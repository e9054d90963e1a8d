"""The ``custrec`` command line: every command, and the exit codes scripts rely on."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore, cli
from custrec.consent import CaptureChannel
from custrec.errors import AccessDenied, StorageError
from custrec.model.records import LifecycleStage, RecordState

EXAMPLES = Path(__file__).parents[2] / "examples" / "data"
SOURCE = str(EXAMPLES / "legacy_customers.csv")
MAPPING = str(EXAMPLES / "legacy_mapping.toml")


class Run:
    """The outcome of one in-process ``custrec`` run."""

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
    return {"dir": tmp_path, "keys": keys, "db": tmp_path / "customers.sqlite"}


def imported(env: dict[str, Path], *extra: str | Path) -> Run:
    return custrec(
        "import", SOURCE, "--db", env["db"], "--mapping", MAPPING, "--keys", env["keys"], *extra
    )


def imported_from(env: dict[str, Path], source: str | Path, *extra: str | Path) -> Run:
    return custrec(
        "import", source, "--db", env["db"], "--mapping", MAPPING, "--keys", env["keys"], *extra
    )


def flags(env: dict[str, Path]) -> list[str | Path]:
    return ["--db", env["db"], "--keys", env["keys"]]


def everyone(registry: Registry, actor: Actor) -> list[str]:
    return [c.id for batch in registry.customers.batches(actor=actor) for c in batch]


# ---------------------------------------------------------------------------------- keys


def test_keys_init_writes_a_private_key_file(env: dict[str, Path]) -> None:
    assert stat.S_IMODE(env["keys"].stat().st_mode) == 0o600
    again = custrec("keys", "init", env["keys"])
    assert again.code == cli.EXIT_CONFIG and "exists" in again.err
    kept = custrec("keys", "init", "--exist-ok", env["keys"])
    assert kept.code == cli.EXIT_OK and "kept" in kept.out
    env["keys"].write_text("{}")
    broken = custrec("keys", "init", "--exist-ok", env["keys"])
    assert broken.code == cli.EXIT_CONFIG and "not a usable key file" in broken.err


@pytest.mark.parametrize(
    "command",
    [
        ["import"],
        ["export"],
        ["grade"],
        ["retention"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["quality"],
        ["keys", "init"],
        ["keys", "rotate"],
        ["keys", "reindex"],
        ["import-activities"],
        ["show"],
        ["subject", "export"],
        ["erase"],
        ["merge"],
    ],
)
def test_keys_never_come_from_the_command_line(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, "--help"]) == cli.EXIT_OK
    options = set(re.findall(r"--[a-z][a-z-]*", capsys.readouterr().out))
    assert {o for o in options if "key" in o} <= {"--keys"}


def test_without_keys_the_error_says_how_to_get_them(env: dict[str, Path]) -> None:
    result = custrec("import", SOURCE, "--db", env["db"], "--mapping", MAPPING)
    assert result.code == cli.EXIT_CONFIG
    assert "custrec keys init" in result.err and "CUSTREC_MASTER_KEYS" in result.err
    assert not env["db"].exists()


def test_keys_from_the_environment(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTREC_KEY_FILE", str(env["keys"]))
    monkeypatch.setenv("CUSTREC_DB", str(env["db"]))
    assert custrec("import", SOURCE, "--mapping", MAPPING).code == cli.EXIT_PROBLEMS
    monkeypatch.delenv("CUSTREC_KEY_FILE")
    data = json.loads(env["keys"].read_text())
    monkeypatch.setenv("CUSTREC_MASTER_KEYS", f"k1:{data['keys']['k1']}")
    monkeypatch.setenv("CUSTREC_INDEX_KEYS", f"i1:{data['index_keys']['i1']}")
    monkeypatch.setenv("CUSTREC_AUDIT_KEY", data["audit_key"])
    result = custrec("audit", "verify")
    assert result.code == cli.EXIT_OK, result.err


def test_keys_of_another_database_are_refused(env: dict[str, Path]) -> None:
    assert imported(env).code == cli.EXIT_PROBLEMS
    other = env["dir"] / "other.keys.json"
    custrec("keys", "init", other)
    result = custrec("quality", "--db", env["db"], "--keys", other)
    assert result.code == cli.EXIT_CONFIG
    assert "the keys cannot be used" in result.err
    assert "use the keys the store was created with" in result.err


def test_an_insecure_key_file_is_fixed_with_a_shell_command(env: dict[str, Path]) -> None:
    spaced = env["dir"] / "my keys.json"
    env["keys"].rename(spaced)
    spaced.chmod(0o644)
    for argv in (
        ["quality", "--db", env["db"], "--keys", spaced],
        ["keys", "init", "--exist-ok", spaced],
    ):
        result = custrec(*argv)
        assert result.code == cli.EXIT_CONFIG
        assert "accessible by group or others (mode 0644)" in result.err
        assert f"chmod 600 '{spaced}'" in result.err
        assert "allow_insecure_permissions" not in result.err


# -------------------------------------------------------------------------------- import


def test_the_summary_shows_the_error_file_where_it_was_written(env: dict[str, Path]) -> None:
    (env["dir"] / "out").mkdir()
    result = imported(env, "--errors", Path("out") / "fix-me.csv", "--dry-run")
    assert "error file: out/fix-me.csv (" in result.out
    assert (env["dir"] / "out" / "fix-me.csv").exists()


def test_import_the_messy_sample(env: dict[str, Path]) -> None:
    result = imported(env, "--report", "report.json")
    assert result.code == cli.EXIT_PROBLEMS  # five rows need fixing
    report = json.loads((env["dir"] / "report.json").read_text(encoding="utf-8"))
    assert report["import_id"] == "legacy_customers"
    assert report["counts"]["created"] == 8 and report["counts"]["rejected"] == 5
    assert report["error_file"] == "report.errors.csv"  # beside the report
    errors = (env["dir"] / "report.errors.csv").read_bytes()
    # the source's encoding and line ends; the two rows skipped as duplicates included
    assert errors.decode("gb18030").split("\r\n") == [*errors.decode("gb18030").splitlines(), ""]
    assert len(errors.decode("gb18030").splitlines()) == 1 + 5 + 2
    assert report["error_encoding"] == "gb18030" and report["error_line_end"] == "CRLF"
    assert "created                8" in result.out and "report: report.json" in result.out
    assert "13912345678" not in result.out + json.dumps(report, ensure_ascii=False)

    again = imported(env, "--report", "again.json", "--exit-zero")
    assert again.code == cli.EXIT_OK
    counts = json.loads((env["dir"] / "again.json").read_text(encoding="utf-8"))["counts"]
    assert (counts["created"], counts["already_applied"]) == (0, 8)


def test_import_writes_the_customer_id_of_every_row(env: dict[str, Path]) -> None:
    imported(env, "--report", "report.json")
    report = json.loads((env["dir"] / "report.json").read_text(encoding="utf-8"))
    assert report["ids_file"] == "report.ids.jsonl"
    lines = (env["dir"] / "report.ids.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == report["row_ids"]
    assert len(lines) == report["rows"]
    assert stat.S_IMODE((env["dir"] / "report.ids.jsonl").stat().st_mode) == 0o600
    stored = {r["id"] for r in report["row_ids"] if r["outcome"] == "created"}
    assert len(stored) == report["counts"]["created"]

    result = imported(env, "--ids", "rows.jsonl", "--exit-zero")
    assert "customer id of every row: rows.jsonl" in result.out
    again = [json.loads(line) for line in (env["dir"] / "rows.jsonl").read_text().splitlines()]
    assert {r["id"] for r in again if r["outcome"] == "already_applied"} == stored


def test_import_shows_the_sample_as_masked_records(env: dict[str, Path]) -> None:
    result = imported(env, "--report", "report.json", "--show-sample", "1", "--exit-zero")
    assert result.code == cli.EXIT_OK, result.err
    report = json.loads((env["dir"] / "report.json").read_text(encoding="utf-8"))
    shown = result.out.split("sample for manual checking, masked:\n", 1)[1]
    assert shown.splitlines()[0].split()[:3] == ["id", "kind", "name"]
    assert report["sample"]["ids"][0] in shown and report["sample"]["ids"][1] not in shown
    assert f"... and {len(report['sample']['ids']) - 1} more in the sample" in shown
    assert "13912345678" not in shown and "上海明远信息技术有限公司" not in shown
    assert "*" in shown

    planned = imported(env, "--dry-run", "--show-sample", "--exit-zero")
    assert "none: a dry run stores nothing" in planned.out


def test_a_dry_run_creates_no_database(env: dict[str, Path]) -> None:
    result = imported(env, "--dry-run", "--errors", "fix-me.csv")
    assert result.code == cli.EXIT_PROBLEMS
    assert "planned (dry run)" in result.out
    assert not env["db"].exists()
    assert (env["dir"] / "fix-me.csv").exists()


def test_a_clean_import_exits_zero(env: dict[str, Path]) -> None:
    (env["dir"] / "clean.csv").write_text("名称,手机\n张三,13800138000\n", encoding="utf-8")
    (env["dir"] / "m.toml").write_text(
        '[defaults]\nkind = "individual"\n[columns]\n"名称" = "name"\n'
        '"手机" = "contacts[0].phones[0]"\n',
        encoding="utf-8",
    )
    result = custrec("import", "clean.csv", "--mapping", "m.toml", "--import-id", "c1", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    # a UTF-8 source with LF line ends: so is the error file (a header only)
    assert (env["dir"] / "clean.errors.csv").read_bytes() == "_row,_errors,名称,手机\n".encode()


def test_import_shows_progress_on_request(env: dict[str, Path]) -> None:
    result = imported(env, "--progress", "--batch-size", "4")
    assert "importing: " in result.err and "rows/s" in result.err
    assert "importing" not in imported(env, "--no-progress").err


def test_input_problems_exit_three(env: dict[str, Path]) -> None:
    missing = custrec("import", "nope.csv", "--mapping", MAPPING, *flags(env))
    assert missing.code == cli.EXIT_CONFIG and "no such file" in missing.err
    (env["dir"] / "bad.toml").write_text('[columns."手机"]\nfield = "contacts[0].phonez"\n')
    bad = custrec("import", SOURCE, "--mapping", "bad.toml", *flags(env))
    assert bad.code == cli.EXIT_CONFIG
    assert "columns.手机.field: unknown field 'phonez'" in bad.err
    (env["dir"] / "other.toml").write_text('[columns]\n"x" = "name"\n')
    wrong = custrec("import", SOURCE, "--mapping", "other.toml", *flags(env))
    assert wrong.code == cli.EXIT_CONFIG and "wrong file or mapping" in wrong.err
    unmapped = custrec("import", SOURCE, *flags(env))
    assert unmapped.code == cli.EXIT_CONFIG and "give a mapping" in unmapped.err
    assert not env["db"].exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["import"],
        ["import", "x.csv", "--on-match", "merge"],
        ["import", "x.csv", "--sample-share", "2"],
        ["grade", "--policy", "platinum"],
        ["retention", "--as-of", "someday"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_two(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "usage: custrec" in capsys.readouterr().err


def test_a_bad_import_id_is_a_usage_error(env: dict[str, Path]) -> None:
    result = imported(env, "--import-id", "no spaces please")
    assert result.code == cli.EXIT_USAGE and "--import-id" in result.err


def test_a_missing_database_option_is_a_usage_error(env: dict[str, Path]) -> None:
    result = custrec("quality", "--keys", env["keys"])
    assert result.code == cli.EXIT_USAGE and "--db" in result.err
    assert custrec("quality", *flags(env)).code == cli.EXIT_CONFIG  # no such database


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == cli.EXIT_OK
    assert "custrec" in capsys.readouterr().out
    assert cli.main(["import", "--help"]) == cli.EXIT_OK
    assert "--dry-run" in capsys.readouterr().out


def test_storage_errors_exit_five(env: dict[str, Path]) -> None:
    env["db"].write_bytes(b"this is not a database at all" * 10)
    result = custrec("quality", *flags(env))
    assert result.code == cli.EXIT_STORAGE and "storage" in result.err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AccessDenied("actor x may not read (no_role)"), cli.EXIT_DENIED),
        (StorageError("database is locked"), cli.EXIT_STORAGE),
        (KeyboardInterrupt(), cli.EXIT_INTERRUPTED),
    ],
)
def test_failures_map_to_exit_codes(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int
) -> None:
    def fail(*_: Any) -> int:
        raise error

    monkeypatch.setitem(cli._COMMANDS, "quality", fail)
    result = custrec("quality", *flags(env))
    assert result.code == code and result.err.startswith("custrec: error: ")


def gb18030_sample_as_utf8(env: dict[str, Path]) -> Path:
    path = env["dir"] / "legacy-utf8.csv"
    path.write_text(Path(SOURCE).read_bytes().decode("gb18030"), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("source", "encoding", "read_as", "why", "fits"),
    [
        ("gb18030", "latin-1", "iso8859-1 (given with --encoding)", "looks garbled", "gb18030"),
        ("gb18030", "utf-8", "utf-8 (given with --encoding)", "not valid utf-8", "gb18030"),
        ("utf-8", "gb18030", "gb18030 (given with --encoding)", "not valid gb18030", "utf-8"),
    ],
)
def test_missing_required_columns_name_the_encoding_the_header_was_read_with(
    env: dict[str, Path], source: str, encoding: str, read_as: str, why: str, fits: str
) -> None:
    path = SOURCE if source == "gb18030" else gb18030_sample_as_utf8(env)
    result = imported_from(env, path, "--encoding", encoding)
    assert result.code == cli.EXIT_CONFIG
    assert "this required column is not in the file" in result.err
    assert f"the header was read as {read_as}" in result.err and why in result.err
    assert f"read as {fits} it fits: pass --encoding {fits}" in result.err
    assert not env["db"].exists()


def test_a_wrong_encoding_in_the_mapping_is_named_as_the_mappings(env: dict[str, Path]) -> None:
    mapping = env["dir"] / "latin.toml"
    text = Path(MAPPING).read_text(encoding="utf-8")
    assert 'encoding = "auto"' in text
    mapping.write_text(text.replace('encoding = "auto"', 'encoding = "latin-1"'), "utf-8")
    result = custrec("import", SOURCE, "--mapping", mapping, *flags(env))
    assert result.code == cli.EXIT_CONFIG
    assert "read as iso8859-1 (the mapping's encoding)" in result.err
    assert 'set encoding = "gb18030" in the mapping' in result.err


def test_a_header_that_fits_no_encoding_still_suggests_checking_it(env: dict[str, Path]) -> None:
    (env["dir"] / "other.csv").write_text("客户编号,手机\nL1,13800138000\n", encoding="utf-8")
    result = imported_from(env, env["dir"] / "other.csv")
    assert result.code == cli.EXIT_CONFIG
    assert "the header was read as utf-8 (detected)" in result.err
    assert "check --encoding (or the mapping's encoding)" in result.err


def test_a_header_cell_over_the_csv_field_limit_exits_three(env: dict[str, Path]) -> None:
    secret = "机密" * 70_000
    (env["dir"] / "big.csv").write_text(f"名称,{secret}\n张三,1\n", encoding="utf-8")
    result = imported_from(env, env["dir"] / "big.csv")
    assert result.code == cli.EXIT_CONFIG
    assert "header record (line 1)" in result.err and "field size limit" in result.err
    assert "机密" not in result.err


# ------------------------------------------------------------------ the other commands


def test_export_masked_and_unmasked(env: dict[str, Path]) -> None:
    imported(env)
    masked = custrec("export", "masked.csv", *flags(env))
    assert masked.code == cli.EXIT_OK and "exported 8 customers (masked)" in masked.out
    assert "13912345678" not in (env["dir"] / "masked.csv").read_text(encoding="utf-8-sig")
    clear = custrec("export", "clear.jsonl", "--unmask", "--stage", "active", *flags(env))
    assert clear.code == cli.EXIT_OK and "(unmasked)" in clear.out
    lines = (env["dir"] / "clear.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["data"]["stage"] for line in lines} == {"active"}
    back = custrec("import", "clear.jsonl", "--import-id", "back", *flags(env))
    assert back.code == cli.EXIT_OK and "already_applied    " in back.out


def test_export_to_a_third_party_writes_only_consenting_customers_and_records_it(
    env: dict[str, Path],
) -> None:
    imported(env)
    store = SQLiteStore(env["db"])
    registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
    officer = Actor(id="dpo", roles={"admin"})
    registry.disclosures.register_recipient(
        "courier",
        name="Courier Ltd",
        contact="privacy@courier.example",
        contract="DPA-1",
        country="CN",
        actor=officer,
    )
    consenting = sorted(everyone(registry, officer))[:2]
    for customer_id in consenting:
        registry.consent.grant(
            customer_id, "third_party", actor=officer, channel=CaptureChannel.WEB_FORM
        )
    store.close()
    usage = custrec("export", "x.jsonl", "--disclose-to", "courier", *flags(env))
    assert usage.code == cli.EXIT_USAGE and "--purpose" in usage.err
    wrong = custrec(
        "export",
        "x.jsonl",
        "--disclose-to",
        "courier",
        "--purpose",
        "marketing.email",
        "--unmask",
        *flags(env),
    )
    assert wrong.code == cli.EXIT_USAGE and "separate consent" in wrong.err
    masked = custrec(
        "export", "x.jsonl", "--disclose-to", "courier", "--purpose", "third_party", *flags(env)
    )
    assert masked.code == cli.EXIT_USAGE and "--unmask" in masked.err
    unknown = custrec(
        "export",
        "x.jsonl",
        "--disclose-to",
        "nobody",
        "--purpose",
        "third_party",
        "--unmask",
        *flags(env),
    )
    assert unknown.code == cli.EXIT_CONFIG and "nobody" in unknown.err
    assert not (env["dir"] / "x.jsonl").exists()
    sent = custrec(
        "export",
        "courier.jsonl",
        "--disclose-to",
        "courier",
        "--purpose",
        "third_party",
        "--fields",
        "name,contacts[].phones",
        "--unmask",
        *flags(env),
    )
    assert sent.code == cli.EXIT_OK, sent.err
    assert "exported 2 customers" in sent.out
    assert "left out by consent: 6 separate_consent_required" in sent.out
    lines = (env["dir"] / "courier.jsonl").read_text(encoding="utf-8").splitlines()
    data = [json.loads(line)["data"] for line in lines]
    assert sorted(d["id"] for d in data) == consenting
    assert all(set(d) <= {"id", "name", "contacts"} for d in data)


def test_recipients_are_registered_and_listed_from_the_command_line(
    env: dict[str, Path],
) -> None:
    imported(env)

    def add(recipient: str, *details: str) -> Run:
        return custrec("recipients", "add", recipient, *details, *flags(env))

    added = add(
        "courier", "--name", "Courier Ltd", "--contact", "privacy@courier.example",
        "--contract", "DPA-1", "--country", "CN",
    )  # fmt: skip
    assert added.code == cli.EXIT_OK, added.err
    assert "registered recipient courier" in added.out
    plain = ("--name", "x", "--contact", "y", "--contract", "z")
    again = add("courier", *plain)
    assert again.code == cli.EXIT_CONFIG and "already registered" in again.err
    bad = add("Bad Id", *plain)
    assert bad.code == cli.EXIT_CONFIG and "lower-case" in bad.err
    listed = custrec("recipients", "list", *flags(env))
    assert listed.code == cli.EXIT_OK
    assert listed.out.splitlines() == ["courier: Courier Ltd, CN; contract DPA-1"]
    store = SQLiteStore(env["db"])
    registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
    auditor = Actor(id="auditor", roles={"auditor"})
    trail = registry.audit.trail(actor=auditor, limit=5, newest_first=True)
    actions = [e.action for e in trail]
    store.close()
    assert actions.count("recipient.register") == 1


def test_grade(env: dict[str, Path]) -> None:
    imported(env)
    no_purchases = custrec("grade", "--policy", "rfm", *flags(env))
    assert no_purchases.code == cli.EXIT_CONFIG and "no customer" in no_purchases.err
    store = SQLiteStore(env["db"])
    registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
    operator = Actor(id="ops", roles={"admin"})
    for n, customer_id in enumerate(sorted(everyone(registry, operator))):
        registry.activities.record_transaction(
            {
                "customer_id": customer_id,
                "occurred_at": f"2024-0{n % 9 + 1}-01T00:00:00+00:00",
                "amount": {"amount": str(1000 * (n + 1))},
            },
            actor=operator,
        )
    store.close()
    for policy in (["rfm"], ["pareto-value"], ["pareto-customers", "--breakpoints", "0.5"]):
        result = custrec("grade", "--policy", *policy, "--as-of", "2025-01-31", *flags(env))
        assert result.code == cli.EXIT_OK, result.err
        assert "graded 8" in result.out
    abcd = custrec("grade", "--policy", "abcd", "--cuts", "1000000,100000", *flags(env))
    assert abcd.code == cli.EXIT_OK and "threshold:total_spent" in abcd.out
    assert custrec("grade", "--policy", "abcd", *flags(env)).code == cli.EXIT_USAGE
    bad = custrec("grade", "--policy", "abcd", "--cuts", "1,2", *flags(env))
    assert bad.code == cli.EXIT_USAGE and "invalid grading policy" in bad.err


def test_retention(env: dict[str, Path]) -> None:
    imported(env)
    later = custrec("retention", "--as-of", "2035-01-01", *flags(env))
    assert later.code == cli.EXIT_OK, later.err
    assert "actions due" in later.out and "--apply" in later.out
    schedule = env["dir"] / "schedule.toml"
    schedule.write_text(
        'timezone = "+08:00"\n'
        "[[rules]]\n"
        'code = "leads"\n'
        'trigger = "creation"\n'
        'period = "P0D"\n'
        'action = "archive"\n'
        'applies_to = { stages = ["lead"] }\n',
        encoding="utf-8",
    )
    applied = custrec("retention", "--schedule", schedule, "--apply", *flags(env))
    assert applied.code == cli.EXIT_OK, applied.err
    assert "applied 2 actions" in applied.out
    again = custrec("retention", "--schedule", schedule, "--apply", *flags(env))
    assert "0 actions due" in again.out
    schedule.write_text('[[rules]]\ncode = "x"\ntrigger = "sometime"\n', encoding="utf-8")
    broken = custrec("retention", "--as-of", "2035-01-01", "--schedule", schedule, *flags(env))
    assert broken.code == cli.EXIT_CONFIG and "rules[0]" in broken.err


def test_retention_refuses_to_apply_a_plan_made_for_the_future(env: dict[str, Path]) -> None:
    imported(env)
    with sqlite3.connect(env["db"]) as conn:
        before = conn.execute("SELECT id, version, state FROM customers ORDER BY id").fetchall()
    refused = custrec("retention", "--as-of", "2035-01-01", "--apply", *flags(env))
    assert refused.code == cli.EXIT_USAGE
    assert "--apply carries out only the actions due now" in refused.err
    assert "preview" in refused.err
    with sqlite3.connect(env["db"]) as conn:
        after = conn.execute("SELECT id, version, state FROM customers ORDER BY id").fetchall()
    assert after == before


def test_audit_verify_and_checkpoint(env: dict[str, Path]) -> None:
    imported(env)
    assert custrec("audit", "checkpoint", "cp.json", *flags(env)).code == cli.EXIT_OK
    ok = custrec("audit", "verify", "--checkpoint", "cp.json", *flags(env))
    assert ok.code == cli.EXIT_OK and "audit chain ok" in ok.out
    with sqlite3.connect(env["db"]) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET reason = 'forged' WHERE seq = 2")
    broken = custrec("audit", "verify", *flags(env))
    assert broken.code == cli.EXIT_PROBLEMS
    assert "BROKEN: chain_mismatch at entry 2" in broken.out


def test_quality(env: dict[str, Path]) -> None:
    imported(env)
    text = custrec("quality", *flags(env))
    assert text.code == cli.EXIT_OK and "8 customers" in text.out
    assert "COMPLETENESS" in text.out and "DUPLICATES" in text.out
    report = json.loads(custrec("quality", "--json", *flags(env)).out)
    assert report["total"] == 8
    phone = next(f for f in report["completeness"]["fields"] if f["field"] == "phone")
    assert (phone["filled"], phone["applicable"]) == (8, 8)
    assert report["duplicates"]["records"] == 0
    assert report["staleness"]["stale"] == 8  # nobody verified yet
    skipped = json.loads(custrec("quality", "--json", "--no-duplicates", *flags(env)).out)
    assert skipped["duplicates"] is None


def test_duplicates_lists_clusters_without_merging(env: dict[str, Path]) -> None:
    imported(env)
    text = custrec("duplicates", *flags(env))
    assert text.code == cli.EXIT_OK, text.err
    assert "8 customers, 0 clusters at 'probable'" in text.out
    loose = custrec("duplicates", "--decision", "possible", "--json", *flags(env))
    assert loose.code == cli.EXIT_OK
    for line in loose.out.splitlines():
        cluster = json.loads(line)
        assert cluster["decision"] in ("same", "probable", "possible")
    assert custrec("duplicates", "--decision", "maybe", *flags(env)).code == cli.EXIT_USAGE


def test_demo_runs_every_part(env: dict[str, Path]) -> None:
    result = custrec("demo", env["dir"] / "demo", "--rows", "40")
    assert result.code == cli.EXIT_OK, result.err
    for step in ("1. wrote 40", "2. dry run", "3. import", "5. graded", "8. audit chain ok=True"):
        assert step in result.out
    assert custrec("demo", env["dir"] / "demo").code == cli.EXIT_CONFIG


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that narrows nothing: files must be private on their own (tests run as root,
    so modes are checked, not access)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_files_with_personal_data_are_private(env: dict[str, Path]) -> None:
    old = env["dir"] / "report.json"
    old.write_text("an older report")
    old.chmod(0o644)
    imported(env, "--report", old)
    custrec("export", "masked.csv", *flags(env))
    custrec("export", "clear.jsonl", "--unmask", *flags(env))
    custrec("audit", "checkpoint", "cp.json", *flags(env))
    written = ["report.json", "report.errors.csv", "masked.csv", "clear.jsonl", "cp.json"]
    assert {name: mode(env["dir"] / name) for name in written} == dict.fromkeys(written, 0o600)


@pytest.mark.usefixtures("open_umask")
def test_the_demo_writes_private_files(env: dict[str, Path]) -> None:
    assert custrec("demo", env["dir"] / "demo", "--rows", "20").code == cli.EXIT_OK
    files = [p for p in (env["dir"] / "demo").iterdir() if p.is_file()]
    assert {p.name for p in files} >= {
        "legacy_customers.csv",
        "legacy_mapping.json",
        "legacy_customers.errors.csv",
        "import-report.json",
        "export.csv",
        "demo.sqlite",
        "demo.keys.json",
    }
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_the_progress_bar() -> None:
    now = [0.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    stream = io.StringIO()
    bar = cli.ProgressBar(stream, label="importing", total=1000, clock=clock, interval=0.5)
    now[0] = 2.0
    assert bar.line(500, 250) == "importing: 500 rows  250 rows/s   25%  ETA 0:00:06"
    bar.update(500, 250)
    now[0] = 2.1
    bar.update(600, 300)  # too soon: not drawn
    bar.close()
    assert stream.getvalue().count("\r") == 1 and stream.getvalue().endswith("\n")
    silent = io.StringIO()
    off = cli.ProgressBar(silent, label="x", enabled=False)
    off.update(1)
    off.close()
    assert silent.getvalue() == ""


def test_python_dash_m_runs_the_command_line(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", "custrec", "keys", "init", str(tmp_path / "k.json")],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k.json").exists()


def test_a_schedule_file_may_select_records_by_state(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        "[[rules]]\n"
        'code = "archived"\n'
        'trigger = "account_closure"\n'
        'period = "P1Y"\n'
        'action = "destroy"\n'
        'applies_to = { states = ["archived"], stages = ["lead"] }\n',
        encoding="utf-8",
    )
    (rule,) = cli.load_schedule(path).rules
    assert rule.applies_to.states == (RecordState.ARCHIVED,)
    assert rule.applies_to.stages == (LifecycleStage.LEAD,)
    path.write_text(path.read_text().replace('"archived"]', '"gone"]'), encoding="utf-8")
    with pytest.raises(cli._Failure, match="rules\\[0\\]"):
        cli.load_schedule(path)


def test_the_default_schedule_anonymises_archived_records_whatever_their_stage() -> None:
    rules = {rule.code: rule for rule in cli.DEFAULT_SCHEDULE.rules}
    assert rules["archived-records"].applies_to.states == (RecordState.ARCHIVED,)
    assert rules["archived-records"].applies_to.stages == ()
