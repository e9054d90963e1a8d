"""Labelled synthetic customers with realistic duplicates, for measuring duplicate detection.

:func:`labelled_customers` streams raw customer mappings (what a web form, a CSV import or an API
client hands to :func:`custrec.validation.parse_customer`), each labelled with the ground-truth
entity it describes and the perturbation that produced it. :func:`pair_metrics` scores a
clustering of those records against the labels (pairwise precision, recall and F1).

>>> records = list(labelled_customers(2_000, seed=7))
>>> len(records), records[0].variant
(2000, 'original')
>>> records == list(labelled_customers(2_000, seed=7))
True
>>> truth = {str(i): r.entity for i, r in enumerate(records)}
>>> by_entity = {}
>>> for record_id, entity in truth.items():
...     by_entity.setdefault(entity, []).append(record_id)
>>> pair_metrics(by_entity.values(), truth).f1
1.0

Record ids are the caller's choice (above: the position in the stream); the generator labels
entities ``E0000001``, ``E0000002``, ... in order of their first record.

Data model
----------
Entities are generated one at a time; about 70% are individuals and 30% organisations. Every
record carries a valid Chinese mobile phone (13x/15x/17x/18x/19x), so the
``contact.channel_required`` rule is always met, and every mapping parses without any issue.

*Individuals* get a Chinese name drawn from frequency-weighted surname and given-name lists (the
most common names are very common: a 100,000-record set holds many distinct 张伟, 王芳 or 李娜
in the same city), written in pinyin (``"Zhang Wei"``, sometimes ``"Wei Zhang"``) for about 15%.
About 60% have a gender, 40% a birth date, 60% an e-mail address (pinyin local part with digits,
or a numeric QQ address, at common domains), 80% a home address (province, city, district,
``人民路128号`` style street with an optional ``3栋2单元1502室`` detail, sometimes a postal code)
and 20% a valid resident ID (``CN-RIC``) consistent with the gender and birth date.

*Organisations* are named ``[region] + core + trade + legal form`` (``北京华信科技有限公司``),
sometimes with the region in brackets (``华信科技（北京）有限公司``) or without a region; 70% have
a valid unified social credit code (``CN-USCC``); every one has an industry, a registered address
and a primary contact with a name, (80%) a title, a mobile phone and (75%) an e-mail address at
the company's domain or a common one; half name a legal representative. Legal forms are
有限公司 (55%), 有限责任公司 (25%) and 股份有限公司 (20%, and every bank).

*Hard negatives* (distinct entities that look alike) are produced on purpose: common names
repeat naturally, and besides about 8% of individuals reuse the name and city of a recent
individual, 3% share the home address of a recent individual (a family member, often with the
same surname), 20% of organisations reuse the core, trade and legal form of a recent
organisation in a *different* city (``北京华信银行股份有限公司`` vs ``上海华信银行股份有限公司``)
and 5% share the office building of a recent organisation. A name reused on purpose never
repeats within a city; accidental repeats of a whole organisation name in one city (two random
cores that collide) are rare, about 7 pairs per 100,000 records. Distinct entities practically
never share a phone, an e-mail address or an identifier.

Duplicates
----------
About ``duplicate_share`` of the records are extra copies of an entity already emitted: a
duplicated entity gets 1 (60%), 2 (28%) or 3 (12%) copies, each emitted 1 to ``window`` records
after the original (about one copy in eight comes right after it). Each copy applies one (60%) or
two (40%) perturbations, drawn with these relative weights among those that apply to the entity;
``share`` is the measured share of all copies (at the defaults) that carry the perturbation:

===============  ======  =====  ===============================================================
variant          weight  share  what changes
===============  ======  =====  ===============================================================
typo             3       39%    one character of the name: a similar-sounding or -looking
                                character in a Chinese given name or organisation core (伟 →
                                玮), a substituted, deleted or transposed pinyin letter
swapped_name     3       4%     pinyin name order (``Zhang Wei`` → ``Wei Zhang``); pinyin
                                names only (about a quarter of their copies)
full_width       2       28%    full-width digits in the phone (``１３８…``) or the street
                                number, or full-width letters in a pinyin name
legal_form       3       10%    organisations only (about a third of their copies): 有限公司 ↔
                                有限责任公司, the legal form dropped, 股份有限公司 → 股份公司,
                                or the region moved into or out of brackets
changed_phone    2.5     30%    a new phone number; of the e-mail and the identifier at most
                                one is kept (neither, about half the time, when an address
                                remains); for organisations the contact person is sometimes
                                replaced too
email_case       1.5     12%    the e-mail upper-cased, capitalised, or dropped
address          1.5     17%    district, province or postal code dropped, spaces in the street
                                (``人民路 128号``), or (rarely) the whole address dropped
===============  ======  =====  ===============================================================

A copy's ``variant`` names its perturbations joined by ``+`` in the order above
(``"typo+changed_phone"``); originals are ``"original"``. Phone formatting (spaces, hyphens,
``+86``) varies freely between records: it normalises away and is not a perturbation.

Every copy stays detectable by a careful human: any two records of one entity (original and
copies alike) share a phone, an e-mail (up to case), an identifier, or the same street in the same
city, and their names differ by at most the perturbations above. About one copy in six shares
*no* strong identifier (phone, e-mail, RIC, USCC) with the original: finding those needs fuzzy
name and address evidence.

The harder set
--------------
:func:`hard_labelled_customers` adds the traps real customer files set, each labelled as a case
type in :attr:`LabelledRecord.cases` (:data:`CASE_TYPES`): namesakes who always differ in birth
date and home (``namesake``), family members at one home (``family``), most on the family's
phone (``family_phone``), one company name in several cities (``other_city``), companies in one
building (``same_building``), company groups whose sibling companies (distinct legal entities,
their own credit code or none, the group's core name with another trade) share the group's
fixed-line switchboard (``switchboard``) and often a role mailbox such as ``info@``
(``shared_email``), and copies that lose their identifier (``missing_id``). Copies carry their
entity's traps and their perturbations. :func:`case_metrics` reports pairwise precision and
recall overall and per case type.

Generation is streaming: memory is bounded by the duplicate window and a few small buffers of
recent entities, not by ``n``. Output depends only on the arguments (one private
``random.Random(seed)``; no global state).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs

from custrec._checks import check, int_range, number_range, positive_int
from custrec.matching.clusters import ClusterRun
from custrec.testing._synthetic.generator import _Generator
from custrec.testing._synthetic.model import _Draft
from custrec.testing._synthetic.tables import _ADJACENT, _COPY_COUNTS, _MAX_SHARE, _MEAN_COPIES

__all__ = [
    "CASE_TYPES",
    "HARD_VARIANTS",
    "VARIANTS",
    "CaseMetrics",
    "Label",
    "LabelledRecord",
    "PairMetrics",
    "case_metrics",
    "hard_labelled_customers",
    "labelled_customers",
    "pair_metrics",
]

VARIANTS: Final = (
    "original",
    "typo",
    "swapped_name",
    "full_width",
    "legal_form",
    "changed_phone",
    "email_case",
    "address",
)
"""Every perturbation name a :attr:`LabelledRecord.variant` of :func:`labelled_customers` may
contain."""

HARD_VARIANTS: Final = (*VARIANTS, "missing_id")
"""Every perturbation name of :func:`hard_labelled_customers`: also ``missing_id``."""

TRAPS: Final = (
    "namesake",
    "family",
    "family_phone",
    "other_city",
    "same_building",
    "switchboard",
    "shared_email",
)

CASE_TYPES: Final = (*TRAPS, *HARD_VARIANTS[1:])
"""Every case type a :attr:`LabelledRecord.cases` may hold: the hard negatives an entity was
made for (``namesake``, ``family``, ``family_phone``, ``other_city``, ``same_building``,
``switchboard``, ``shared_email``; copies inherit them) and a copy's perturbations."""


