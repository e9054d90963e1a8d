"""A frozen record with some fields changed: :func:`attrs.evolve`, compiled per class.

``attrs.evolve`` reads every field's name and value into keyword arguments and calls the
class again, which runs every converter again (on values already converted) and builds a
second dictionary; a bulk intake does that once or twice per record. :func:`replace` copies
the other fields' values as they are and converts only the changed ones, which gives the same
record whenever the class's converters give back a value they already converted (so it is
used only for classes without validators, ``__attrs_post_init__`` or fields left out of
``__init__``; any other class goes through ``attrs.evolve``).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

__all__ = ["replace"]

T = TypeVar("T")

_Replace = Callable[[Any, dict[str, Any]], Any]
_COMPILED: Final[dict[type, _Replace]] = {}


def _evolve(record: Any, changes: dict[str, Any]) -> Any:
    return attrs.evolve(record, **changes)


def _compile(cls: type) -> _Replace:
    """The copying function of ``cls`` (or ``attrs.evolve`` where copying could differ)."""
    fields = attrs.fields(cls)
    if (
        hasattr(cls, "__attrs_post_init__")
        or hasattr(cls, "__attrs_pre_init__")
        or "__slots__" not in vars(cls)
        or any(
            not f.init or f.validator is not None or f.alias != f.name or f.on_setattr
            for f in fields
        )
    ):
        return _evolve
    converters = {f.name: f.converter for f in fields if f.converter is not None}
    lines = ["def replace(old, changes, _set=_set, _cls=_cls):", "    new = _new(_cls)"]
    namespace: dict[str, Any] = {}
    for index, f in enumerate(fields):
        slot = _slot(cls, f.name)
        if slot is None:
            lines.append(f"    _set(new, {f.name!r}, old.{f.name})")
        else:  # the slot's own setter: what object.__setattr__ finds and calls, found once
            namespace[f"_slot_{index}"] = slot.__set__
            lines.append(f"    _slot_{index}(new, old.{f.name})")
    lines += [
        "    for name, value in changes.items():",
        "        if name not in _names:",
        "            raise TypeError(f'{_cls.__name__} has no field {name!r}')",
        "        converter = _converters.get(name)",
        "        _set(new, name, value if converter is None else converter(value))",
        "    return new",
    ]
    namespace |= {
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_cls": cls,
        "_names": frozenset(f.name for f in fields),
        "_converters": converters,
    }
    exec(compile("\n".join(lines) + "\n", f"<custrec replace {cls.__name__}>", "exec"), namespace)
    function: _Replace = namespace["replace"]
    return function


def _slot(cls: type, name: str) -> Any:
    """The slot (member descriptor) that holds ``name`` in instances of ``cls``: the first
    class of its method resolution order that defines ``name`` (``object.__setattr__`` looks
    there), or ``None`` when that is anything but a slot."""
    for klass in cls.__mro__:
        defined = vars(klass)
        if name in defined:
            found = defined[name]
            return found if type(found) is types.MemberDescriptorType else None
    return None


def replace(record: T, **changes: Any) -> T:
    """``attrs.evolve(record, **changes)`` for a frozen attrs record, without rebuilding it
    field by field (see the module docstring); ``TypeError`` for an unknown field."""
    cls = type(record)
    function = _COMPILED.get(cls)
    if function is None:
        function = _COMPILED[cls] = _compile(cls)
    result: T = function(record, changes)
    return result
