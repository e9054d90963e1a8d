"""The packed form of a sealed record document: compact JSON and raw ciphertexts.

A record document (``{"schema_version": n, "data": {...}}``, as the cattrs converter writes the
record) is stored by :class:`~custrec.storage.codec.EncryptingCodec` in this layout::

    b"\\x00\\x01"                      magic: never the first bytes of a JSON text
    varint(schema_version)
    varint(flags)                      1: compacted, 2: the row's facts were left out,
                                       4: the skeleton is deflated
    varint(len(skeleton)) skeleton     UTF-8 JSON of the compacted ``data`` (deflated: flag 4)
    (varint(len(c)) c) ...             the ciphertext of each personal value, in document order

The skeleton is ``data`` with:

- every personal value replaced by the placeholder ``0``
  (:meth:`~custrec.security.DocumentCipher.seal_detached`); the ciphertexts, made exactly as in
  the JSON form (same layout, same associated data), follow the skeleton as raw bytes instead
  of base64 strings inside ``{"$enc": ...}`` objects;
- the record's ``id`` left out when it is the id the payload is sealed for (the customer id);
- the top-level fields the row stores as columns (kind, stage, state, owner, team, grade,
  tags, created_at, updated_at) left out when the sealer is given them as ``facts`` and they
  are equal (flag 2): opening then needs the same facts, from the row;
- every field left out whose value is its declared default ``None`` or empty list, and every
  nested record (``milestones``) left out when nothing of it remains; opening puts them back, in
  the field order of the record class, so an opened document is the one that was sealed. Only
  a document holding every field of its record class (at every level, as the converter writes
  it) is compacted; any other is stored as it is (flag 0), so it too opens unchanged.

The skeleton is deflated (raw DEFLATE, RFC 1951, with the fixed preset dictionary
:data:`SKELETON_DICTIONARY` of the record classes' field names and common values) whenever that
is shorter, which it almost always is: a customer's skeleton of about 260 bytes of JSON takes
about 25. It holds no personal value (those are placeholders), so compressing it beside the
ciphertexts tells nothing about them. The dictionary is part of the format: it never changes
(another one would need another flag).

Documents sealed before (``{"schema_version":1,"data":{... "$enc" ...}}``) stay readable: the
codec tells the two forms apart by their first byte.
"""

from __future__ import annotations

import copy
import json
import types
import typing
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import attrs

from custrec.errors import StorageError

__all__ = [
    "COMPACTED",
    "DEFLATED",
    "MAGIC",
    "SKELETON_DICTIONARY",
    "WITH_FACTS",
    "Shape",
    "Unpacked",
    "compact",
    "expand",
    "is_packed",
    "pack",
    "unpack",
]

MAGIC: Final = b"\x00\x01"
"""The first bytes of a packed payload (a JSON text never starts with a NUL byte)."""

_NONE: Final = 1  # the default is None
_EMPTY: Final = 2  # the default is an empty list (a tuple factory)
_NESTED: Final = 3  # the default is a record of its own (a factory of an attrs class)
_ID: Final = 4  # the record's id: left out when it is the id the payload is sealed for
_KEEP: Final = 0
_ABSENT: Final = object()
COMPACTED: Final = 1
"""Flag: the skeleton is compacted (:func:`expand` puts the defaults back)."""
WITH_FACTS: Final = 2
"""Flag: fields equal to the row's columns were left out (opening needs the row's facts)."""
_FLAGS: Final = COMPACTED | WITH_FACTS
DEFLATED: Final = 4
"""Flag: the skeleton is deflated with :data:`SKELETON_DICTIONARY` (set by :func:`pack` when
that is shorter; :func:`unpack` inflates it and leaves the flag out of what it returns)."""

