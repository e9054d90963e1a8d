"""StoreContract runs every contract's tests: mixing the contracts hides none of them.

StoreContract inherits from every contract class. Two contract classes that define the same name
do not add up: the class earlier in the method resolution order wins and the other one's test,
fixture or helper silently never runs (or its tests run with the wrong fixture). Contract tests
therefore carry their table in their name when the rule is one several tables share
(``test_work_get_round_trips_every_field``, ``test_changes_a_finished_session_refuses_every_call``).
"""

from __future__ import annotations

from collections import defaultdict

import custrec.testing
from custrec.testing import StoreContract


def mixed_in() -> list[type]:
    """The classes StoreContract is built from, in method resolution order."""
    return [cls for cls in StoreContract.__mro__[1:] if cls is not object]


def own_names(cls: type, *, tests: bool) -> set[str]:
    """The names ``cls`` defines itself: its tests, or (``tests=False``) everything else."""
    return {
        name for name in vars(cls) if not name.startswith("__") and name.startswith("test") == tests
    }


def clashes(*, tests: bool) -> dict[str, list[str]]:
    """Names defined by two mixed-in classes of which neither inherits from the other."""
    owners: dict[str, list[type]] = defaultdict(list)
    for cls in mixed_in():
        for name in own_names(cls, tests=tests):
            owners[name].append(cls)
    return {
        name: [cls.__name__ for cls in classes]
        for name, classes in sorted(owners.items())
        if any(
            not issubclass(a, b) and not issubclass(b, a)
            for i, a in enumerate(classes)
            for b in classes[i + 1 :]
        )
    }


def test_every_exported_contract_is_mixed_into_store_contract() -> None:
    contracts = [getattr(custrec.testing, name) for name in custrec.testing.__all__]
    contracts = [c for c in contracts if isinstance(c, type) and c.__name__.endswith("Contract")]
    assert [c.__name__ for c in contracts if c not in mixed_in() and c is not StoreContract] == []


def test_no_two_contract_classes_define_the_same_test_name() -> None:
    assert clashes(tests=True) == {}


def test_no_two_contract_classes_define_the_same_fixture_or_helper() -> None:
    assert clashes(tests=False) == {}


def test_every_contract_test_runs_under_store_contract() -> None:
    def resolved(name: str) -> type:
        return next(cls for cls in StoreContract.__mro__ if name in vars(cls))

    hidden = [
        f"{cls.__name__}.{name} (hidden by {resolved(name).__name__})"
        for cls in mixed_in()
        for name in sorted(own_names(cls, tests=True))
        if not issubclass(resolved(name), cls)
    ]
    assert hidden == []