@attrs.frozen
class Label:
    """The ground truth of one record: its entity and its case types (see :data:`CASE_TYPES`)."""

    entity: str
    cases: tuple[str, ...] = ()


@attrs.frozen
class LabelledRecord:
    """One synthetic record: a raw mapping and its ground truth.

    ``entity`` is the id of the real-world customer the record describes (records of one entity
    are duplicates of each other); ``data`` is a raw mapping that
    :func:`custrec.validation.parse_customer` accepts without any issue; ``variant`` is
    ``"original"`` for an entity's first record, otherwise the perturbations that produced the
    copy joined by ``+`` (see :data:`VARIANTS`).
    """

    entity: str
    data: dict[str, Any]
    variant: str
    cases: tuple[str, ...] = ()
    """The record's case types: its entity's hard-negative traps, then its perturbations."""

    @property
    def label(self) -> Label:
        """The record's ground truth without its data (what :func:`case_metrics` needs)."""
        return Label(self.entity, self.cases)


# ------------------------------------------------------------------------------- the stream


def labelled_customers(
    n: int, *, seed: int = 0, duplicate_share: float = 0.2, window: int = 300
) -> Iterator[LabelledRecord]:
    """Yield exactly ``n`` labelled raw customer records, deterministically for ``seed``.

    About ``duplicate_share`` of the records (0 to 0.6) are perturbed copies of an entity already
    emitted, each 1 to ``window`` records after that entity's original (see the module docstring
    for the data model and the perturbations). Near the end of the stream fewer copies are
    planned, so that every planned copy is emitted. Memory stays bounded by ``window``, whatever
    ``n``. Raises ``ValueError`` for a negative ``n``, a share outside ``[0, 0.6]`` or a
    ``window`` below 1 (``TypeError`` for a ``bool`` or another type where a number belongs).
    """
    check("n", n, int_range(0))
    check("duplicate_share", duplicate_share, number_range(0, _MAX_SHARE))
    check("window", window, positive_int())
    return _stream(n, random.Random(seed), duplicate_share, window, hard=False)


