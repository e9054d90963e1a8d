"""The sealed skeleton of a record built straight from the record (a fast path of
:meth:`custrec.storage.codec.EncryptingCodec.seal_document`).

Sealing a customer the general way takes three passes over three copies of it: the converter's
document (``converter.unstructure``), its compacted form (:func:`custrec.storage._packed.
compact`), then the walk that finds each personal value and puts the placeholder in its place
(:meth:`~custrec.security.DocumentCipher.seal_detached`). :func:`builder` compiles, per record
class and converter, one function that makes the compacted skeleton directly from the record,
with each personal value replaced by the placeholder and listed beside it with its path, in
the order the cipher seals them: the same skeleton and the same values as the three passes,
through the converter's own hooks field by field, without building what compaction drops.

A record of any other shape (an item of the wrong type, a value the converter's hooks refuse,
row facts naming a field that is not a plain column) makes the function answer ``None``: the
caller then takes the general path, which decides (and raises) as before.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import cattrs
from cattrs.fns import identity

from custrec.model.records import personal_fields
from custrec.security.crypto import DETACHED
from custrec.storage import _packed

__all__ = ["Builder", "Built", "builder"]

Built = tuple[dict[str, Any], list[tuple[str, Any]]]
"""The compacted skeleton with placeholders, and ``(path, value)`` of each personal value."""
Builder = Callable[[Any, str | None, Mapping[str, Any] | None], Built | None]

_ABSENT: Final = object()


class _Unusual(Exception):
    """A value the straight-line code does not handle: the general path decides."""


def builder(converter: cattrs.Converter, record_type: type) -> Builder | None:
    """The compiled builder of ``record_type`` documents under ``converter``, or ``None`` when
    its fields cannot be built straight (the general path is used then). Compiling takes a
    while: the caller keeps what it gets (the codec, per converter)."""
    try:
        return _compile(converter, record_type)
    except _Unusual:
        return None


def _personal_tree(record_type: type) -> dict[str, Any]:
    """The personal paths of ``record_type`` as a tree: ``name -> subtree`` (``None``: a
    personal value), ``[]`` marks dropped (the fields say whether they are lists)."""
    tree: dict[str, Any] = {}
    for f in personal_fields(record_type):
        node = tree
        if f.path.endswith("[]"):
            raise _Unusual(f.path)  # each item a value of its own: left to the general path
        segments = [s.removesuffix("[]") for s in f.path.split(".")]
        for segment in segments[:-1]:
            child = node.setdefault(segment, {})
            if child is None:
                raise _Unusual(f.path)
            node = child
        if segments[-1] in node:
            raise _Unusual(f.path)
        node[segments[-1]] = None
    return tree


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(tp)
    )


def _compile(converter: cattrs.Converter, record_type: type) -> Builder:
    shape = _packed.Shape.of(record_type)
    tree = _personal_tree(record_type)
    namespace: dict[str, Any] = {
        "_ABSENT": _ABSENT,
        "_Unusual": _Unusual,
        "_DETACHED": DETACHED,
    }
    lines: list[str] = []
    _function(converter, record_type, shape, tree, namespace, lines, top=True)
    source = "".join(f"{line}\n" for line in lines)
    exec(compile(source, "<custrec stored form>", "exec"), namespace)
    build = namespace[f"build_{record_type.__name__}"]
    plain = frozenset(
        f.name
        for f in shape.fields
        if f.shape is None and f.name not in tree  # what row facts may name
    )

    def built(record: Any, record_id: str | None, facts: Mapping[str, Any] | None) -> Built | None:
        if type(record) is not record_type:
            return None
        if facts is not None and not facts.keys() <= plain:
            return None
        found: list[tuple[str, Any]] = []
        try:
            skeleton = build(record, "data", found, record_id, facts)
        except Exception:  # whatever the general path would do with it, it decides
            return None
        return skeleton, found

    return built


def _function(
    converter: cattrs.Converter,
    cls: type,
    shape: _packed.Shape,
    tree: dict[str, Any],
    namespace: dict[str, Any],
    lines: list[str],
    *,
    top: bool,
) -> str:
    """Append the source of ``build_<cls>`` (and of the nested classes' builders first);
    return its name."""
    name = f"build_{cls.__name__}"
    if name in namespace or any(line.startswith(f"def {name}(") for line in lines):
        return name
    hints = typing.get_type_hints(cls)
    body: list[str] = []
    by_name = shape.by_name
    for f in attrs.fields(cls):
        spec = by_name[f.name]
        tp = hints[f.name]
        key = repr(f.name)
        personal = f.name in tree
        subtree = tree.get(f.name)
        # compaction (``_packed._compact``'s steps for this field's kind) of a None
        if spec.kind == _packed._NONE:
            none_lines = ["pass"]
        elif top:
            none_lines = [
                f"if facts is None or facts.get({key}, _ABSENT) is not None:",
                f"    out[{key}] = None",
            ]
        else:
            none_lines = [f"out[{key}] = None"]
        # ... and of any other value, then the placeholder of a personal one
        drop = []
        if top:
            drop.append(f"(facts is not None and facts.get({key}, _ABSENT) == u)")
        if spec.kind == _packed._EMPTY:
            drop.append("u == []")
        elif spec.kind == _packed._NESTED:
            drop.append("u == {}")
        elif spec.kind == _packed._ID:
            drop.append("u == record_id")
        if personal and subtree is None:
            kept = [f"found.append((prefix + '.{f.name}', u))", f"out[{key}] = _DETACHED"]
        else:
            kept = [f"out[{key}] = u"]
        if drop:
            kept = [f"if not ({' or '.join(drop)}):", *(f"    {line}" for line in kept)]
        body.append(f"    x = v.{f.name}")
        body.append("    if x is None:")
        if _optional(tp):
            body += [f"        {line}" for line in none_lines]
        else:
            body.append("        raise _Unusual")
        body.append("    else:")
        maybe_none = False  # whether the value made of a non-None x may be None
        if spec.shape is not None:
            nested_type = _packed._nested_type(tp)
            assert nested_type is not None
            if personal and subtree is None:
                raise _Unusual(f.name)  # a whole nested record as one personal value
            sub = _function(
                converter, nested_type, spec.shape, subtree or {}, namespace, lines, top=False
            )
            cls_name = f"_cls_{nested_type.__name__}"
            namespace[cls_name] = nested_type
            origin = typing.get_origin(tp)
            if _optional(tp):
                origin = typing.get_origin(
                    next(a for a in typing.get_args(tp) if a is not type(None))
                )
            if origin in (tuple, list):
                body += [
                    "        if type(x) is not tuple:",
                    "            raise _Unusual",
                    "        u = []",
                    "        for i, item in enumerate(x):",
                    f"            if type(item) is not {cls_name}:",
                    "                raise _Unusual",
                    f"            u.append({sub}(item, f'{{prefix}}.{f.name}[{{i}}]', found))",
                ]
            else:
                body += [
                    f"        if type(x) is not {cls_name}:",
                    "            raise _Unusual",
                    f"        u = {sub}(x, prefix + '.{f.name}', found)",
                ]
        else:
            if subtree is not None:
                raise _Unusual(f.name)  # personal paths under a value that is no record
            hook = converter.get_unstructure_hook(tp)
            if hook is identity:
                body.append("        u = x")
            else:
                hook_name = f"_hook_{cls.__name__}_{f.name}"
                namespace[hook_name] = hook
                body.append(f"        u = {hook_name}(x)")
                maybe_none = True
        if maybe_none:
            body.append("        if u is None:")
            body += [f"            {line}" for line in none_lines]
            body.append("        else:")
            body += [f"            {line}" for line in kept]
        else:
            body += [f"        {line}" for line in kept]
    params = "v, prefix, found, record_id, facts" if top else "v, prefix, found"
    if not top:
        body.insert(0, "    record_id = None")
    lines.append(f"def {name}({params}):")
    lines.append("    out = {}")
    lines += body
    lines.append("    return out")
    return name
