"""Benchmark: custrec's batch clustering beside splink's, on the same labelled rows, same run.

    python benchmarks/compare_splink.py [N] [--seed S] [--work DIR] [--json PATH]
                                        [--splink-python PATH] [--no-splink]
                                        [--custrec-src DIR ...] [--rounds R]
                                        [--workers {1,2} ...]

splink lives in its own virtual environment, outside the repository (it is not a dependency of
custrec)::

    python3 -m venv /tmp/splink-venv
    /tmp/splink-venv/bin/pip install splink duckdb pandas pyarrow

What it does (default N = 100000, the project's *harder* labelled set, seed 7):

1. generates ``hard_labelled_customers(N, seed)``, normalises every record as an intake does
   (``custrec.validation.parse_customer``) and writes the normalised fields both tools read
   (kind, name, birth date, gender, phones, e-mails, resident id / credit code / passport, city,
   street) to ``rows.parquet`` in the work directory; takes the same records into an encrypted
   ``SQLiteStore`` there (reused by a later run with the same N and seed: pass ``--work``);
2. runs custrec in a subprocess: ``registry.matching.clusters()`` on that store (reading,
   decrypting and profiling the stored customers included), at the default decision and
   thresholds; ``--workers 1 2`` (the default) runs this tree once per value (2: a second
   process, ``clusters(workers=2, reopen=...)``, reading its keys from the same key file);
   ``--custrec-src DIR`` (repeatable) times another source tree too (an older commit's ``src``,
   say, with one process), and ``--rounds R`` alternates them R times, so that old and new code
   meet the same load;
3. runs splink in a subprocess of the splink environment on ``rows.parquet``: light cleaning in
   pandas (NFKC and case folding; person names with their words sorted; organisation names
   without bracketed region and legal form), a Fellegi-Sunter model on DuckDB written for this
   data from splink's documentation (blocking on phone, e-mail, government id, name + city;
   comparisons on name, phones, e-mail, ids, birth date, address), the prior from deterministic
   rules, u by random sampling, m by expectation-maximisation in several blocking passes,
   then ``predict`` and ``cluster_pairwise_predictions_at_threshold`` at 0.85 (custrec's
   ``probable`` threshold);
4. checks that every custrec run (each tree, each ``--workers``) found the same clusters as
   the first (``same_clusters_as_first_custrec_run``), scores both clusterings pairwise
   against the labels, overall and per case type (``case_metrics``), and prints / writes
   (``--json``) one JSON object: per side CPU seconds (user + system of the worker process and
   its children), wall seconds, peak RSS, precision and recall, with the machine, the Python
   and splink versions and the load average before and after each side.

Not part of the test suite. Figures are in docs/matching.md ("Speed").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SPLINK_THRESHOLD = 0.85


# --------------------------------------------------------------------------- measuring helpers


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_mib": max(me.ru_maxrss, kids.ru_maxrss) / 1024,
    }


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                total = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": total,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------- the splink worker
# Runs in the splink environment: only the standard library, pandas, duckdb and splink.

_LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "股份公司",
    "集团",
    "公司",
    "co.,ltd.",
    "co., ltd.",
    "co ltd",
    "ltd.",
    "ltd",
    "limited",
    "inc.",
    "inc",
)


def _clean_name(kind: str, name: str) -> str:
    import re
    import unicodedata

    text = unicodedata.normalize("NFKC", name if isinstance(name, str) else "").casefold()
    if kind == "organization":
        text = re.sub(r"\([^)]*\)", "", text)  # a bracketed region
        stripped = True
        while stripped:
            stripped = False
            for form in _LEGAL_FORMS:
                if text.rstrip().endswith(form) and len(text.rstrip()) > len(form):
                    text = text.rstrip()[: -len(form)]
                    stripped = True
        return re.sub(r"[\W_]+", "", text)
    words = [re.sub(r"[\W_]+", "", w) for w in re.split(r"[\s,.·・-]+", text)]
    return " ".join(sorted(w for w in words if w))


def _fold(text: str | None) -> str | None:
    import re
    import unicodedata

    if not isinstance(text, str) or not text:
        return None
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold()) or None


def splink_worker(rows: Path, out: Path) -> None:
    """Clean, train, predict and cluster with splink; write the clusters and the figures."""
    started, usage = time.perf_counter(), _usage()
    import logging

    import pandas as pd
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = pd.read_parquet(rows)
    frame["name_clean"] = [
        _clean_name(k, n) for k, n in zip(frame["kind"], frame["name"], strict=True)
    ]
    frame["street_clean"] = [_fold(s) for s in frame["street"]]
    frame["city_clean"] = [_fold(c) for c in frame["city"]]
    frame["emails"] = [[e.casefold() for e in v] if v is not None else [] for v in frame["emails"]]
    for column in ("phones", "emails"):  # an empty list reads as "unknown", not "different"
        frame[column] = [list(v) if v is not None and len(v) else None for v in frame[column]]

    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1e-5,
        blocking_rules_to_generate_predictions=[
            block_on("phones", arrays_to_explode=["phones"]),
            block_on("emails", arrays_to_explode=["emails"]),
            block_on("ric"),
            block_on("uscc"),
            block_on("passport"),
            block_on("name_clean", "city_clean"),
            block_on("street_clean", "city_clean"),
        ],
        comparisons=[
            # a person and an organisation are never one customer: fixed, not trained
            cl.ExactMatch("kind").configure(
                m_probabilities=[1.0, 1e-6], u_probabilities=[0.5, 0.5]
            ),
            cl.JaroWinklerAtThresholds("name_clean", [0.92, 0.8]),
            cl.ArrayIntersectAtSizes("phones", [1]),
            cl.ArrayIntersectAtSizes("emails", [1]),
            cl.ExactMatch("ric"),
            cl.ExactMatch("uscc"),
            cl.ExactMatch("passport"),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("gender"),
            cl.JaroWinklerAtThresholds("street_clean", [0.9]),
            cl.ExactMatch("city_clean"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI()
    table = db_api.register(frame)
    linker = Linker(table, settings, log_level=logging.ERROR)
    trained = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("ric"), block_on("uscc"), block_on("passport")], recall=0.5
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (
        block_on("name_clean", "city_clean"),
        block_on("street_clean", "city_clean"),
        block_on("birth_date"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    trained = time.perf_counter() - trained
    predictions = linker.inference.predict(threshold_match_probability=0.1)
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, SPLINK_THRESHOLD
    )
    result = clustered.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    groups: dict[str, list[str]] = {}
    for uid, cid in zip(result["unique_id"], result["cluster_id"], strict=True):
        groups.setdefault(str(cid), []).append(str(uid))
    pairs = predictions.as_pandas_dataframe()
    end = _usage()
    figures = {
        "tool": f"splink {splink.__version__} (DuckDB {__import__('duckdb').__version__})",
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": end["cpu"] - usage["cpu"],
        "peak_rss_mib": end["rss_mib"],
        "training_wall_seconds": trained,
        "pairs_scored_over_0.1": len(pairs),
        "clusters": [ids for ids in groups.values() if len(ids) > 1],
    }
    out.write_text(json.dumps(figures))


# -------------------------------------------------------------------------- the custrec worker


def open_registry(db: Path, keys: Path) -> Any:
    """The registry over the stored customers, keys read from the key file (also what a
    second process of ``clusters(workers=2, reopen=...)`` calls)."""
    import warnings

    from custrec import KeyRing, PlaintextStorageWarning, Registry, SQLiteStore

    warnings.simplefilter("ignore", PlaintextStorageWarning)
    return Registry(SQLiteStore(db), keyring=KeyRing.from_file(keys))


def custrec_worker(db: Path, keys: Path, out: Path, workers: int) -> None:
    """Cluster the stored customers with registry.matching.clusters(); write the figures."""
    import functools

    from custrec import Actor

    registry = open_registry(db, keys)
    actor = Actor(id="bench", roles={"admin"})
    before, started = _usage(), time.perf_counter()
    if workers == 1:
        run = registry.matching.clusters(actor=actor)
    else:
        reopen = functools.partial(open_registry, db, keys)
        run = registry.matching.clusters(actor=actor, workers=workers, reopen=reopen)
    wall = time.perf_counter() - started
    end = _usage()
    import custrec

    figures = {
        "tool": f"custrec ({Path(custrec.__file__).parent.parent})",
        "workers": workers,
        "wall_seconds": wall,
        "cpu_seconds": end["cpu"] - before["cpu"],
        "peak_rss_mib": end["rss_mib"],
        "comparisons": run.comparisons,
        "conflicts": len(run.conflicts),
        "clusters": [list(c.ids) for c in run.clusters],
    }
    out.write_text(json.dumps(figures))


# ------------------------------------------------------------------------------------ the parent


def _prepare(n: int, seed: int, work: Path) -> dict[str, Any]:
    """Write rows.parquet, fill the encrypted store (once per N and seed); return the labels."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from custrec import Actor, KeyRing, Registry, SQLiteStore
    from custrec.model.records import Address, Contact, Identifier
    from custrec.security.keys import generate_key_file
    from custrec.testing.synthetic import hard_labelled_customers
    from custrec.validation import parse_customer

    marker = work / "prepared.json"
    records = list(hard_labelled_customers(n, seed=seed))
    ids = [f"r{i:08d}" for i in range(n)]
    truth = {cid: rec.label for cid, rec in zip(ids, records, strict=True)}
    if marker.exists() and json.loads(marker.read_text()) == {"n": n, "seed": seed}:
        return truth
    for name in os.listdir(work):  # what an earlier preparation left
        if name.startswith(("custrec.", "rows.", "keys.", "prepared.")):
            (work / name).unlink()
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "unique_id",
            "kind",
            "name",
            "birth_date",
            "gender",
            "phones",
            "emails",
            "ric",
            "uscc",
            "passport",
            "city",
            "street",
        )
    }
    for cid, rec in zip(ids, records, strict=True):
        c = parse_customer({**rec.data, "id": cid}).record
        schemes = {
            str(i.scheme): i.value.upper() for i in c.identifiers if isinstance(i, Identifier)
        }
        contacts = [x for x in c.contacts if isinstance(x, Contact)]
        address = next((a for a in c.addresses if isinstance(a, Address)), None)
        columns["unique_id"].append(cid)
        columns["kind"].append(str(c.kind))
        columns["name"].append(c.name)
        columns["birth_date"].append(c.birth_date.isoformat() if c.birth_date else None)
        columns["gender"].append(str(c.gender) if c.gender not in (None, "unknown") else None)
        columns["phones"].append(sorted({p for x in contacts for p in x.phones}))
        columns["emails"].append(sorted({e for x in contacts for e in x.emails}))
        columns["ric"].append(schemes.get("CN-RIC"))
        columns["uscc"].append(schemes.get("CN-USCC"))
        columns["passport"].append(schemes.get("PASSPORT"))
        columns["city"].append(address.city if address else None)
        columns["street"].append(address.street if address else None)
    pq.write_table(pa.table(columns), work / "rows.parquet")

    generate_key_file(work / "keys.json")
    registry = Registry(
        SQLiteStore(work / "custrec.sqlite"), keyring=KeyRing.from_file(work / "keys.json")
    )
    started = time.perf_counter()
    registry.customers.intake_many(
        ({**rec.data, "id": cid} for cid, rec in zip(ids, records, strict=True)),
        actor=Actor(id="bench", roles={"admin"}),
        allow_duplicates=True,
        batch_size=5000,
    )
    print(f"stored {n:,} customers in {time.perf_counter() - started:.0f} s", flush=True)
    marker.write_text(json.dumps({"n": n, "seed": seed}))
    return truth