def hard_labelled_customers(
    n: int, *, seed: int = 0, duplicate_share: float = 0.2, window: int = 300
) -> Iterator[LabelledRecord]:
    """Yield ``n`` labelled records of the *harder* set, deterministically for ``seed``.

    As :func:`labelled_customers` (same arguments, same perturbations, same guarantees that
    every record parses and that records of one entity are linked), with the traps real data
    sets: namesakes (12% of individuals) that always carry a different birth date and home in
    the same city; family members at one home (6%), most of them on the family's phone; for
    organisations, besides a name reused in another city and a shared building, company groups:
    30% of ordinary organisations head a group with a fixed-line switchboard (and for 40% a
    role mailbox such as ``info@`` at the group's domain), and 12% of organisations are a
    sibling company of a recent group, distinct legal entity (its own credit code, or none) with
    the group's core name and another trade, in the group's building, on its switchboard (as its
    only number or beside its own) and half the time on its mailbox. So shared switchboards,
    family phones and generic mailboxes bridge records of different entities. Copies may also
    lose their identifier (``missing_id``). Every record's :attr:`~LabelledRecord.cases` names
    its case types.
    """
    check("n", n, int_range(0))
    check("duplicate_share", duplicate_share, number_range(0, _MAX_SHARE))
    check("window", window, positive_int())
    return _stream(n, random.Random(seed), duplicate_share, window, hard=True)


