"""custrec.storage.closing: work a store runs when it closes, before it lets go."""

from __future__ import annotations

import gc

import pytest

from custrec.storage import closing


class Store:
    pass


class SlottedStore:  # cannot be weakly referenced
    __slots__ = ()


class Registryish:
    def __init__(self, seen: list[str], name: str) -> None:
        self.seen, self.name = seen, name

    def flush(self) -> None:
        self.seen.append(self.name)


def test_callbacks_run_once_in_the_order_they_were_registered() -> None:
    store, seen = Store(), []
    closing.on_close(store, lambda: seen.append("first"))
    closing.on_close(store, lambda: seen.append("second"))
    closing.run_close_hooks(store)
    closing.run_close_hooks(store)
    assert seen == ["first", "second"]


def test_a_dropped_registry_is_not_kept_alive_and_its_reference_is_pruned() -> None:
    store, seen = Store(), []
    kept = Registryish(seen, "kept")
    for n in range(100):
        closing.on_close(store, Registryish(seen, f"dropped {n}").flush)
        gc.collect()
    closing.on_close(store, kept.flush)
    assert len(closing._hooks[store]) <= 2  # the dead ones were pruned on the way
    closing.run_close_hooks(store)
    assert seen == ["kept"]


def test_a_callback_that_raises_warns_and_the_others_still_run() -> None:
    store, seen = Store(), []

    def broken() -> None:
        raise ValueError("private detail 13800138000")

    closing.on_close(store, broken)
    closing.on_close(store, lambda: seen.append("after"))
    with pytest.warns(RuntimeWarning, match="ValueError") as caught:
        closing.run_close_hooks(store)
    assert seen == ["after"]
    assert all("13800138000" not in str(w.message) for w in caught)


def test_a_store_that_cannot_be_weakly_referenced_still_runs_its_hooks() -> None:
    store, seen = SlottedStore(), []
    closing.on_close(store, lambda: seen.append("ran"))
    closing.run_close_hooks(store)
    closing.run_close_hooks(store)
    assert seen == ["ran"]


def test_a_bound_method_of_an_object_without_weak_references_is_held_strongly() -> None:
    class Slotted:
        __slots__ = ("seen",)

        def __init__(self) -> None:
            self.seen: list[str] = []

        def flush(self) -> None:
            self.seen.append("ran")

    store, slotted = Store(), Slotted()
    closing.on_close(store, slotted.flush)
    closing.run_close_hooks(store)
    assert slotted.seen == ["ran"]


def test_a_callback_that_is_not_callable_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="callable"):
        closing.on_close(Store(), "flush")  # type: ignore[arg-type]
