"""Field-level differences between two versions of a record.

:func:`diff` compares two records of the same type and returns one :class:`FieldChange` per changed
field path, with the old and new values in JSON-safe form (as
:func:`custrec.model.serialization.make_converter` writes them). Nested records are compared field
by field (``milestones.satisfaction``); sequences of records element by element
(``contacts[0].phones``, ``contacts[2]`` when one was added or removed); sequences of plain values
as a whole (``tags``).

>>> import attrs
>>> from custrec.model.records import Customer, CustomerKind
>>> old = Customer(id="c-1", kind=CustomerKind.INDIVIDUAL, name="Li", tags=("a",))
>>> new = attrs.evolve(old, tags=("a", "b"))
>>> [(c.path, c.old, c.new) for c in diff(old, new)]
[('tags', ['a'], ['a', 'b'])]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs
import cattrs

from custrec.model.serialization import make_converter

__all__ = ["BOOKKEEPING_FIELDS", "FieldChange", "diff"]

BOOKKEEPING_FIELDS: Final = frozenset({"version", "updated_at"})
"""Fields that change on every write and are therefore never reported as changes."""

_converter: Final = make_converter()


@attrs.frozen(kw_only=True)
class FieldChange:
    """One changed field: its path and its old and new JSON-safe values (``None`` if absent)."""

    path: str
    old: Any = attrs.field(repr=False)
    new: Any = attrs.field(repr=False)


def _changes(old: Any, new: Any, path: str, conv: cattrs.Converter) -> Iterator[FieldChange]:
    if old == new:
        return
    if old is not None and new is not None and type(old) is type(new) and attrs.has(type(old)):
        for name in (f.name for f in attrs.fields(type(old))):
            if not path and name in BOOKKEEPING_FIELDS:
                continue
            sub = f"{path}.{name}" if path else name
            yield from _changes(getattr(old, name), getattr(new, name), sub, conv)
        return
    if (
        isinstance(old, tuple)
        and isinstance(new, tuple)
        and any(attrs.has(type(v)) for v in (*old, *new))
    ):
        for index in range(max(len(old), len(new))):
            before = old[index] if index < len(old) else None
            after = new[index] if index < len(new) else None
            yield from _changes(before, after, f"{path}[{index}]", conv)
        return
    yield FieldChange(path=path, old=conv.unstructure(old), new=conv.unstructure(new))


def diff(old: Any, new: Any, *, ignore: Iterable[str] = ()) -> list[FieldChange]:
    """List the changed field paths between two records of the same attrs type, in field order.

    ``version`` and ``updated_at`` are never reported; ``ignore`` names more top-level fields
    to skip. Raises ``TypeError`` if the records differ in type or are not attrs records.
    """
    if type(old) is not type(new) or not attrs.has(type(old)):
        raise TypeError("diff() compares two records of the same attrs type")
    skipped = frozenset(ignore)
    return [
        change
        for change in _changes(old, new, "", _converter)
        if change.path.split(".")[0].split("[")[0] not in skipped
    ]