SKELETON_DICTIONARY: Final = (
    b'"system":null,"title":null,"wechat":null,"province":null,"district":null,'
    b'"registered_name":null,"gender":"male","gender":"female","birth_date":"19'
    b'"employee_band":"1-9","10-49","50-249","250-999","1000+",'
    b'"revenue_band":"<1M","1M-10M","10M-100M","100M-1B","1B+","founded_on":"20'
    b'"category":"government","key_account","company","partner","intent":"high","medium","low",'
    b'"product_interests":["needs":["source":"milestones":{"contract_signed_on":"20'
    b'"contract_amount":"first_payment_on":"service_expires_on":"satisfaction":'
    b'"last_verified_at":"pending_review","verified","rejected",'
    b'"state":"archived","restricted","notes":0,"legal_representative":0,'
    b'"stage":"prospect","new","active","dormant","churned",'
    b'"kind":"registered","billing","shipping","home","other",'
    b'"scheme":"PASSPORT","EXTERNAL","CN-RIC","value":0},'
    b'{"version":1,"name":0,"industry":"","identifiers":[{"scheme":"CN-USCC","value":0}],'
    b'"contacts":[{"name":0,"phones":0,"emails":0,"primary":true},'
    b'{"phones":0,"emails":0,"primary":false}],'
    b'"addresses":[{"kind":"office","country":"CN","city":"","street":0,"postal_code":0}],'
    b'"stage":"lead","verification":"unverified"}'
)
"""The preset dictionary of deflated skeletons (part of the stored format: never changed)."""

_WBITS: Final = -11  # raw DEFLATE, a 2 KiB window: room for the dictionary and a skeleton
_MAX_SKELETON: Final = 1 << 24  # inflating stops beyond this: a corrupt payload, not a record


@attrs.frozen
class _Field:
    name: str
    kind: int
    shape: Shape | None  # the nested record's shape (one, or each item of a list)


@attrs.frozen
class Shape:
    """The fields of a record class that compaction may leave out, and how to put them back."""

    fields: tuple[_Field, ...]
    by_name: dict[str, _Field] = attrs.field(eq=False)
    plan: dict[str, tuple[int, Shape | None]] = attrs.field(eq=False)
    """``name -> (kind, nested shape)``: what :func:`compact` looks up per key."""
    names: tuple[str, ...] = attrs.field(init=False, eq=False)
    """The field names in order: the keys of every document the converter writes."""
    compiled: list[_Compact] = attrs.field(init=False, eq=False, factory=list)
    """:func:`compact` for documents whose keys are :attr:`names`, compiled on first use."""
    expanders: list[_Expand] = attrs.field(init=False, eq=False, factory=list)
    """:func:`expand` of this shape, compiled on first use."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.fields))

    @classmethod
    def of(cls, record_type: type) -> Shape:
        """The shape of an attrs record class (nested record types included)."""
        return _shape(record_type, {})


def _nested_type(tp: Any) -> type | None:
    """The attrs class a field holds (alone, optional, or as the items of a tuple or list)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(tp) if a is not type(None)]
        return _nested_type(found[0]) if len(found) == 1 else None
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return _nested_type(args[0]) if len(args) == 1 else None
    return tp if isinstance(tp, type) and attrs.has(tp) else None


def _shape(record_type: type, seen: dict[type, Shape]) -> Shape:
    found = seen.get(record_type)
    if found is not None:
        return found
    fields: list[_Field] = []
    for f in attrs.fields(attrs.resolve_types(record_type)):
        nested = _nested_type(f.type)
        sub = _shape(nested, seen) if nested is not None else None
        default = f.default
        kind = _KEEP
        if f.name == "id":
            kind = _ID
        elif default is None:
            kind = _NONE
        elif isinstance(default, attrs.Factory) and not default.takes_self:  # type: ignore[arg-type]
            if default.factory in (tuple, list):
                kind = _EMPTY
            elif sub is not None and default.factory is nested:
                kind = _NESTED
        fields.append(_Field(f.name, kind, sub))
    shape = Shape(
        tuple(fields), {f.name: f for f in fields}, {f.name: (f.kind, f.shape) for f in fields}
    )
    seen[record_type] = shape
    return shape