def _stream(
    n: int, rng: random.Random, share: float, window: int, *, hard: bool
) -> Iterator[LabelledRecord]:
    gen = _Generator(rng, hard=hard)
    # copies per entity on average, so that copies / records == share
    p_duplicated = share / (1.0 - share) / _MEAN_COPIES
    pending: list[tuple[int, int, LabelledRecord]] = []  # (due position, tie-break, record)
    sequence = 0
    entities = 0
    position = 0
    while position < n:
        if pending and (pending[0][0] <= position or len(pending) >= n - position):
            yield heapq.heappop(pending)[2]
            position += 1
            continue
        entities += 1
        original = gen.entity(f"E{entities:07d}")
        yield LabelledRecord(original.entity, original.render(), "original", original.traps)
        position += 1
        if not gen.chance(p_duplicated):
            continue
        room = n - position - len(pending)  # slots left for new copies
        copies: list[_Draft] = []
        for _ in range(min(int(_COPY_COUNTS.draw(rng)), room)):
            draft, variant = gen.copy(original, copies)
            copies.append(draft)
            offset = 1 if gen.chance(_ADJACENT) else gen.integer(1, window)
            sequence += 1
            cases = (*draft.traps, *variant.split("+"))
            record = LabelledRecord(original.entity, draft.render(), variant, cases)
            heapq.heappush(pending, (position - 1 + offset, sequence, record))


# ------------------------------------------------------------------------------------ metrics


