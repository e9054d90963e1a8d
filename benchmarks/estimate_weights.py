"""Estimate Fellegi-Sunter weights on the labelled synthetic set; score candidate pairs.

How the defaults in ``custrec.matching.parameters`` were made (then rounded by hand)::

    .venv/bin/python benchmarks/estimate_weights.py 20000 --seed 5

Prints the estimated ``Weights.to_dict()`` as JSON and how many candidate pairs EM saw. With
``--evaluate`` it also scores every candidate pair with the *default* weights (with the
contact evidence counted once, and added up) and prints, per ``probable`` threshold, the pairwise
precision and recall among candidate pairs against the labels (which the estimate never sees);
``--hard`` uses ``hard_labelled_customers`` instead.
"""

from __future__ import annotations

import argparse
import json
import time

from custrec.matching import MatchDecision, Weights, compare, estimate, profile
from custrec.matching.estimation import candidate_pairs
from custrec.model.records import Customer
from custrec.model.serialization import structure_with_issues
from custrec.testing.synthetic import hard_labelled_customers, labelled_customers
from custrec.validation import normalize_customer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--hard", action="store_true", help="the harder labelled set")
    parser.add_argument("--evaluate", action="store_true", help="score the candidate pairs")
    args = parser.parse_args()
    source = hard_labelled_customers if args.hard else labelled_customers
    profiles, entities = [], []
    for n, record in enumerate(source(args.n, seed=args.seed)):
        built, _ = structure_with_issues({**record.data, "id": f"r{n:07d}"}, Customer)
        assert built is not None
        profiles.append(profile(normalize_customer(built, region="CN")))
        entities.append(record.entity)
    started = time.process_time()
    weights = estimate(profiles)
    seconds = time.process_time() - started
    pairs = sorted(candidate_pairs(profiles))
    true = sum(entities[i] == entities[j] for i, j in pairs)
    print(json.dumps(weights.to_dict(), indent=1))
    print(f"candidate pairs {len(pairs)}, true matches among them {true / len(pairs):.4f}")
    print(f"estimate() took {seconds:.1f} CPU-s")
    if not args.evaluate:
        return
    for once in (True, False):
        w = Weights(contact_once=once)
        scored = []
        for i, j in pairs:
            m = compare(profiles[i], profiles[j], weights=w)
            decided = m.decision is MatchDecision.SAME
            score = 1.0 if decided else (0.0 if m.decision is MatchDecision.DISTINCT else m.score)
            scored.append((score, entities[i] == entities[j]))
        for threshold in (0.5, 0.85, 0.9, 0.95, 0.99):
            chosen = [same for score, same in scored if score >= threshold]
            hits = sum(chosen)
            print(
                f"contact_once={once} probable>={threshold}: precision "
                f"{hits / max(1, len(chosen)):.4f} recall {hits / max(1, true):.4f}"
            )


if __name__ == "__main__":
    main()