def compact(
    data: dict[str, Any],
    shape: Shape,
    record_id: str | None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """``data`` without what :func:`expand` puts back (see the module docstring): also the
    top-level fields equal to ``facts`` (the row's columns). ``None`` when ``data`` does not
    hold every field of its record class, at every level (a document the converter did not
    make), which is then stored as it is."""
    if type(data) is dict and len(data) == len(shape.names) and tuple(data) == shape.names:
        # the converter's document: its fields in their order, compacted by straight-line
        # code (the same steps as below, with each field's kind known)
        if not shape.compiled:
            shape.compiled.append(_compile_compact(shape))
        return shape.compiled[0](data, record_id, facts)
    return _compact(data, shape, record_id, facts)


def _compact(
    data: dict[str, Any],
    shape: Shape,
    record_id: str | None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """:func:`compact` of any ``data``, key by key."""
    plan = shape.plan
    if len(data) < len(plan):
        return None
    out: dict[str, Any] = {}
    missing = len(plan)
    for name, value in data.items():
        spec = plan.get(name)
        if spec is None:
            out[name] = value
            continue
        missing -= 1
        kind, nested = spec
        if value is None:
            if kind == _NONE or (facts is not None and facts.get(name, _ABSENT) is None):
                continue
            out[name] = None
            continue
        if nested is not None:
            if type(value) is dict:
                value = compact(value, nested, None, None)
                if value is None:
                    return None
            elif type(value) is list:
                items = []
                for item in value:
                    if type(item) is dict:
                        item = compact(item, nested, None, None)
                        if item is None:
                            return None
                    items.append(item)
                value = items
        if facts is not None and facts.get(name, _ABSENT) == value:
            continue
        if (
            (kind == _EMPTY and value == [])
            or (kind == _NESTED and value == {})
            or (kind == _ID and value == record_id)
        ):
            continue
        out[name] = value
    return out if missing == 0 else None


_Compact = Callable[
    [dict[str, Any], "str | None", "Mapping[str, Any] | None"], "dict[str, Any] | None"
]


def _compile_compact(shape: Shape) -> _Compact:
    """Straight-line :func:`_compact` of a document whose keys are ``shape.names`` in order:
    per field, the steps of the loop for that field's kind (a nested record or a list of
    them goes through :func:`compact` again)."""
    lines = ["def compact_known(data, record_id, facts):", "    out = {}"]
    namespace: dict[str, Any] = {"_ABSENT": _ABSENT, "compact": compact}
    for index, f in enumerate(shape.fields):
        name, kind = f.name, f.kind
        key = repr(name)
        lines.append(f"    value = data[{key}]")
        lines.append("    if value is None:")
        if kind == _NONE:
            lines.append("        pass")
        else:
            lines.append(f"        if facts is None or facts.get({key}, _ABSENT) is not None:")
            lines.append(f"            out[{key}] = None")
        lines.append("    else:")
        if f.shape is not None:
            nested = f"shape_{index}"
            namespace[nested] = f.shape
            lines += [
                "        if type(value) is dict:",
                f"            value = compact(value, {nested}, None, None)",
                "            if value is None:",
                "                return None",
                "        elif type(value) is list:",
                "            items = []",
                "            for item in value:",
                "                if type(item) is dict:",
                f"                    item = compact(item, {nested}, None, None)",
                "                    if item is None:",
                "                        return None",
                "                items.append(item)",
                "            value = items",
            ]
        skip = f"facts is not None and facts.get({key}, _ABSENT) == value"
        if kind == _EMPTY:
            skip += " or value == []"
        elif kind == _NESTED:
            skip += " or value == {}"
        elif kind == _ID:
            skip += " or value == record_id"
        lines.append(f"        if not ({skip}):")
        lines.append(f"            out[{key}] = value")
    lines.append("    return out")
    source = "".join(f"{line}\n" for line in lines)
    exec(compile(source, "<custrec compact>", "exec"), namespace)
    function: _Compact = namespace["compact_known"]
    return function


_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None)})
"""Fact values :func:`expand` hands out as they are (a copy of them would be equal and
immutable too)."""


