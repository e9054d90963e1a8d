"""``custrec grade``: every built-in grading policy, its parameters, and where the grade goes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any, Final

from custrec.cli._support import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
    _actor,
    _as_of,
    _counting,
    _Failure,
    _instant,
    _numbers,
    _positive,
    _print,
    _registry,
    _zone_flag,
)
from custrec.grading import (
    ABCD_LABELS,
    METRICS,
    STAR_LABELS,
    ChurnPolicy,
    ParetoPolicy,
    RFMPolicy,
    StarPolicy,
    ThresholdPolicy,
    abcd_by_amount,
)
from custrec.interchange import render_table

POLICIES: Final = (
    "rfm",
    "pareto-value",
    "pareto-customers",
    "abcd",
    "threshold",
    "stars",
    "churn",
)
"""The policies ``custrec grade --policy`` knows."""

DEFAULT_DIMENSIONS: Final = {"churn": "churn"}
"""Where a policy's grade goes without ``--dimension``; the others set the primary grade."""

PRIMARY: Final = "grade"

OPTION_POLICIES: Final = {
    "labels": ("pareto-value", "pareto-customers", "abcd", "threshold", "stars"),
    "cuts": ("abcd", "threshold", "stars"),
    "currency": ("abcd", "threshold"),
    "metric": ("threshold",),
    "exclusive": ("abcd", "threshold"),
    "bins": ("rfm",),
    "breakpoints": ("pareto-value", "pareto-customers"),
    "amount_weight": ("stars",),
    "frequency_weight": ("stars",),
    "k": ("churn",),
}
"""The policies each policy option applies to; giving one to any other policy is a usage error."""


def _labels(text: str) -> tuple[str, ...]:
    labels = tuple(part.strip() for part in text.split(","))
    if not all(labels):
        raise argparse.ArgumentTypeError("expected labels separated by commas")
    return labels


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError("expected a finite number")
    return value


