"""The main job: take a batch of customers into a SQLite file through the Registry.

    python examples/intake_sqlite.py [DB_PATH] [JSONL_PATH]

Reads one raw customer per line from JSONL_PATH (default: examples/data/customers.jsonl),
normalises and validates each, refuses duplicates on strong identifiers, stores the rest in
DB_PATH (default: customers.sqlite) and prints a report. Running it again adds nothing: the
customers are already there and are reported as duplicates.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from custrec import Actor, PlaintextStorageWarning, Registry, SQLiteStore
from custrec.errors import DuplicateCustomer, ValidationFailed

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    db_path = Path(argv[1]) if len(argv) > 1 else Path("customers.sqlite")
    source = Path(argv[2]) if len(argv) > 2 else HERE / "data" / "customers.jsonl"
    # Encryption arrives with the keyring; until then the demo stores plain JSON, knowingly.
    warnings.simplefilter("ignore", PlaintextStorageWarning)
    store = SQLiteStore(db_path)
    registry = Registry(store)
    clerk = Actor(id="import-job", roles={"admin"})
    added = duplicates = invalid = 0
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                customer = registry.intake(json.loads(line), actor=clerk, reason="demo import")
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
                print(f"line {number}: added {customer.id}")
    total = registry.count(actor=clerk)
    print(
        f"\nadded {added}, duplicates {duplicates}, rejected {invalid};"
        f" {total} customers in {db_path}"
    )
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
