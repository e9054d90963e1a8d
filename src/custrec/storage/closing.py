"""Work that must be done while a store is still open, run when it closes.

A :class:`~custrec.registry.Registry` may defer a write until shortly after a unit of work
(the audit head, see ``docs/security.md``). So that closing the store does not lose it, the
registry registers a callback with :func:`on_close`, and a store's ``close()`` calls
:func:`run_close_hooks` first, while its connections still work. custrec's own stores do; a
third-party store should call it at the start of its ``close()`` (without it, what a registry
deferred is written at exit or not at all, and the registry warns when the store was closed).

Callbacks are held weakly when they are bound methods, so a registry that is gone is not kept
alive by its store. They run once, in the order they were registered; one that raises is
reported as a :class:`RuntimeWarning` and the others still run.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["on_close", "run_close_hooks"]

_lock = threading.Lock()
_hooks: weakref.WeakKeyDictionary[Any, list[Callable[[], Callable[[], None] | None]]] = (
    weakref.WeakKeyDictionary()
)
# stores that cannot be weakly referenced (a __slots__ class without __weakref__), by id
_strong: dict[int, tuple[Any, list[Callable[[], Callable[[], None] | None]]]] = {}


def on_close(store: object, callback: Callable[[], None]) -> None:
    """Run ``callback()`` when ``store`` closes (when its ``close()`` calls
    :func:`run_close_hooks`)."""
    if not callable(callback):
        raise TypeError("on_close needs a callable")
    reference: Callable[[], Callable[[], None] | None]
    try:
        reference = weakref.WeakMethod(callback)
    except TypeError:  # not a bound method, or its object cannot be weakly referenced
        reference = lambda: callback  # noqa: E731
    with _lock:
        try:
            references = _hooks.setdefault(store, [])
        except TypeError:
            references = _strong.setdefault(id(store), (store, []))[1]
        # registries made and dropped over one long-lived store leave dead references behind
        references[:] = [r for r in references if r() is not None]
        references.append(reference)


def run_close_hooks(store: object) -> None:
    """Run (once) the callbacks registered for ``store``; call it first in ``close()``."""
    with _lock:
        try:
            references = _hooks.pop(store, [])
        except TypeError:
            references = _strong.pop(id(store), (None, []))[1]
    for reference in references:
        callback = reference()
        if callback is None:
            continue
        try:
            callback()
        except Exception as exc:  # the store closes anyway
            warnings.warn(
                f"custrec: work deferred until the store closed failed: {type(exc).__name__}",
                RuntimeWarning,
                2,
            )