def add_grade_command(
    commands: Any,
    common: Callable[[argparse.ArgumentParser], None],
    progress: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``grade`` to the subcommands ``commands``."""
    grade = commands.add_parser(
        "grade",
        help="grade every customer with a policy and store the grade",
        description="Grade every customer and store the grade: the primary grade, or a named "
        "dimension with --dimension (churn writes to the 'churn' dimension by default).",
    )
    grade.add_argument("--policy", required=True, choices=POLICIES)
    grade.add_argument("--as-of", type=_instant, help="date or date-time (default: now)")
    _zone_flag(grade)
    grade.add_argument(
        "--dimension",
        help="where the grade goes: 'grade' for the primary grade, else a dimension name "
        "([a-z][a-z0-9_]*; default: the primary grade, 'churn' for --policy churn)",
    )
    grade.add_argument(
        "--labels", type=_labels, help="labels best first (pareto, abcd, threshold, stars)"
    )
    grade.add_argument(
        "--cuts",
        type=_numbers,
        help="abcd: amounts for A,B[,C], e.g. 100000,20000; threshold: the cut points, best "
        "first; stars: four combined-score cuts in (0, 1], default 0.2,0.4,0.6,0.8",
    )
    grade.add_argument("--currency", help="abcd, threshold: currency of the cuts (CNY)")
    grade.add_argument(
        "--metric",
        choices=METRICS,
        help="threshold: the metric cut (default total_spent)",
    )
    grade.add_argument(
        "--exclusive",
        action="store_true",
        help="abcd, threshold: a value must pass a cut strictly (default: reaching it passes)",
    )
    grade.add_argument("--bins", type=_positive, help="rfm: score levels (default 5)")
    grade.add_argument(
        "--breakpoints", type=_numbers, help="pareto: cumulative shares, default 0.8,0.95"
    )
    grade.add_argument("--amount-weight", type=_number, help="stars: weight of amount (0.6)")
    grade.add_argument("--frequency-weight", type=_number, help="stars: weight of frequency (0.4)")
    grade.add_argument(
        "--k",
        type=_number,
        help="churn: flagged when silent for more than k x the mean purchase gap (2)",
    )
    progress(grade)
    common(grade)


def _refuse_foreign_options(args: argparse.Namespace) -> None:
    """Fail on an option given that the chosen policy would silently ignore."""
    for dest, policies in OPTION_POLICIES.items():
        given = getattr(args, dest)
        if given is None or given is False or args.policy in policies:
            continue
        flag = "--" + dest.replace("_", "-")
        raise _Failure(
            EXIT_USAGE,
            f"{flag} does not apply to --policy {args.policy} "
            f"(it applies to: {', '.join(policies)})",
        )


def _threshold(args: argparse.Namespace) -> ThresholdPolicy:
    if not args.cuts:
        raise _Failure(EXIT_USAGE, "--policy threshold needs --cuts (the cut points, best first)")
    labels = args.labels or ABCD_LABELS[: len(args.cuts) + 1]
    if len(labels) != len(args.cuts) + 1:
        raise _Failure(EXIT_USAGE, f"--policy threshold with {len(args.cuts)} cuts needs --labels")
    metric = args.metric or "total_spent"
    amount = metric == "total_spent"
    if args.currency is not None and not amount:
        raise _Failure(
            EXIT_USAGE, f"--currency does not apply to --metric {metric} (not an amount)"
        )
    return ThresholdPolicy(
        metric,
        tuple(args.cuts),
        labels,
        inclusive=not args.exclusive,
        currency=(args.currency or "CNY") if amount else None,
    )


def grading_policy(args: argparse.Namespace) -> Any:
    """The policy ``--policy`` and its options describe; ``ValueError``/``TypeError`` from
    the policy for bad parameters, :class:`_Failure` for missing options or for options the
    policy does not take."""
    _refuse_foreign_options(args)
    if args.policy == "rfm":
        return RFMPolicy(bins=5 if args.bins is None else args.bins)
    if args.policy in ("pareto-value", "pareto-customers"):
        points = tuple(float(p) for p in args.breakpoints) if args.breakpoints else (0.8, 0.95)
        labels = args.labels or tuple(chr(ord("A") + i) for i in range(len(points) + 1))
        if args.policy == "pareto-value":
            return ParetoPolicy(basis="value", breakpoints=points, labels=labels)
        return ParetoPolicy(basis="customers", breakpoints=points, labels=labels)
    if args.policy == "stars":
        cuts = tuple(float(c) for c in args.cuts) if args.cuts else (0.2, 0.4, 0.6, 0.8)
        return StarPolicy(
            amount_weight=0.6 if args.amount_weight is None else args.amount_weight,
            frequency_weight=0.4 if args.frequency_weight is None else args.frequency_weight,
            cuts=cuts,
            labels=args.labels or STAR_LABELS,
        )
    if args.policy == "churn":
        return ChurnPolicy(k=2.0 if args.k is None else args.k)
    if args.policy == "threshold":
        return _threshold(args)
    if not args.cuts or len(args.cuts) not in (2, 3):
        raise _Failure(EXIT_USAGE, "--policy abcd needs --cuts A,B or A,B,C (amounts)")
    a, b, *rest = args.cuts
    c = rest[0] if rest else Decimal("0.01")
    currency = args.currency or "CNY"
    if args.labels:
        return ThresholdPolicy(
            "total_spent",
            (a, b, c),
            args.labels,
            inclusive=not args.exclusive,
            currency=currency,
        )
    return abcd_by_amount(a, b, c=c, currency=currency, inclusive=not args.exclusive)


def _dimension(args: argparse.Namespace) -> str | None:
    chosen = args.dimension or DEFAULT_DIMENSIONS.get(args.policy, PRIMARY)
    return None if chosen == PRIMARY else chosen


def _cmd_grade(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    try:
        policy = grading_policy(args)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise _Failure(EXIT_USAGE, f"invalid grading policy: {exc}") from None
    dimension = _dimension(args)
    as_of = _as_of(args) or datetime.now(UTC)
    actor = _actor(args, {"admin"})
    with (
        _registry(args) as registry,
        _counting(args, err, registry, label="grading") as progress,
    ):
        try:
            report = registry.grading.regrade(
                policy, as_of=as_of, actor=actor, dimension=dimension, progress=progress
            )
        except ValueError as exc:  # e.g. RFM over a population without purchases
            message = str(exc)
            if "dimension" in message:
                raise _Failure(EXIT_USAGE, f"--dimension: {message}") from None
            if "population has purchases" in message:
                message += " (record transactions first, e.g. with custrec import-activities)"
            raise _Failure(EXIT_CONFIG, f"cannot grade: {message}") from None
    where = "the primary grade" if dimension is None else f"dimension '{dimension}'"
    _print(out, f"{report.policy_id} as of {as_of.isoformat()}, into {where}")
    _print(
        out,
        f"graded {report.graded}: {report.changed} changed ({report.upgrades} up, "
        f"{report.downgrades} down), {report.unchanged} unchanged; "
        f"skipped {len(report.skipped_mixed_currencies)} (several currencies), "
        f"{len(report.skipped_by_consent)} (refused profiling)",
    )
    table = [(label, str(n)) for label, n in report.counts]
    _print(out, render_table(("grade", "customers"), table, align="lr"))
    return EXIT_OK
