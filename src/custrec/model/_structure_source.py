"""The source of the structuring function compiled once per record class (see
``custrec.model.serialization._record_function``).

The generated function does what ``serialization._record`` does for a dict that holds only known
fields and every required one, in straight-line code: each field given is taken in the order of
the fields; a plain value (text without NUL or lone surrogate, an enum member written exactly as
its lower-case value or name, a list of such texts) is structured inline, with no field path
built; anything else goes through the field's general step, with its path, exactly as
``_present`` does. Any other input is handed to ``_record`` whole."""

from __future__ import annotations

from typing import Final

TEXT: Final = "text"  # str, not optional: ``_required_text``
OPTIONAL_TEXT: Final = "optional_text"  # str | None: ``_optional_text``
ENUM: Final = "enum"  # an enum, not optional: ``_required(_enum_leaf)``
OPTIONAL_ENUM: Final = "optional_enum"  # enum | None: ``_optional(_enum_leaf)``
TEXTS: Final = "texts"  # tuple[str, ...]: ``_tuple_of(_required_text)``
RECORDS: Final = "records"  # tuple[<record class>, ...]: ``_tuple_of(_record_step(...))``
OTHER: Final = "other"  # anything else: always the general step

# One field: (name, kind, required: no default, multiline: text whose lines are kept)
FieldSpec = tuple[str, str, bool, bool]

# Text ``_text`` takes as it is (no NUL, no lone surrogate), and what it makes of it.
_PLAIN_TEXT: Final = (
    'type({v}) is str and ("\\x00" not in {v} if {v}.isascii() else _unstorable({v}) is None)'
)


def _cleaned(var: str, multiline: bool) -> str:
    # ``nfkc`` of a plain str, inline: NFKC, then its dashes folded if a search finds any
    folded = f"(w if _dash(w := _nf('NFKC', {var})) is None else w.translate(_DASHES))"
    text = f"({var} if {var}.isascii() else {folded})"
    return f"{text}.strip()" if multiline else f'" ".join({text}.split())'


def _general(index: int, name: str, required: bool, indent: str) -> list[str]:
    """The lines of ``_present`` for one field: its path, its step, a missing value."""
    lines = [
        f"fp = f'{{path}}.{name}' if path else {name!r}",
        f"r = s{index}(v, fp, ctx)",
        "if r is _MISSING:",
        "    ctx.unreadable.append(fp)",
    ]
    if required:
        lines.append(f"    kwargs[{name!r}] = UNREADABLE")
    lines += ["else:", f"    kwargs[{name!r}] = r"]
    return [indent + line for line in lines]


def _field(index: int, spec: FieldSpec) -> list[str]:
    name, kind, required, multiline = spec
    key = repr(name)
    lines = [f"    if {key} in data:", f"        v = data[{key}]"]
    general = _general(index, name, required, "            ")
    if kind == OTHER:
        return lines + [line[4:] for line in general]
    if kind == RECORDS:  # ``many`` for a list, each element by its class's function
        return [
            *lines,
            "        if type(v) is list:",
            f"            fp = f'{{path}}.{name}' if path else {key}",
            f"            sub = f{index}",
            "            t = []",
            "            for i, x in enumerate(v):",
            "                ip = f'{fp}[{i}]'",
            "                r = sub(x, ip, ctx)",
            "                if r is _MISSING:",
            "                    ctx.unreadable.append(ip)",
            "                    r = UNREADABLE",
            "                t.append(r)",
            f"            kwargs[{key}] = tuple(t)",
            "        else:",
            *general,
        ]
    if kind in (OPTIONAL_TEXT, OPTIONAL_ENUM):
        lines += ["        if v is None:", f"            kwargs[{key}] = None", "        el"]
    else:
        lines.append("        ")
    if kind in (TEXT, OPTIONAL_TEXT):
        value = _cleaned("v", multiline)
        if kind == OPTIONAL_TEXT:  # blank text is no value
            value = f"{value} if v.strip() else None"
        lines[-1] += f"if {_PLAIN_TEXT.format(v='v')}:"
        lines.append(f"            kwargs[{key}] = {value}")
    elif kind in (ENUM, OPTIONAL_ENUM):
        lines[-1] += f"if type(v) is str and v in e{index}:"
        lines.append(f"            kwargs[{key}] = e{index}[v]")
    else:  # TEXTS
        lines[-1] += "if type(v) is list:"
        lines += [
            "            t = []",
            "            for x in v:",
            f"                if {_PLAIN_TEXT.format(v='x')}:",
            f"                    t.append({_cleaned('x', multiline)})",
            "                else:",
            "                    break",
            "            else:",
            f"                kwargs[{key}] = tuple(t)",
            "                v = _DONE",
            "        if v is not _DONE:",
        ]
        return lines + general
    lines.append("        else:")
    return lines + general


def record_source(fields: list[FieldSpec]) -> str:
    """The source of ``record(data, path, ctx)`` for a record class with these fields.

    It runs with ``cls``, ``known``, ``required``, ``_record``, ``_not_built`` (what ``_build``
    does when ``cls`` cannot be built), ``_MISSING``, ``_DONE``, ``UNREADABLE``,
    ``_unstorable`` (the search of ``has_invalid_character``), ``_nf``, ``_dash`` and
    ``_DASHES`` (the parts of ``nfkc``), each field's step ``s<i>``, each enum field's exact
    members ``e<i>`` and each list of records' function ``f<i>`` (that of its class, compiled
    on first use) in its namespace.
    """
    lines = [
        "def record(data, path, ctx):",
        "    if type(data) is not dict or not (data.keys() <= known and required <= data.keys()):",
        "        return _record(data, cls, path, ctx)",
        "    kwargs = {}",
    ]
    for index, spec in enumerate(fields):
        lines += _field(index, spec)
    lines += [  # ``_build``, inline
        "    finish = ctx.finish",
        "    if finish is not None:",
        "        hook = finish.get(cls)",
        "        if hook is not None:",
        "            hook(kwargs)",
        "    try:",
        "        return cls(**kwargs)",
        "    except (TypeError, ValueError):  # pragma: no cover - constructors do not validate",
        "        return _not_built(cls, path, ctx)",
    ]
    return "\n".join(lines) + "\n"
