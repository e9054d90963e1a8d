"""The register of erased subjects: an erased person does not come back through an import of
the same legacy file under another import id (the reviewer's reproduction), on SQLite files,
in memory and (with ``CUSTREC_TEST_POSTGRES_DSN``) on PostgreSQL.

The register keeps blind-index tokens only (no value, no customer id), is written in the unit
of work of the erasure, and ``allow_erased=True`` / ``--allow-erased-subjects`` store such rows.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore, cli
from custrec.errors import StorageError
from custrec.interchange import (
    ErrorFile,
    ImportMapping,
    Outcome,
    load_mapping,
    open_source,
    plan_import,
)
from custrec.interchange import plan as plan_module
from custrec.security import IndexKeys, StaticKeyProvider
from custrec.services import _documents, _erased, privacy
from custrec.services.privacy import ERASED_SUBJECT
from custrec.storage import Store

EXAMPLES = Path(__file__).parents[3] / "examples" / "data"
SOURCE = EXAMPLES / "legacy_customers.csv"
LEGACY_MAPPING = EXAMPLES / "legacy_mapping.toml"
ADMIN = Actor(id="ops", roles={"admin", "unmask", "erase"})
DSN_VARIABLE = "CUSTREC_TEST_POSTGRES_DSN"
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
            "身份证": "identifiers[CN-RIC]",
            "旧编号": "identifiers[EXTERNAL:old-crm]",
        },
    }
)
RIC = "11010519491231002X"
PHONE = "13800138000"
EMAIL = "zhang.san@example.cn"
OLD_ID = "C-0042"


def row(
    name: str, phone: str = "", email: str = "", ric: str = "", old: str = ""
) -> dict[str, str]:
    return {"名称": name, "手机": phone, "邮箱": email, "身份证": ric, "旧编号": old}


def run(registry: Registry, rows: list[dict[str, str]], import_id: str, **options: Any) -> Any:
    options.setdefault("dry_run", False)
    return plan_import(rows, MAPPING, registry, actor=ADMIN, import_id=import_id, **options)


def counts(report: Any) -> dict[str, int]:
    return {o.value: n for o, n in report.counts.items() if n}


def _postgres() -> Iterator[Store]:
    dsn = os.environ.get(DSN_VARIABLE, "").strip()
    if not dsn:
        pytest.skip(f"PostgreSQL tests need {DSN_VARIABLE} (bash .ci/pg-start starts a server)")
    import psycopg

    from custrec.backends import PostgresStore

    schema = f"t_{secrets.token_hex(8)}"
    store = PostgresStore(dsn, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """An encrypted registry on each backend (PostgreSQL skips without a server)."""
    if request.param == "memory":
        yield Registry(MemoryStore(), keyring=KeyRing.generate())
        return
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "crm.sqlite")
        yield Registry(store, keyring=KeyRing.generate())
        store.close()
        return
    stores = _postgres()
    yield Registry(next(stores), keyring=KeyRing.generate())
    stores.close()


def erase_first(registry: Registry, report: Any) -> str:
    customer_id = next(r.customer_id for r in report.row_ids if r.row == 1)
    assert customer_id is not None
    registry.privacy.erase(customer_id, actor=ADMIN, reason="subject request")
    return customer_id


@pytest.mark.parametrize(
    ("again", "names"),
    [
        (row("张三", phone=PHONE), "phone"),
        (row("张三", email=EMAIL.upper()), "e-mail"),
        (row("张三", "13600136000", ric=RIC), "resident id"),
        (row("张三", "13600136000", old=OLD_ID), "external id"),
    ],
)
def test_each_kind_of_key_keeps_an_erased_subject_out(
    registry: Registry, again: dict[str, str], names: str
) -> None:
    first = run(registry, [row("张三", PHONE, EMAIL, RIC, OLD_ID), row("李四", "13900139000")], "a")
    assert counts(first) == {"created": 2}
    erase_first(registry, first)
    report = run(registry, [again, row("李四二", "13700137000")], "b")
    assert counts(report) == {"created": 1, "erased_subject": 1}
    (issue,) = [i for i in report.issues if i.code == "erased.subject"]
    assert issue.row == 1 and issue.value is None and issue.column is None
    assert issue.message == f"same {names} as an erased customer; not stored"
    assert next((r.row, r.outcome, r.customer_id) for r in report.row_ids) == (
        1,
        Outcome.ERASED_SUBJECT,
        None,
    )
    for value in (PHONE, EMAIL, RIC, OLD_ID, "张三"):
        assert value not in json.dumps(report.to_dict(), ensure_ascii=False)


def test_dry_run_reports_it_and_the_override_stores_it(registry: Registry) -> None:
    first = run(registry, [row("张三", PHONE, EMAIL, RIC, OLD_ID)], "a")
    erase_first(registry, first)
    again = [row("张三", PHONE, EMAIL, RIC, OLD_ID)]
    dry = run(registry, again, "b", dry_run=True)
    assert counts(dry) == {"erased_subject": 1}
    real = run(registry, again, "b")
    assert counts(real) == {"erased_subject": 1}
    assert counts(run(registry, again, "b", dry_run=True, allow_erased=True)) == {"created": 1}
    back = run(registry, again, "c", allow_erased=True)
    assert counts(back) == {"created": 1}
    # once back, the person is a stored customer again: a later import finds them there
    assert counts(run(registry, again, "d")) == {"duplicate_in_store": 1}


def test_a_recycled_phone_on_a_live_customer_is_a_store_duplicate_not_an_erasure(
    registry: Registry,
) -> None:
    first = run(registry, [row("张三", PHONE)], "a")
    erase_first(registry, first)
    registry.customers.intake(
        {"kind": "individual", "name": "新号主", "contacts": [{"phones": [PHONE]}]},
        actor=ADMIN,
        reason="new owner of the number",
    )
    assert counts(run(registry, [row("张三", PHONE)], "b")) == {"duplicate_in_store": 1}


def test_the_register_holds_tokens_only(registry: Registry) -> None:
    first = run(registry, [row("张三", PHONE, EMAIL, RIC, OLD_ID)], "a")
    customer_id = erase_first(registry, first)
    with registry._context.unit() as unit:
        docs = list(_documents.Documents.every(unit, ERASED_SUBJECT))
    assert sorted(d.tag or "" for d in docs) == ["email", "phone", "scheme", "scheme"]
    for doc in docs:
        text = doc.id + doc.payload.decode()
        assert customer_id not in text
        for value in (PHONE, EMAIL, EMAIL.casefold(), RIC, OLD_ID):
            assert value not in text
        data = json.loads(doc.payload)
        assert set(data) == {"erased_on", "kind"}
        assert doc.created_at.hour == 0 and doc.created_at.minute == 0


def test_erasure_and_register_are_one_unit_of_work(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run(registry, [row("张三", PHONE, EMAIL, RIC, OLD_ID)], "a")
    customer_id = next(r.customer_id for r in first.row_ids if r.row == 1)
    assert customer_id is not None
    from custrec.services.privacy import PrivacyService

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected after the register write")

    # the tombstone is written after the register and before the data key is destroyed
    monkeypatch.setattr(PrivacyService, "_tombstone", fail)
    with pytest.raises(RuntimeError, match="injected"):
        registry.privacy.erase(customer_id, actor=ADMIN, reason="subject request")
    monkeypatch.undo()
    with registry._context.unit() as unit:
        assert list(_documents.Documents.every(unit, ERASED_SUBJECT)) == []
    assert registry.customers.get(customer_id, actor=ADMIN).name == "张三"
    assert counts(run(registry, [row("张三", PHONE)], "b")) == {"duplicate_in_store": 1}


def test_erasing_twice_and_two_subjects_with_one_phone_keep_one_entry(registry: Registry) -> None:
    first = run(registry, [row("张三", PHONE), row("李四", "13900139000", EMAIL)], "a")
    erase_first(registry, first)
    other = next(r.customer_id for r in first.row_ids if r.row == 2)
    assert other is not None
    registry.customers.update(
        other,
        {"contacts": [{"phones": ["13900139000", PHONE], "emails": [EMAIL]}]},
        actor=ADMIN,
        reason="number handed on",
    )
    registry.privacy.erase(other, actor=ADMIN, reason="subject request")
    registry.privacy.erase(other, actor=ADMIN, reason="again")
    with registry._context.unit() as unit:
        docs = list(_documents.Documents.every(unit, ERASED_SUBJECT))
    assert sorted(d.tag or "" for d in docs) == ["email", "phone", "phone"]


@pytest.mark.parametrize("sealed", [True, False], ids=["presealed", "general"])
def test_an_erasure_committed_after_the_check_still_keeps_the_row_out(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, sealed: bool
) -> None:
    """The register is read again in the chunk's write transaction: a person taken in and
    erased by another process after the chunk's check, before its write, is not stored,
    whether the rows were sealed where they were prepared or go through ``intake_many``'s
    path (a registry whose codec cannot preseal)."""
    if not sealed:
        monkeypatch.setattr(plan_module, "presealer", lambda *args, **kwargs: None)
    asked = registry.privacy.erased_keys
    answers: list[frozenset[Any]] = []

    def erasing_after_the_first_answer(keys: Any, *, actor: Actor) -> frozenset[Any]:
        found = asked(keys, actor=actor)
        if not answers:  # another process, between this check and the chunk's write
            other = registry.customers.intake(
                {"kind": "individual", "name": "张三", "contacts": [{"phones": [PHONE]}]},
                actor=ADMIN,
                reason="taken in elsewhere",
            )
            registry.privacy.erase(other.id, actor=ADMIN, reason="subject request")
        answers.append(found)
        return found

    monkeypatch.setattr(registry.privacy, "erased_keys", erasing_after_the_first_answer)
    report = run(registry, [row("张三", PHONE), row("李四", "13900139000")], "a")
    assert counts(report) == {"created": 1, "erased_subject": 1}
    assert [r.outcome for r in report.row_ids] == [Outcome.ERASED_SUBJECT, Outcome.CREATED]
    assert len(answers) == 2 and not answers[0] and answers[1]


def test_an_import_that_cannot_tell_which_rows_the_register_holds_fails_instead_of_looping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The write keeps finding a register entry that the chunk's check does not see (they
    would have to disagree on a row's keys): the import stops with a retry-safe error, nothing
    of the chunk written, instead of asking again forever."""
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    monkeypatch.setattr(_erased, "register_empty", lambda unit: False)
    monkeypatch.setattr(_erased, "held_tokens", lambda unit, tokens: {"a token"})
    with pytest.raises(StorageError, match="run the import again") as failed:
        run(registry, [row("张三", PHONE)], "a")
    assert failed.value.retry_safe
    assert registry.customers.count(actor=ADMIN) == 0


