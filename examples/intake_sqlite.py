"""The main job: take a batch of customers into an encrypted SQLite file through the Registry.

    python examples/intake_sqlite.py [DB_PATH] [JSONL_PATH]

Reads one raw customer per line from JSONL_PATH (default: examples/data/customers.jsonl),
normalises and validates each, refuses duplicates on strong identifiers, and stores the rest in
DB_PATH (default: customers.sqlite) with every personal field encrypted. The keys live in
DB_PATH + ".keys.json" (created with mode 0600 on the first run; in production keep them in a
KMS or at least on another disk than the data). Running it again adds nothing: the customers
are already there and are found as duplicates through their blind indexes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.errors import DuplicateCustomer, ValidationFailed
from custrec.security import generate_key_file

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    db_path = Path(argv[1]) if len(argv) > 1 else Path("customers.sqlite")
    source = Path(argv[2]) if len(argv) > 2 else HERE / "data" / "customers.jsonl"
    key_file = Path(f"{db_path}.keys.json")
    if not key_file.exists():
        generate_key_file(key_file)
    store = SQLiteStore(db_path)
    registry = Registry(store, keyring=KeyRing.from_file(key_file))
    clerk = Actor(id="import-job", roles={"admin"})
    added = duplicates = invalid = 0
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                customer = registry.customers.intake(
                    json.loads(line), actor=clerk, reason="demo import"
                )
            except ValidationFailed as exc:
                invalid += 1
                print(f"line {number}: rejected")
                for issue in exc.report.errors:
                    print(f"    {issue}")
            except DuplicateCustomer as exc:
                duplicates += 1
                print(
                    f"line {number}: duplicate of {', '.join(exc.existing_ids)}"
                    f" (same {', '.join(exc.fields)})"
                )
            else:
                added += 1
                # the import job may not unmask: what it sees is masked
                print(f"line {number}: added {customer.id} {customer.name}")
    total = registry.customers.count(actor=clerk)
    print(
        f"\nadded {added}, duplicates {duplicates}, rejected {invalid};"
        f" {total} customers in {db_path}"
    )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
