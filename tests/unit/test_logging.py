"""custrec logs what it does (docs/logging.md): at the right level, on module loggers under
``custrec``, which has a NullHandler, and never a personal value."""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec._log import slow_batch_seconds
from custrec.errors import StorageError
from custrec.grading import abcd_by_amount
from custrec.interchange import ImportMapping, plan_import
from custrec.matching import MatchConfig
from custrec.retry import retry

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase", "key_manager"})

# The personal values of the run below: none may appear in any log record.
NAMES = ("张伟", "李娜", "Müller")
PHONES = ("13912345678", "13887654321", "13700001111", "13600002222")
EMAILS = ("zhang.wei@example.cn", "li.na@example.com", "mueller@example.de")
RIC = "11010519491231002X"
PERSONAL = (
    "李娜娜",
    "13500003333",
    "王芳",
    *NAMES,
    *PHONES,
    *EMAILS,
    RIC,
    "+8613912345678",
    "912345678",
    "zhang.wei",
)


def records_of(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name or r.name.startswith(name + ".")]


def messages(records: list[logging.LogRecord], level: int) -> list[str]:
    return [r.getMessage() for r in records if r.levelno == level]


def test_the_package_logger_has_a_null_handler_and_modules_log_under_it() -> None:
    importlib.import_module("custrec.services.keys")
    package = logging.getLogger("custrec")
    assert any(isinstance(h, logging.NullHandler) for h in package.handlers)
    _log = importlib.import_module("custrec._log")
    _log._install()  # installing again adds no second handler
    assert sum(isinstance(h, logging.NullHandler) for h in package.handlers) == 1


def test_a_schema_migration_is_logged_with_its_versions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="custrec")
    SQLiteStore(tmp_path / "crm.sqlite").close()
    info = messages(records_of(caplog, "custrec.backends"), logging.INFO)
    assert any("from version 0 to" in m and "started" in m for m in info)
    assert any("from version 0 to" in m and "done" in m for m in info)
    caplog.clear()
    SQLiteStore(tmp_path / "crm.sqlite").close()  # up to date: nothing to say
    assert messages(records_of(caplog, "custrec.backends"), logging.INFO) == []


def people(registry: Registry) -> list[str]:
    ids = []
    for n, (name, phone) in enumerate(zip(NAMES, PHONES[:3], strict=True)):
        ids.append(
            registry.customers.intake(
                {
                    "kind": "individual",
                    "name": name,
                    "contacts": [{"phones": [phone], "emails": [EMAILS[n]]}],
                },
                actor=ADMIN,
            ).id
        )
    return ids


def test_key_rotation_and_reindex_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    people(registry)
    caplog.set_level(logging.INFO, logger="custrec")
    registry.keys.rotate_master(actor=ADMIN)
    registry.keys.reindex(actor=ADMIN)
    info = messages(records_of(caplog, "custrec.services.keys"), logging.INFO)
    assert any("rotation" in m and "started" in m for m in info)
    assert any("3 data keys re-wrapped" in m or "0 data keys re-wrapped" in m for m in info)
    assert any(m.startswith("re-index done") and "of 3 customer rows" in m for m in info)


def test_erasures_and_their_replay_are_logged_with_the_customer_id_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    first, *_ = people(registry)
    caplog.set_level(logging.INFO, logger="custrec")
    # free text that is not the customer's own data (a reason naming them is refused)
    registry.privacy.erase(first, actor=ADMIN, reason="请求经办人 王芳")
    registry.privacy.replay_erasures(actor=ADMIN, ids=[first])
    info = messages(records_of(caplog, "custrec.services.privacy"), logging.INFO)
    assert any(m.startswith(f"customer {first} erased") for m in info)
    assert any(m.startswith("erasure replay:") for m in info)
    assert all("王芳" not in m for m in info)  # the free-text reason is not logged


def test_stop_keys_are_logged_with_their_kind_and_size(caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate(), matching=MatchConfig(cap=2))
    for n in range(4):
        registry.customers.intake(
            {"kind": "individual", "name": "张伟", "contacts": [{"phones": [f"1390000{n:04d}"]}]},
            actor=ADMIN,
            allow_duplicates=True,
        )
    caplog.set_level(logging.INFO, logger="custrec")
    run = registry.matching.clusters(actor=ADMIN)
    assert run.stop_keys
    warnings = messages(records_of(caplog, "custrec.services._clustering"), logging.WARNING)
    assert len(warnings) == 1 and "stop key" in warnings[0]
    assert f"{run.stop_keys[0].kind}: {run.stop_keys[0].records}" in warnings[0]
    search = registry.matching.find_duplicates({"kind": "individual", "name": "张伟"}, actor=ADMIN)
    assert search.stop_keys
    info = messages(records_of(caplog, "custrec.services.matching"), logging.INFO)
    assert any("stop key" in m for m in info)


