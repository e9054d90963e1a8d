"""Migrate a legacy CRM export with the library: dry run, import, sample check, export.

    python examples/migrate_legacy.py [DB_PATH]

The same job as ``custrec import`` in the README, written out in Python: it reads
examples/data/legacy_customers.csv (GB18030, Chinese headers, legacy values, duplicates and
broken rows) with examples/data/legacy_mapping.toml, plans the import without writing, imports
for real into DB_PATH (default: legacy.sqlite, keys in DB_PATH + ".keys.json"), opens the
sampled customers for a manual check, and exports everything unmasked to JSON Lines. Running it
again imports nothing new: every stored row is reported as already applied.
"""

from __future__ import annotations

import sys
from pathlib import Path

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.interchange import (
    ErrorFile,
    ImportPolicy,
    export_customers,
    load_mapping,
    open_source,
    plan_import,
)
from custrec.security import generate_key_file

DATA = Path(__file__).parent / "data"


def main(argv: list[str]) -> int:
    db = Path(argv[1]) if len(argv) > 1 else Path("legacy.sqlite")
    keys = Path(f"{db}.keys.json")
    if not keys.exists():
        generate_key_file(keys)
    store = SQLiteStore(db)
    registry = Registry(store, keyring=KeyRing.from_file(keys))
    migration = Actor(id="migration", roles={"admin"})
    mapping = load_mapping(DATA / "legacy_mapping.toml")
    policy = ImportPolicy(on_match="skip", sample_share=0.2, sample_seed=2024)

    for dry_run in (True, False):
        with (
            open_source(DATA / "legacy_customers.csv") as rows,
            ErrorFile.for_source(db.with_suffix(".errors.csv"), rows.info) as errors,
        ):
            report = plan_import(
                rows,
                mapping,
                registry,
                actor=migration,
                import_id="legacy-crm-2024",
                policy=policy,
                dry_run=dry_run,
                error_file=errors,
            )
        print(report.render(max_issues=5), end="\n\n")

    # The manual check: a person opens the sampled customers (reading them is audited).
    checker = Actor(id="checker", roles={"admin", "unmask"})
    for customer_id in report.sample_ids:
        customer = registry.customers.get(customer_id, actor=checker, purpose="import sample check")
        print(f"check {customer.id}: {customer.name}, {customer.stage.value}")

    exporter = Actor(id="dpo", roles={"admin", "export", "unmask"})
    result = export_customers(registry, db.with_suffix(".jsonl"), actor=exporter)
    print(f"exported {result.exported} customers to {db.with_suffix('.jsonl')}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
