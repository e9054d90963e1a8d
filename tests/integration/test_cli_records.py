"""``custrec show``, ``subject export``, ``erase`` and ``merge``: one customer at a time, masked
unless the actor may unmask and asks to, every refusal a clear error with nothing personal."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore, cli
from custrec.errors import Erased

NAME, PHONE, EMAIL = "张伟", "13800138000", "zhang.wei@example.cn"
OPS = Actor(id="ops", roles={"admin", "unmask"})
AUDITOR = Actor(id="audit", roles={"auditor"})


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def shows_nothing_personal(self) -> bool:
        text = self.out + self.err
        return not any(v in text for v in (NAME, PHONE, "138-0013", EMAIL, "8613800138000"))


def custrec(*argv: str | Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for variable in ("CUSTREC_KEY_FILE", "CUSTREC_DB", "CUSTREC_MASTER_KEYS", "CUSTREC_INDEX_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUSTREC_ACTOR", "steward")
    monkeypatch.chdir(tmp_path)
    keys = tmp_path / "custrec.keys.json"
    assert custrec("keys", "init", keys).code == cli.EXIT_OK
    return {"dir": tmp_path, "keys": keys, "db": tmp_path / "customers.sqlite"}


def flags(env: dict[str, Path]) -> list[str | Path]:
    return ["--db", env["db"], "--keys", env["keys"]]


@pytest.fixture
def ids(env: dict[str, Path]) -> list[str]:
    """Zhang Wei twice (a duplicate with an e-mail and a purchase), and someone owned by
    another member of staff."""
    store = SQLiteStore(env["db"])
    registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
    first = registry.customers.intake(
        {"kind": "individual", "name": NAME, "contacts": [{"phones": [PHONE]}], "owner": "alice"},
        actor=OPS,
    )
    twin = registry.customers.intake(
        {
            "kind": "individual",
            "name": NAME,
            "contacts": [{"phones": ["138-0013-8000"], "emails": [EMAIL]}],
            "owner": "bob",
        },
        actor=OPS,
        allow_duplicates=True,
    )
    registry.activities.record_transaction(
        {
            "customer_id": twin.id,
            "occurred_at": "2024-05-06T00:00:00+00:00",
            "amount": {"amount": "100"},
        },
        actor=OPS,
    )
    store.close()
    return [first.id, twin.id]


def audit_actions(env: dict[str, Path], customer_id: str) -> list[str]:
    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        return [
            e.action
            for e in registry.audit.trail(actor=AUDITOR)
            if e.customer_id == customer_id and e.actor_id == "steward"
        ]
    finally:
        store.close()


# -------------------------------------------------------------------------------- show


def test_show_is_masked_and_audited_as_a_read(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec("show", ids[0], *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert f"customer {ids[0]} (masked)" in result.out and result.shows_nothing_personal()
    assert "contacts[0].phones[0]" in result.out
    assert audit_actions(env, ids[0]) == ["customer.read"]


def test_show_unmasked_on_request(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec("show", ids[0], "--unmask", "--format", "json", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    shown = json.loads(result.out)
    assert shown["masked"] is False
    assert shown["customer"]["name"] == NAME
    assert shown["customer"]["contacts"][0]["phones"] == ["+8613800138000"]
    assert audit_actions(env, ids[0]) == ["customer.unmask"]
    masked = json.loads(custrec("show", ids[0], "--format", "json", *flags(env)).out)
    assert masked["masked"] is True and masked["customer"]["name"] != NAME


def test_unmasking_without_the_right_is_refused(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec("show", ids[0], "--unmask", "--role", "admin", *flags(env))
    assert result.code == cli.EXIT_DENIED
    assert "may not unmask" in result.err and result.shows_nothing_personal()
    assert result.out == ""


def test_the_registry_decides_for_the_roles_given(env: dict[str, Path], ids: list[str]) -> None:
    as_alice = ["--actor", "alice", "--role", "staff", "--role", "unmask"]
    own = custrec("show", ids[0], "--unmask", "--format", "json", *as_alice, *flags(env))
    assert own.code == cli.EXIT_OK and json.loads(own.out)["customer"]["name"] == NAME
    foreign = custrec("show", ids[1], *as_alice, *flags(env))
    assert foreign.code == cli.EXIT_DENIED and "not_owner" in foreign.err
    assert foreign.out == "" and foreign.shows_nothing_personal()


@pytest.mark.parametrize("command", [["show"], ["subject", "export"], ["erase", "--reason", "r"]])
def test_an_unknown_id_is_an_input_error(
    env: dict[str, Path], ids: list[str], command: list[str]
) -> None:
    result = custrec(*command[:2], "no-such-id", *command[2:], *flags(env))
    assert result.code == cli.EXIT_CONFIG and "not found" in result.err


# ------------------------------------------------------------------------ subject export


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_subject_export_to_a_private_file(env: dict[str, Path], ids: list[str]) -> None:
    out = env["dir"] / "subject.json"
    result = custrec("subject", "export", ids[1], "--out", out, "--unmask", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert "(unmasked) written to" in result.out and result.shows_nothing_personal()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["customer_id"] == ids[1] and document["masked"] is False
    assert document["record"]["name"] == NAME
    assert [a["kind"] for a in document["activities"]] == ["transaction"]


def test_subject_export_is_masked_by_default_and_refused_without_export(
    env: dict[str, Path], ids: list[str]
) -> None:
    printed = custrec("subject", "export", ids[0], *flags(env))
    assert printed.code == cli.EXIT_OK
    assert json.loads(printed.out)["masked"] is True and printed.shows_nothing_personal()
    out = env["dir"] / "refused.json"
    refused = custrec("subject", "export", ids[0], "--out", out, "--role", "admin", *flags(env))
    assert refused.code == cli.EXIT_DENIED and "export" in refused.err
    assert not out.exists()
    unmask = custrec(
        "subject",
        "export",
        ids[0],
        "--out",
        out,
        "--unmask",
        "--role",
        "admin",
        "--role",
        "export",
        *flags(env),
    )
    assert unmask.code == cli.EXIT_DENIED and not out.exists()


# --------------------------------------------------------------------------------- erase


def test_erase_prints_the_receipt(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec("erase", ids[0], "--reason", "subject request 2026-17", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert f"erased customer {ids[0]}" in result.out and "subject request 2026-17" in result.out
    assert result.shows_nothing_personal()
    store = SQLiteStore(env["db"])
    try:
        registry = Registry(store, keyring=KeyRing.from_file(env["keys"]))
        with pytest.raises(Erased):
            registry.customers.get(ids[0], actor=OPS)
    finally:
        store.close()
    shown = custrec("show", ids[0], *flags(env))
    assert shown.code == cli.EXIT_CONFIG and "erased" in shown.err
    again = custrec("erase", ids[0], "--reason", "again", "--format", "json", *flags(env))
    assert again.code == cli.EXIT_OK and json.loads(again.out)["customer_id"] == ids[0]


def test_erase_needs_a_reason_and_the_right(env: dict[str, Path], ids: list[str]) -> None:
    assert custrec("erase", ids[0], *flags(env)).code == cli.EXIT_USAGE
    blank = custrec("erase", ids[0], "--reason", " ", *flags(env))
    assert blank.code == cli.EXIT_USAGE and "--reason" in blank.err
    denied = custrec("erase", ids[0], "--reason", "why", "--role", "admin", *flags(env))
    assert denied.code == cli.EXIT_DENIED and "erase" in denied.err
    assert custrec("show", ids[0], *flags(env)).code == cli.EXIT_OK  # still there


def test_an_erasure_reason_holding_the_customers_data_exits_with_3_and_erases_nothing(
    env: dict[str, Path], ids: list[str]
) -> None:
    for reason in (f"{NAME} called, ticket 9", f"call back {PHONE}"):
        result = custrec("erase", ids[0], "--reason", reason, *flags(env))
        assert result.code == cli.EXIT_CONFIG, result.err
        assert "personal data" in result.err and "Traceback" not in result.err
        assert NAME not in result.err and PHONE not in result.err
    assert custrec("show", ids[0], *flags(env)).code == cli.EXIT_OK  # still there


# --------------------------------------------------------------------------------- merge


def test_merge_prints_what_moved(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec("merge", ids[0], ids[1], "--reason", "same person", *flags(env))
    assert result.code == cli.EXIT_OK, result.err
    assert f"merged {ids[1]} into {ids[0]}" in result.out
    assert "moved 1 transactions and interactions" in result.out
    assert "contacts" in result.out and result.shows_nothing_personal()
    shown = json.loads(custrec("show", ids[1], "--format", "json", *flags(env)).out)
    assert shown["customer"]["id"] == ids[0]  # the alias leads to the survivor
    again = custrec("merge", ids[0], ids[1], "--reason", "same person", *flags(env))
    assert again.code == cli.EXIT_CONFIG


def test_merge_with_rules_as_json(env: dict[str, Path], ids: list[str]) -> None:
    result = custrec(
        "merge",
        ids[0],
        ids[1],
        "--reason",
        "dup",
        "--rule",
        "owner=most_recent",
        "--format",
        "json",
        *flags(env),
    )
    assert result.code == cli.EXIT_OK, result.err
    document = json.loads(result.out)
    assert document["merged"] == [ids[1]] and document["activities_moved"] == 1
    owner = next(f for f in document["fields"] if f["field"] == "owner")
    assert owner == {"field": "owner", "strategy": "most_recent", "from": [ids[1]]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rule", "owner"], "FIELD=STRATEGY"),
        (["--rule", "owner=loudest"], "strategy is one of"),
        (["--rule", "nickname=union"], "--rule"),
        (["--rule", "id=survivor"], "--rule"),
    ],
)
def test_bad_merge_rules_are_usage_errors(
    env: dict[str, Path], ids: list[str], extra: list[str], message: str
) -> None:
    result = custrec("merge", ids[0], ids[1], "--reason", "dup", *extra, *flags(env))
    assert result.code == cli.EXIT_USAGE and message in result.err
    assert custrec("show", ids[1], "--format", "json", *flags(env)).out.count(ids[1]) >= 1


def test_merge_refusals(env: dict[str, Path], ids: list[str]) -> None:
    same = custrec("merge", ids[0], ids[0], "--reason", "dup", *flags(env))
    assert same.code == cli.EXIT_USAGE
    staff = custrec(
        "merge",
        ids[0],
        ids[1],
        "--reason",
        "dup",
        "--actor",
        "alice",
        "--role",
        "staff",
        *flags(env),
    )
    assert staff.code == cli.EXIT_DENIED and staff.shows_nothing_personal()
    assert custrec("merge", ids[0], ids[1], *flags(env)).code == cli.EXIT_USAGE  # no reason