def test_slow_batches_are_logged_at_warning_with_count_and_duration(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    people(registry)
    caplog.set_level(logging.WARNING, logger="custrec")
    registry.grading.regrade(abcd_by_amount(1000, 100), as_of=AS_OF, actor=ADMIN)
    assert not [r for r in caplog.records if "slow" in r.getMessage()]  # under the 5 s default
    monkeypatch.setenv("CUSTREC_SLOW_BATCH_SECONDS", "0")
    registry.grading.regrade(abcd_by_amount(1000, 100), as_of=AS_OF, actor=ADMIN, batch_size=2)
    registry.customers.intake_many(
        [{"kind": "individual", "name": f"客户{n}"} for n in range(3)], actor=ADMIN, batch_size=2
    )
    slow = [r for r in caplog.records if r.getMessage().startswith("slow ")]
    assert all(r.levelno == logging.WARNING for r in slow)
    texts = [r.getMessage() for r in slow]
    assert sum(t.startswith("slow regrade batch: 2 item(s) in ") for t in texts) == 1
    assert sum(t.startswith("slow regrade batch: 1 item(s) in ") for t in texts) == 1
    assert sum(t.startswith("slow intake batch: ") for t in texts) == 2
    assert all(" s (threshold 0.000 s)" in t for t in texts)


@pytest.mark.parametrize("text", ["-1", "soon", "nan", "inf"])
def test_a_bad_slow_batch_threshold_falls_back_to_the_default(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTREC_SLOW_BATCH_SECONDS", text)
    assert slow_batch_seconds() == 5.0
    monkeypatch.setenv("CUSTREC_SLOW_BATCH_SECONDS", "0.5")
    assert slow_batch_seconds() == 0.5


def test_no_log_record_of_an_intake_update_erase_import_run_holds_a_personal_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTREC_SLOW_BATCH_SECONDS", "0")  # every batch logs as slow too
    caplog.set_level(logging.DEBUG, logger="custrec")
    store = SQLiteStore(tmp_path / "crm.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    ids = people(registry)
    registry.customers.intake(
        {
            "kind": "individual",
            "name": "王芳",
            "identifiers": [{"scheme": "CN-RIC", "value": RIC}],
            "contacts": [{"phones": [PHONES[3]]}],
        },
        actor=ADMIN,
    )
    registry.customers.update(
        ids[1],
        {"name": "李娜娜", "contacts": [{"phones": ["13500003333"]}]},
        actor=ADMIN,
        reason="fix",
    )
    registry.privacy.erase(ids[0], actor=ADMIN, reason="erasure request")
    registry.privacy.replay_erasures(actor=ADMIN)
    mapping = ImportMapping.from_dict(
        {
            "defaults": {"kind": "individual"},
            "columns": {
                "名称": "name",
                "手机": "contacts[0].phones[0]",
                "邮箱": "contacts[0].emails[0]",
            },
        }
    )
    rows = [
        {"名称": NAMES[0], "手机": "+8613912345678", "邮箱": EMAILS[0]},
        {"名称": NAMES[2], "手机": "912345678", "邮箱": "zhang.wei@"},  # bad phone and e-mail
        {"名称": "赵六", "手机": PHONES[1], "邮箱": EMAILS[1]},  # a duplicate of a stored one
    ]
    plan_import(rows, mapping, registry, actor=ADMIN, import_id="scan", dry_run=False)
    attempts = iter([StorageError("busy", retry_safe=True)])

    def work() -> None:
        error = next(attempts, None)
        if error is not None:
            raise error

    retry(work, sleep=lambda s: None)
    registry.keys.reindex(actor=ADMIN)
    registry.matching.clusters(actor=ADMIN)
    store.close()
    logged = records_of(caplog, "custrec")
    assert {r.levelno for r in logged} >= {logging.INFO, logging.WARNING}
    assert len(logged) > 10
    for record in logged:
        text = record.getMessage() + repr(record.args)
        leaked = [value for value in PERSONAL if value.casefold() in text.casefold()]
        assert leaked == [], (record.name, record.getMessage())