def test_an_empty_register_is_not_asked_about_each_key(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[Any] = []
    monkeypatch.setattr(_erased, "held_tokens", lambda *args: looked_up.append(args) or set())
    monkeypatch.setattr(privacy, "held_tokens", _erased.held_tokens)
    rows = [row("张三", PHONE, EMAIL, RIC, OLD_ID), row("李四", "13900139000")]
    report = run(registry, rows, "a")
    assert counts(report) == {"created": 2} and looked_up == []
    erase_first(registry, report)
    report = run(registry, [row("张三", PHONE)], "b")
    assert counts(report) == {"created": 1} and looked_up  # the stub finds nothing, but was asked


# ------------------------------------------------------------------ the reviewer's steps


def cli_run(*argv: str | Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def printed_count(output: str, outcome: str) -> int:
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == outcome:
            return int(parts[1])
    raise AssertionError(f"no {outcome} count in {output!r}")


def test_the_reviewers_reproduction_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(SOURCE, "legacy_customers.csv")
    common = ["--db", "customers.sqlite", "--keys", "custrec.keys.json"]
    job = ["import", "--mapping", LEGACY_MAPPING, *common, "--exit-zero"]
    assert cli_run("keys", "init", "custrec.keys.json")[0] == 0
    code, output = cli_run(job[0], "legacy_customers.csv", *job[1:], "--ids", "ids.jsonl")
    assert code == 0 and printed_count(output, "created") == 8
    ids = [json.loads(line) for line in Path("ids.jsonl").read_text().splitlines()]
    erased = ids[0]["id"]
    code, output = cli_run("erase", erased, "--reason", "subject request", *common)
    assert code == 0, output
    code, output = cli_run(job[0], "legacy_customers.csv", *job[1:])
    assert printed_count(output, "created") == 0
    shutil.copy("legacy_customers.csv", "legacy_customers_copy.csv")
    code, output = cli_run(job[0], "legacy_customers_copy.csv", *job[1:], "--ids", "copy.jsonl")
    assert printed_count(output, "created") == 0
    # row 1 and row 5 (a repeat of row 1 in the file) are the erased person
    assert printed_count(output, "erased_subject") == 2
    copy = {r["row"]: r for r in map(json.loads, Path("copy.jsonl").read_text().splitlines())}
    assert copy[1] == {"row": 1, "outcome": "erased_subject", "id": None}
    assert copy[5] == {"row": 5, "outcome": "erased_subject", "id": None}
    errors = Path("legacy_customers_copy.errors.csv").read_text(encoding="gb18030")
    assert "L0001" not in errors and "L0005" not in errors
    # nothing of the erased person is in the files, the register included
    source = Path("legacy_customers.csv").read_text(encoding="gb18030").splitlines()[1]
    cells = source.split(",")
    for path in Path().glob("customers*.sqlite*"):
        data = path.read_bytes()
        for value in ("wangjg@mingyuan.example.cn", cells[9], "L0001"):
            assert value.encode() not in data, (path.name, value)
    code, output = cli_run(job[0], "legacy_customers_copy.csv", *job[1:], "--allow-erased-subjects")
    assert printed_count(output, "created") == 1
    assert printed_count(output, "erased_subject") == 0


def test_the_reviewers_reproduction_through_the_library(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "customers.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    mapping = load_mapping(LEGACY_MAPPING)

    def job(import_id: str, **options: Any) -> Any:
        with (
            open_source(SOURCE) as rows,
            ErrorFile.for_source(tmp_path / f"{import_id}.errors.csv", rows.info) as errors,
        ):
            return plan_import(
                rows,
                mapping,
                registry,
                actor=ADMIN,
                import_id=import_id,
                dry_run=False,
                error_file=errors,
                **options,
            )

    first = job("legacy_customers")
    assert first.counts[Outcome.CREATED] == 8
    erase_first(registry, first)
    assert job("legacy_customers").counts[Outcome.CREATED] == 0
    copy = job("legacy_customers_copy")
    assert copy.counts[Outcome.CREATED] == 0 and copy.counts[Outcome.ERASED_SUBJECT] == 2
    assert copy.error_rows == first.error_rows - 1  # row 5 no longer goes to the error file
    assert job("legacy_customers_copy", allow_erased=True).counts[Outcome.CREATED] == 1
    store.close()


def test_an_index_key_rotation_keeps_the_register_while_the_old_key_is_configured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    master, audit = StaticKeyProvider.generate("m1"), os.urandom(32)
    i1 = IndexKeys.generate("i1")
    before = Registry(store, keyring=KeyRing(master, i1, audit_key=audit))
    erase_first(before, run(before, [row("张三", PHONE, EMAIL)], "a"))
    both = i1.with_key("i2", os.urandom(32))
    during = Registry(store, keyring=KeyRing(master, both, audit_key=audit))
    with caplog.at_level(logging.WARNING):
        during.keys.reindex(actor=ADMIN)
    assert "2 entries of the register of erased subjects are under older index keys" in (
        caplog.text
    )
    assert counts(run(during, [row("张三", PHONE)], "b")) == {"erased_subject": 1}
    # erased while both keys are configured: kept under both, so it outlives the old key
    erase_first(during, run(during, [row("王五", "13500135000")], "c"))
    after = Registry(store, keyring=KeyRing(master, both.without_key("i1"), audit_key=audit))
    assert counts(run(after, [row("王五", "13500135000")], "d")) == {"erased_subject": 1}
    # the documented limit: dropping the old key ends the entries made before the rotation
    assert counts(run(after, [row("张三", PHONE)], "e")) == {"created": 1}
