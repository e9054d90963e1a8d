"""Estimate Fellegi-Sunter weights on the labelled synthetic set and print them.

How the defaults in ``custrec.matching.parameters`` were made (then rounded by hand)::

    .venv/bin/python benchmarks/estimate_weights.py 20000 --seed 5

Prints the estimated ``Weights.to_dict()`` as JSON, and how many candidate pairs EM saw, and
(from the labels, which the estimate never sees) the true share of matches among them.
"""

from __future__ import annotations

import argparse
import json
import time

from custrec.matching import estimate, profile
from custrec.matching.estimation import candidate_pairs
from custrec.model.records import Customer
from custrec.model.serialization import structure_with_issues
from custrec.testing.synthetic import labelled_customers
from custrec.validation import normalize_customer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    profiles, entities = [], []
    for n, record in enumerate(labelled_customers(args.n, seed=args.seed)):
        built, _ = structure_with_issues({**record.data, "id": f"r{n:07d}"}, Customer)
        assert built is not None
        profiles.append(profile(normalize_customer(built, region="CN")))
        entities.append(record.entity)
    started = time.process_time()
    weights = estimate(profiles)
    seconds = time.process_time() - started
    pairs = candidate_pairs(profiles)
    true = sum(entities[i] == entities[j] for i, j in pairs)
    print(json.dumps(weights.to_dict(), indent=1))
    print(f"candidate pairs {len(pairs)}, true matches among them {true / len(pairs):.4f}")
    print(f"estimate() took {seconds:.1f} CPU-s")


if __name__ == "__main__":
    main()