@attrs.frozen
class PairMetrics:
    """Pairwise scores of a clustering: a pair is two records placed in one cluster.

    ``precision`` is ``true_positives / (true_positives + false_positives)`` and is 1.0 when no
    pair is predicted; ``recall`` is ``true_positives / (true_positives + false_negatives)`` and
    is 1.0 when there is no true pair; ``f1`` is their harmonic mean (0.0 when both are 0).
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float


def _pairs_of(count: int) -> int:
    return count * (count - 1) // 2


def pair_metrics(predicted: Iterable[Iterable[str]], truth: Mapping[str, str]) -> PairMetrics:
    """Score predicted clusters of record ids against ``truth`` (record id -> entity id).

    ``predicted`` holds disjoint clusters; singletons may be omitted, and every record missing
    from ``predicted`` counts as a singleton. Pairs are counted, never enumerated: a cluster of
    ``k`` records predicts ``k * (k - 1) / 2`` pairs, of which the true ones are the pairs inside
    each entity's share of the cluster. Raises ``ValueError`` for an id that is not in ``truth``
    or that appears twice.

    >>> truth = {"a": "E1", "b": "E1", "c": "E1", "d": "E2", "e": "E2"}
    >>> m = pair_metrics([["a", "b"], ["c", "d"]], truth)
    >>> m.true_positives, m.false_positives, m.false_negatives
    (1, 1, 3)
    >>> m.precision, m.recall
    (0.5, 0.25)
    >>> pair_metrics([], truth).precision
    1.0
    """
    seen: set[str] = set()
    true_positives = predicted_pairs = 0
    for cluster in predicted:
        entities: Counter[str] = Counter()
        size = 0
        for record_id in cluster:
            if record_id in seen:
                raise ValueError(f"record {record_id!r} appears in more than one place")
            if record_id not in truth:
                raise ValueError(f"record {record_id!r} is not labelled in truth")
            seen.add(record_id)
            entities[truth[record_id]] += 1
            size += 1
        predicted_pairs += _pairs_of(size)
        true_positives += sum(_pairs_of(k) for k in entities.values())
    true_pairs = sum(_pairs_of(k) for k in Counter(truth.values()).values())
    false_positives = predicted_pairs - true_positives
    false_negatives = true_pairs - true_positives
    precision = true_positives / predicted_pairs if predicted_pairs else 1.0
    recall = true_positives / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairMetrics(true_positives, false_positives, false_negatives, precision, recall, f1)


@attrs.frozen
class CaseMetrics:
    """Pairwise scores of a clustering, overall and per case type.

    ``by_case`` maps every case type that some labelled record carries to the pairwise scores of
    the pairs *involving* that case: a pair (predicted or true) counts under every case type
    either of its two records carries, so ``by_case["switchboard"].precision`` is the share of
    predicted pairs touching a switchboard company that are right, and
    ``by_case["typo"].recall`` the share of true pairs touching a typo copy that were found.
    A pair of records without any case type counts under ``"plain"``.
    """

    overall: PairMetrics
    by_case: Mapping[str, PairMetrics]

    def table(self) -> str:
        """The figures as a small plain-text table, one line per case type."""
        lines = [f"{'case':<16}{'precision':>10}{'recall':>9}{'TP':>10}{'FP':>8}{'FN':>8}"]
        for case, m in [("overall", self.overall), *sorted(self.by_case.items())]:
            lines.append(
                f"{case:<16}{m.precision:>10.4f}{m.recall:>9.4f}"
                f"{m.true_positives:>10,}{m.false_positives:>8,}{m.false_negatives:>8,}"
            )
        return "\n".join(lines)


def _touching(size: int, tagged: int, case: str) -> int:
    """Pairs among ``size`` records with at least one of the ``tagged`` ones (both, for plain)."""
    if case == "plain":
        return _pairs_of(tagged)
    return _pairs_of(size) - _pairs_of(size - tagged)


def case_metrics(
    predicted: ClusterRun | Iterable[Iterable[str]], truth: Mapping[str, Label | LabelledRecord]
) -> CaseMetrics:
    """Score a clustering against labels, overall and per case type (see :class:`CaseMetrics`).

    ``predicted`` is a :class:`~custrec.matching.ClusterRun` or disjoint clusters of record ids
    (singletons may be left out); ``truth`` maps every record id to its :class:`Label` (or its
    :class:`LabelledRecord`). Pairs are counted, never enumerated. Raises ``ValueError`` as
    :func:`pair_metrics` does.

    >>> truth = {
    ...     "a": Label("E1"), "b": Label("E1", ("typo",)),
    ...     "c": Label("E2", ("switchboard",)), "d": Label("E3"),
    ... }
    >>> m = case_metrics([["a", "b", "c"]], truth)
    >>> m.overall.precision, m.by_case["typo"].recall, m.by_case["switchboard"].precision
    (0.3333333333333333, 1.0, 0.0)
    """
    clusters = (
        [c.ids for c in predicted.clusters]
        if isinstance(predicted, ClusterRun)
        else [list(c) for c in predicted]
    )
    labels = {rid: (t.entity, t.cases or ("plain",)) for rid, t in truth.items()}
    overall = pair_metrics(clusters, {rid: entity for rid, (entity, _) in labels.items()})
    predicted_pairs: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for cluster in clusters:
        tagged: Counter[str] = Counter()
        per_entity: dict[str, Counter[str]] = {}
        sizes: Counter[str] = Counter()
        for rid in cluster:
            entity, cases = labels[rid]
            sizes[entity] += 1
            mine = per_entity.setdefault(entity, Counter())
            for case in set(cases):
                tagged[case] += 1
                mine[case] += 1
        for case, count in tagged.items():
            predicted_pairs[case] += _touching(len(cluster), count, case)
        for entity, counts in per_entity.items():
            for case, count in counts.items():
                found[case] += _touching(sizes[entity], count, case)
    entity_sizes: Counter[str] = Counter()
    entity_tags: dict[str, Counter[str]] = {}
    for entity, cases in labels.values():
        entity_sizes[entity] += 1
        tags = entity_tags.setdefault(entity, Counter())
        for case in set(cases):
            tags[case] += 1
    true_pairs: Counter[str] = Counter()
    seen: set[str] = set()
    for entity, tags in entity_tags.items():
        for case, count in tags.items():
            seen.add(case)
            true_pairs[case] += _touching(entity_sizes[entity], count, case)
    by_case = {
        case: _metrics(found[case], predicted_pairs[case], true_pairs[case])
        for case in sorted(seen)
    }
    return CaseMetrics(overall, by_case)


def _metrics(true_positives: int, predicted: int, true: int) -> PairMetrics:
    precision = true_positives / predicted if predicted else 1.0
    recall = true_positives / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairMetrics(
        true_positives, predicted - true_positives, true - true_positives, precision, recall, f1
    )