def _side(command: list[str], out: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    load_before = os.getloadavg()
    subprocess.run(command, check=True, env=env)
    figures: dict[str, Any] = json.loads(out.read_text())
    figures["load_before"] = [round(x, 2) for x in load_before]
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def _score(figures: dict[str, Any], truth: dict[str, Any]) -> None:
    from custrec.testing.synthetic import case_metrics

    metrics = case_metrics(figures.pop("clusters"), truth)
    figures["precision"] = round(metrics.overall.precision, 4)
    figures["recall"] = round(metrics.overall.recall, 4)
    figures["by_case"] = {
        case: {"precision": round(m.precision, 4), "recall": round(m.recall, 4)}
        for case, m in sorted(metrics.by_case.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/custrec-compare-splink"))
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--splink-python", default="/tmp/splink-venv/bin/python")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument("--custrec-src", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        choices=(1, 2),
        help="processes for this tree's run (each value a run; other trees run with 1)",
    )
    parser.add_argument("--worker", choices=("custrec", "splink"), help=argparse.SUPPRESS)
    parser.add_argument("--args", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "splink":
        splink_worker(Path(args.args[0]), Path(args.args[1]))
        return
    if args.worker == "custrec":
        workers = int(args.args[3]) if len(args.args) > 3 else 1
        custrec_worker(Path(args.args[0]), Path(args.args[1]), Path(args.args[2]), workers)
        return

    args.work.mkdir(parents=True, exist_ok=True)
    truth = _prepare(args.n, args.seed, args.work)
    report: dict[str, Any] = {
        "n": args.n,
        "set": "hard",
        "seed": args.seed,
        "machine": _machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "runs": [],
    }
    sources: list[tuple[Path | None, int]] = [
        *((None, workers) for workers in args.workers),
        *((src, 1) for src in args.custrec_src),
    ]
    first_clusters: list[tuple[str, ...]] | None = None  # every custrec run must find these
    for round_ in range(args.rounds):
        for src, workers in sources:
            out = args.work / "custrec.out.json"
            env = dict(os.environ)
            if src is not None:
                env["PYTHONPATH"] = str(src)
            figures = _side(
                [
                    sys.executable,
                    str(HERE),
                    "--worker",
                    "custrec",
                    "--args",
                    str(args.work / "custrec.sqlite"),
                    str(args.work / "keys.json"),
                    str(out),
                    *([str(workers)] if src is None else []),
                ],
                out,
                env,
            )
            found = sorted(tuple(ids) for ids in figures["clusters"])
            if first_clusters is None:
                first_clusters = found
            figures["same_clusters_as_first_custrec_run"] = found == first_clusters
            _score(figures, truth)
            figures["round"] = round_
            figures["side"] = f"custrec, {workers} process(es)" if src is None else f"custrec@{src}"
            report["runs"].append(figures)
            print(json.dumps({k: v for k, v in figures.items() if k != "by_case"}), flush=True)
        if not args.no_splink:
            out = args.work / "splink.out.json"
            figures = _side(
                [
                    args.splink_python,
                    str(HERE),
                    "--worker",
                    "splink",
                    "--args",
                    str(args.work / "rows.parquet"),
                    str(out),
                ],
                out,
            )
            _score(figures, truth)
            figures["round"] = round_
            figures["side"] = "splink"
            report["runs"].append(figures)
            print(json.dumps({k: v for k, v in figures.items() if k != "by_case"}), flush=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
