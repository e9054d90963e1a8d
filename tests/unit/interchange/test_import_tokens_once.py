"""An import computes each strong key's blind-index tokens once a row: the look-up in the store
computes them and the chunk's write reuses them, unless the index keys changed in between."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ImportMapping, ImportPolicy, Outcome, plan_import
from custrec.services import _presealed
from custrec.storage.codec import EncryptingCodec

ADMIN = Actor(id="ops", roles={"admin", "unmask"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "编号": "identifiers[EXTERNAL:crm]",
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
        },
    }
)
ROWS = [
    {"编号": f"C{i}", "名称": f"客户{i}", "手机": f"1380000{i:04d}", "邮箱": f"c{i}@example.com"}
    for i in range(12)
]


def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    calls: Counter[tuple[str, str]] = Counter()
    original = EncryptingCodec.lookup_keys

    def lookup_keys(self: EncryptingCodec, key: tuple[str, str]) -> tuple[str, ...]:
        calls[key] += 1
        return original(self, key)

    monkeypatch.setattr(EncryptingCodec, "lookup_keys", lookup_keys)
    return calls


def test_each_strong_key_of_an_imported_row_is_tokenised_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    calls = counted(monkeypatch)
    report = plan_import(
        ROWS,
        MAPPING,
        registry,
        actor=ADMIN,
        import_id="once",
        policy=ImportPolicy(batch_size=5),
        dry_run=False,
    )
    assert report.counts[Outcome.CREATED] == len(ROWS)
    # three strong keys a row (external id, phone, e-mail), plus one check a chunk that the
    # index keys did not change between the look-up and the write
    assert len(calls) == 3 * len(ROWS)
    assert sum(calls.values()) == 3 * len(ROWS) + 3
    for i, row in enumerate(ROWS):
        found = registry.customers.find(phone=row["手机"], actor=ADMIN)
        assert [c.name for c in found] == [f"客户{i}"]


def test_tokens_that_no_longer_match_the_index_keys_are_computed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    real = _presealed.intake_presealed
    chunks = []

    def stale(*args: Any, tokens: Any = None, **kwargs: Any) -> Any:
        chunks.append(len(tokens))
        # what tokens computed under another index key look like: same keys, other values
        other = EncryptingCodec(KeyRing.generate())
        old = {key: other.lookup_keys(key) for key in tokens}
        return real(*args, tokens=old, **kwargs)

    monkeypatch.setattr("custrec.interchange.plan.intake_presealed", stale)
    report = plan_import(ROWS, MAPPING, registry, actor=ADMIN, import_id="stale", dry_run=False)
    assert report.counts[Outcome.CREATED] == len(ROWS)
    assert chunks == [3 * len(ROWS)]  # the write was handed every strong key's tokens
    for i, row in enumerate(ROWS):
        by_phone = registry.customers.find(phone=row["手机"], actor=ADMIN)
        by_email = registry.customers.find(email=row["邮箱"], actor=ADMIN)
        assert [c.name for c in by_phone] == [f"客户{i}"] == [c.name for c in by_email]