def expand(
    data: dict[str, Any],
    shape: Shape,
    record_id: str | None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Put back what :func:`compact` left out, in the record class's field order (by code
    compiled per shape: the steps of :func:`_expand` with each field's kind known)."""
    if not shape.expanders:
        shape.expanders.append(_compile_expand(shape))
    return shape.expanders[0](data, record_id, facts)


def _expand(
    data: dict[str, Any],
    shape: Shape,
    record_id: str | None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`expand`, field by field (what the compiled code is checked against)."""
    out: dict[str, Any] = {}
    for f in shape.fields:
        name = f.name
        if facts is not None and name not in data and name in facts:
            fact = facts[name]
            out[name] = fact if type(fact) in _IMMUTABLE else copy.deepcopy(fact)
        elif name in data:
            value = data[name]
            if f.shape is not None:
                if isinstance(value, dict):
                    value = _expand(value, f.shape, None, None)
                elif isinstance(value, list):
                    value = [
                        _expand(v, f.shape, None, None) if isinstance(v, dict) else v for v in value
                    ]
            out[name] = value
        elif f.kind == _NONE:
            out[name] = None
        elif f.kind == _EMPTY:
            out[name] = []
        elif f.kind == _NESTED and f.shape is not None:
            out[name] = _expand({}, f.shape, None, None)
        elif f.kind == _ID and record_id is not None:
            out[name] = record_id
    if not data.keys() <= out.keys():
        for name, value in data.items():  # fields this version does not know: kept as they are
            if name not in out:
                out[name] = value
    return out


_Expand = Callable[[dict[str, Any], "str | None", "Mapping[str, Any] | None"], dict[str, Any]]


def _compile_expand(shape: Shape) -> _Expand:
    """Straight-line :func:`_expand` for ``shape``: per field, the steps for its kind (a
    nested record or a list of them goes through :func:`expand` again)."""
    lines = ["def expand_known(data, record_id, facts):", "    out = {}"]
    namespace: dict[str, Any] = {
        "_ABSENT": _ABSENT,
        "_IMMUTABLE": _IMMUTABLE,
        "deepcopy": copy.deepcopy,
        "expand": expand,
    }
    for index, f in enumerate(shape.fields):
        key = repr(f.name)
        nested = f"shape_{index}"
        namespace[nested] = f.shape
        lines += [
            f"    value = data.get({key}, _ABSENT)",
            "    if value is _ABSENT:",
            f"        if facts is not None and {key} in facts:",
            f"            fact = facts[{key}]",
            f"            out[{key}] = fact if type(fact) in _IMMUTABLE else deepcopy(fact)",
        ]
        if f.kind == _NONE:
            lines += ["        else:", f"            out[{key}] = None"]
        elif f.kind == _EMPTY:
            lines += ["        else:", f"            out[{key}] = []"]
        elif f.kind == _NESTED and f.shape is not None:
            lines += [
                "        else:",
                f"            out[{key}] = expand({{}}, {nested}, None, None)",
            ]
        elif f.kind == _ID:
            lines += ["        elif record_id is not None:", f"            out[{key}] = record_id"]
        lines.append("    else:")
        if f.shape is not None:
            lines += [
                "        if isinstance(value, dict):",
                f"            value = expand(value, {nested}, None, None)",
                "        elif isinstance(value, list):",
                "            value = [",
                f"                expand(v, {nested}, None, None) if isinstance(v, dict) else v",
                "                for v in value",
                "            ]",
            ]
        lines.append(f"        out[{key}] = value")
    lines += [
        "    if not data.keys() <= out.keys():",
        "        for name, value in data.items():",
        "            if name not in out:",
        "                out[name] = value",
        "    return out",
    ]
    source = "".join(f"{line}\n" for line in lines)
    exec(compile(source, "<custrec expand>", "exec"), namespace)
    function: _Expand = namespace["expand_known"]
    return function


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE: Final = tuple(bytes((value,)) for value in range(0x80))


def _deflater() -> Any:
    return zlib.compressobj(
        6, zlib.DEFLATED, _WBITS, 2, zlib.Z_DEFAULT_STRATEGY, SKELETON_DICTIONARY
    )


# A compressor with the dictionary set and nothing written yet; copying it is cheaper than
# setting the dictionary again (a copy is independent: threads may copy it at once).
_PRIMED: Final = _deflater()

_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _acyclic_encoder() -> Callable[[dict[str, Any]], str] | None:
    """``_ENCODER.encode`` of a dict, by the C encoder made with just what a dict needs
    (``JSONEncoder.encode`` also looks for a plain string and makes its functions per call),
    or ``None`` where Python has no C encoder. A skeleton the builder made afresh may still
    hold a caller's own object where a text was expected (a list that holds itself, when the
    type rules are relaxed): each call keeps its own table of containers being encoded, so
    such a cycle is the ``ValueError`` the general encoder raises, never a runaway recursion,
    and threads may encode at once."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has it
        return None
    default = _ENCODER.default
    quote = json.encoder.encode_basestring
    key_separator, item_separator = _ENCODER.key_separator, _ENCODER.item_separator

    def encoded(skeleton: dict[str, Any]) -> str:
        encode = make({}, default, quote, None, key_separator, item_separator, False, False, False)
        return "".join(encode(skeleton, 0))

    return encoded


_ENCODE_ACYCLIC: Final = _acyclic_encoder() or _ENCODER.encode

# Deflated skeletons by their JSON text: deflating is a function of the text alone (the same
# primed compressor, the same settings), and the skeletons of a batch repeat (its personal values
# are placeholders and its row facts left out), so one is not deflated twice while it is kept.
# Emptied when full (safe without a lock: each step is one dict operation).
_DEFLATED: Final[dict[bytes, bytes]] = {}
_MAX_DEFLATED: Final = 1024


def _deflated(encoded: bytes) -> bytes:
    """``encoded`` deflated with the skeleton dictionary (see :data:`_PRIMED`)."""
    found = _DEFLATED.get(encoded)
    if found is None:
        deflater = _PRIMED.copy()  # the same stream as a new compressor with the dictionary
        found = deflater.compress(encoded) + deflater.flush()
        if len(_DEFLATED) >= _MAX_DEFLATED:
            _DEFLATED.clear()
        _DEFLATED[encoded] = found
    return found


def pack(
    schema_version: int,
    skeleton: dict[str, Any],
    ciphertexts: Sequence[bytes],
    *,
    flags: int = COMPACTED,
    acyclic: bool = False,
) -> bytes:
    """The packed payload of a sealed document (see the module docstring); ``flags`` say
    what :func:`expand` is to put back (:data:`COMPACTED`, :data:`WITH_FACTS`).
    ``acyclic``: the skeleton was built afresh and holds no reference cycle (its JSON text
    is made without looking for one; the same text)."""
    if flags & ~_FLAGS:
        raise ValueError("unknown packing flags")
    encode = _ENCODE_ACYCLIC if acyclic else _ENCODER.encode
    encoded = encode(skeleton).encode("utf-8")
    deflated = _deflated(encoded)
    if len(deflated) < len(encoded):
        encoded, flags = deflated, flags | DEFLATED
    parts = [MAGIC, _varint(schema_version), _varint(flags)]
    parts.append(_varint(len(encoded)))
    parts.append(encoded)
    one_byte = _ONE_BYTE
    for blob in ciphertexts:
        size = len(blob)  # a personal value's ciphertext: mostly under 128 bytes, one byte
        parts.append(one_byte[size] if size < 0x80 else _varint(size))
        parts.append(blob)
    return b"".join(parts)


def is_packed(payload: bytes) -> bool:
    """Whether ``payload`` is in the packed form (else it is a JSON text)."""
    return payload[:2] == MAGIC


class _Reader:
    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = len(MAGIC)
        self._what = what

    def _fail(self) -> StorageError:
        return StorageError(f"payload of {self._what} is a malformed packed document")

    @property
    def done(self) -> bool:
        return self._pos >= len(self._data)

    def varint(self) -> int:
        value = shift = 0
        data = self._data
        while True:
            if self._pos >= len(data) or shift > 35:
                raise self._fail()
            byte = data[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def chunk(self) -> bytes:
        size = self.varint()
        end = self._pos + size
        if end > len(self._data):
            raise self._fail()
        found = self._data[self._pos : end]
        self._pos = end
        return found


class Unpacked(NamedTuple):
    """The parts of a packed payload."""

    schema_version: int
    flags: int
    skeleton: dict[str, Any]
    ciphertexts: list[bytes]


def unpack(payload: bytes, what: str) -> Unpacked:
    """The parts of a packed payload; ``StorageError`` for bytes :func:`pack` cannot have
    made."""
    reader = _Reader(bytes(payload), what)
    version = reader.varint()
    flags = reader.varint()
    if flags & ~(_FLAGS | DEFLATED) or (flags & WITH_FACTS and not flags & COMPACTED):
        raise reader._fail()
    body = reader.chunk()
    if flags & DEFLATED:
        body = _inflate(body, reader)
    try:
        skeleton = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise reader._fail() from None
    if not isinstance(skeleton, dict):
        raise reader._fail()
    blobs: list[bytes] = []
    while not reader.done:
        blobs.append(reader.chunk())
    return Unpacked(version, flags & _FLAGS, skeleton, blobs)


def _inflate(body: bytes, reader: _Reader) -> bytes:
    """The skeleton a deflated one was made from; ``StorageError`` for a corrupt stream."""
    inflater = zlib.decompressobj(_WBITS, SKELETON_DICTIONARY)
    try:
        found = inflater.decompress(body, _MAX_SKELETON)
    except zlib.error:
        raise reader._fail() from None
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise reader._fail()
    return found
