"""Each row validated once (issue 16): ``registry.customers.prepare`` validates with the
registry's rules and region, and intake takes what it issued without validating it again, while
nothing built by hand skips validation."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from custrec import Actor, MemoryStore, PlaintextStorageWarning, Registry
from custrec.errors import ValidationFailed
from custrec.model.issues import ValidationReport
from custrec.services import _preparation
from custrec.services.customers import PreparedCustomer
from custrec.testing import TickingClock
from custrec.validation import parse_customer

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CLERK = Actor(id="clerk", roles={"admin", "unmask"})
OTHER = Actor(id="other", roles={"admin", "unmask"})


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"钱{n:04d}",
        "contacts": [{"phones": [f"1360000{n:04d}"], "emails": [f"P{n}@Example.cn"]}],
        **extra,
    }


def make_registry() -> Registry:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        return Registry(MemoryStore(), clock=TickingClock(T0))


@pytest.fixture
def registry() -> Registry:
    return make_registry()


def test_a_prepared_customer_is_stored_without_a_second_validation(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    prepared = [registry.customers.prepare(person(n), actor=CLERK) for n in range(3)]
    assert all(p.ok and p.report.ok for p in prepared)
    assert prepared[0].record is not None
    assert prepared[0].record.contacts[0].phones == ("+8613600000000",)  # normalised
    counting = count_intake_validations()
    result = registry.customers.intake_many(prepared, actor=CLERK)
    assert counting.calls == 0
    assert result.added == tuple(p.record.id for p in prepared if p.record is not None)
    stored = registry.customers.get(result.added[0], actor=CLERK)
    assert stored.owner == CLERK.id and stored.version == 1
    assert counting.calls == 0
    single = registry.customers.prepare(person(9), actor=CLERK)
    counting.calls = 0
    assert registry.customers.intake(single, actor=CLERK).version == 1
    assert counting.calls == 0


def test_the_same_as_intake_of_the_raw_data(registry: Registry) -> None:
    direct = registry.customers.intake(person(1, id="c-direct"), actor=CLERK)
    other = make_registry()
    prepared = other.customers.prepare(person(1, id="c-direct"), actor=CLERK)
    via = other.customers.intake(prepared, actor=CLERK)
    assert attrs.evolve(via, created_at=direct.created_at, updated_at=direct.updated_at) == direct


def test_with_id_keeps_it_trusted_and_checks_the_id(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    prepared = registry.customers.prepare(person(2), actor=CLERK).with_id("import-7-row-2")
    counting = count_intake_validations()
    assert registry.customers.intake_many([prepared], actor=CLERK).added == ("import-7-row-2",)
    assert counting.calls == 0
    for bad in ("", "a\x00b", "\ud800"):
        with pytest.raises(ValueError, match="customer_id"):
            prepared.with_id(bad)
    with pytest.raises(TypeError):
        prepared.with_id(7)  # type: ignore[arg-type]
    failed = registry.customers.prepare({"kind": "individual"}, actor=CLERK)
    with pytest.raises(ValueError, match="failed validation"):
        failed.with_id("x")


def test_invalid_data_is_reported_by_prepare_and_rejected_by_intake(registry: Registry) -> None:
    bad = registry.customers.prepare(person(3, contacts=[{"phones": ["12"]}]), actor=CLERK)
    assert not bad.ok and bad.record is None and not bad.report.ok
    result = registry.customers.intake_many([bad], actor=CLERK)
    assert result.rejected == {0: bad.report}
    with pytest.raises(ValidationFailed):
        registry.customers.intake(bad, actor=CLERK)
    restricted = registry.customers.prepare(person(4, state="restricted"), actor=CLERK)
    assert restricted.record is None
    assert "state.restricted" in {i.code for i in restricted.report.issues}


def test_nothing_built_by_hand_or_elsewhere_skips_validation(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    parsed = parse_customer(person(5), as_of=T0).record
    assert parsed is not None
    invalid = attrs.evolve(parsed, name="")  # a name is required
    forged = PreparedCustomer(invalid, ValidationReport(()), CLERK.id, issuer=_preparation.Issuer())
    elsewhere = make_registry().customers.prepare(person(6), actor=CLERK)
    by_other_actor = registry.customers.prepare(person(7), actor=OTHER)
    counting = count_intake_validations()
    result = registry.customers.intake_many(
        [forged, elsewhere, by_other_actor, parse_customer(person(8))], actor=CLERK
    )
    assert set(result.rejected) == {0, 3}  # the forged record is invalid; a ParseResult is no item
    assert len(result.added) == 2
    assert counting.calls == 3  # validated again: the forged, the foreign, the other actor's
    with pytest.raises(TypeError):
        registry.customers.prepare([("kind", "individual")], actor=CLERK)  # type: ignore[arg-type]


# --- preparations: the same trust across processes ------------------------------------------------


def round_trip(value: Any) -> Any:
    """What a worker process receives or sends back."""
    return pickle.loads(pickle.dumps(value))


def test_a_preparation_prepares_in_another_process_and_intake_trusts_the_result(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    preparation = round_trip(registry.customers.preparation(actor=CLERK, as_of=T0))
    prepared = round_trip(preparation.prepare(person(9)).with_id("import-7-row-9"))
    assert prepared.ok and prepared.record.contacts[0].phones == ("+8613600000009",)
    counting = count_intake_validations()
    assert registry.customers.intake_many([prepared], actor=CLERK).added == ("import-7-row-9",)
    assert counting.calls == 0  # validated once, in the "worker"
    assert "ticket" not in repr(preparation) and preparation.region == "CN"


def test_a_preparation_reports_invalid_data_and_refuses_a_restriction(registry: Registry) -> None:
    preparation = registry.customers.preparation(actor=CLERK, as_of=T0)
    bad = round_trip(preparation.prepare(person(3, contacts=[{"phones": ["12"]}])))
    assert not bad.ok and registry.customers.intake_many([bad], actor=CLERK).rejected == {
        0: bad.report
    }
    restricted = preparation.prepare(person(4, state="restricted"))
    assert "state.restricted" in {i.code for i in restricted.report.issues}
    with pytest.raises(TypeError):
        preparation.prepare([("kind", "individual")])


def test_only_a_ticket_this_registry_issued_to_this_actor_is_trusted(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    parsed = parse_customer(person(5), as_of=T0).record
    assert parsed is not None
    invalid = attrs.evolve(parsed, name="")  # a name is required
    guessed = PreparedCustomer(invalid, ValidationReport(()), CLERK.id, ticket="0" * 32)
    foreign = make_registry().customers.preparation(actor=CLERK, as_of=T0).prepare(person(6))
    for_other = registry.customers.preparation(actor=OTHER, as_of=T0).prepare(person(7))
    relabelled = attrs.evolve(for_other, actor_id=CLERK.id)  # another actor's ticket
    unpickled = round_trip(registry.customers.prepare(person(8), actor=CLERK))  # no ticket
    counting = count_intake_validations()
    result = registry.customers.intake_many(
        [guessed, foreign, for_other, relabelled, unpickled], actor=CLERK
    )
    assert set(result.rejected) == {0}  # the guessed ticket's record is invalid
    assert counting.calls == 5  # every one validated again


def test_a_preparation_checks_its_region_and_instant_up_front(registry: Registry) -> None:
    with pytest.raises(ValueError, match="region"):
        registry.customers.preparation(actor=CLERK, region="XX")
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.customers.preparation(actor=CLERK, as_of=datetime(2026, 1, 1))
    assert registry.customers.preparation(actor=CLERK, region="us").region == "US"


def test_a_prepared_result_changed_after_the_trip_is_validated_again(
    registry: Registry, count_intake_validations: Callable[[], Any]
) -> None:
    preparation = registry.customers.preparation(actor=CLERK, as_of=T0)
    good = round_trip(preparation.prepare(person(11)))
    assert good.record is not None
    broken = attrs.evolve(good.record, name="")  # a name is required
    changed = attrs.evolve(good, record=broken)  # keeps the ticket and the seal
    rebuilt = PreparedCustomer(broken, good.report, CLERK.id, ticket=good._ticket, seal=good._seal)
    counting = count_intake_validations()
    result = registry.customers.intake_many([changed, rebuilt], actor=CLERK)
    assert set(result.rejected) == {0, 1} and result.added == ()
    assert counting.calls == 2
    assert registry.customers.intake_many([good], actor=CLERK).added == (good.record.id,)
    assert counting.calls == 2  # the untouched result is still trusted
