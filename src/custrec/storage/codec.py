"""The codec seam between records and stored bytes.

The registry turns a record into a JSON-safe document (:mod:`custrec.model.serialization`) and hands
it to a :class:`RecordCodec`, which seals it into the payload bytes a backend stores, and turns
strong identifiers into opaque index keys.

- :class:`EncryptingCodec` (the production codec, built from a
  :class:`~custrec.security.KeyRing`) encrypts every personal field of a document with AES-GCM
  under the customer's own data key, wraps that key with the master key and keeps it in the
  ``keys`` table of the same store or of a separate key store, and turns identifiers into
  blind-index tokens. Destroying the data key makes every sealed value of the customer
  unreadable, in the live store and in every backup of it. Customers are stored packed (compact
  JSON, then the raw ciphertexts: :mod:`custrec.storage._packed`); payloads written before as
  JSON with base64 tokens are still read.
- :class:`PlaintextCodec` stores plain JSON and plain index keys; it is for tests and demos
  only, and the registry warns when it is used.

Codecs work per unit of work: :meth:`RecordCodec.begin` returns a :class:`Sealer` bound to one
session, which may cache data keys for the length of that session only.

:func:`strong_keys` lists the identifiers that decide identity on their own (normalised phones,
e-mails, credit codes, resident ids, passports, external ids): the registry indexes them for
exact lookup and refuses duplicates on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import cattrs

from custrec.errors import Erased, NotFound, StorageError
from custrec.matching.keys import StrongKey, identifier_key, strong_keys
from custrec.model.records import Customer, personal_fields
from custrec.model.serialization import SCHEMA_VERSION
from custrec.security import DocumentCipher, KeyRing, decrypt_json, encrypt_json
from custrec.security.crypto import DataKey
from custrec.storage import _direct, _packed
from custrec.storage._bulk import all_or_nothing
from custrec.storage.protocols import KeyTable, Session, Store
from custrec.storage.types import WrappedKey

__all__ = [
    "EncryptingCodec",
    "PlaintextCodec",
    "RecordCodec",
    "Sealer",
    "StrongKey",
    "identifier_key",
    "strong_keys",
]


class Sealer(Protocol):
    """Seals and opens the payloads of one unit of work."""

    def seal_record(
        self,
        record_type: type,
        document: Mapping[str, Any],
        *,
        customer_id: str,
        record_id: str | None = None,
        new_customer: bool = False,
        facts: Mapping[str, Any] | None = None,
        minted: bool = False,
    ) -> bytes:
        """Seal the document of a record (a customer, or an activity of ``customer_id``).

        ``new_customer`` says the customer is being created in this unit of work, so it has no data
        key yet (one is made without looking it up first, except in a separate key store, which may
        hold a key an interrupted intake of the same id left behind). ``minted`` says the id was
        made for this very intake, so no key can exist for it anywhere. ``facts`` are top-level
        values of the document that the row stores beside the payload (its columns, in the
        document's JSON form): the codec may leave them out of the payload, and then opening it
        needs the same facts.

        The document may be consumed (sealed in place): pass one built for this call.
        """
        ...

    def seal_new_customers(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        documents: Iterable[dict[str, Any]],
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        """Seal the documents of customers created in this unit of work, in order: the data
        keys of all of them first, then each document as ``documents`` yields it (the same
        bytes as :meth:`seal_record` with ``new_customer=True``, and each customer's ``facts``).
        Documents are consumed; a generator keeps just one alive at a time.
        """
        ...

    def seal_new_records(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        records: Sequence[Any],
        converter: cattrs.Converter,
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        """:meth:`seal_new_customers` of the records themselves: each one's document is
        ``{"schema_version": SCHEMA_VERSION, "data": converter.unstructure(record)}``, and the
        same bytes are sealed (a codec may build them without making the document)."""
        ...

    def open_record(
        self,
        record_type: type,
        payload: bytes,
        *,
        customer_id: str,
        record_id: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Open a sealed record document; raises ``Erased`` if the customer's key is gone.
        ``facts``: those given when it was sealed (``StorageError`` if they are needed and
        missing)."""
        ...

    def preload(self, customer_ids: Sequence[str]) -> None:
        """Read and unwrap the data keys of ``customer_ids`` in one read of the key store, so
        that opening their records next needs no read per customer (a whole-store scan reads
        a page of rows and then opens them); ids without a key are left for
        :meth:`open_record` to report."""
        ...

    def seal_value(self, value: Any, *, customer_id: str, field: str) -> bytes:
        """Seal a JSON-safe value (a history entry's old and new values)."""
        ...

    def open_value(self, payload: bytes, *, customer_id: str, field: str) -> Any:
        """Open a value sealed by :meth:`seal_value`; raises ``Erased`` if the key is gone."""
        ...

    def destroy_key(
        self, customer_id: str, *, record: Callable[[Session], object] | None = None
    ) -> bool:
        """Destroy the customer's data key (crypto-shredding); return whether one existed.

        ``record`` runs after a deletion (not when there was no key), in the session that
        deleted the key (the key store's, or this unit of work's when keys live beside the data),
        so that what it writes (the erasure journal) is committed together with the deletion and
        never without it. With a separate key store the deletion commits at once, before this
        unit of work.
        """
        ...

    def flush(self) -> None:
        """Store what the sealer has deferred (the data keys made in this unit of work, written
        together). Call it before committing the session; a session rolled back without it
        stores none of them."""
        ...

    def close(self) -> None:
        """Forget every data key the sealer holds (the unit of work calls it when it ends);
        nothing deferred is written."""
        ...


class RecordCodec(Protocol):
    """Turns documents into payload bytes and strong keys into index keys."""

    @property
    def encrypted(self) -> bool:
        """Whether payloads and index keys hide personal data."""
        ...

    def begin(self, session: Session) -> Sealer:
        """Return a sealer for one session (unit of work)."""
        ...

    def index_key(self, key: StrongKey) -> str:
        """The index key under which a strong key is stored (current index key)."""
        ...

    def lookup_keys(self, key: StrongKey) -> tuple[str, ...]:
        """Every index key a stored strong key may have (more than one during a rotation)."""
        ...


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(payload: bytes, customer_id: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StorageError(f"payload of customer {customer_id} is not valid JSON") from exc


def _load_object(payload: bytes, customer_id: str) -> dict[str, Any]:
    document = _loads(payload, customer_id)
    if not isinstance(document, dict):
        raise StorageError(f"payload of customer {customer_id} is not a JSON object")
    return document


class _PlainSealer:
    def seal_record(
        self,
        record_type: type,
        document: Mapping[str, Any],
        *,
        customer_id: str,
        record_id: str | None = None,
        new_customer: bool = False,
        facts: Mapping[str, Any] | None = None,
        minted: bool = False,
    ) -> bytes:
        return _dumps(document)

    def seal_new_customers(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        documents: Iterable[dict[str, Any]],
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        payloads = [_dumps(document) for document in documents]
        if len(payloads) != len(customer_ids):
            raise ValueError("one document per customer id is needed")
        return payloads

    def seal_new_records(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        records: Sequence[Any],
        converter: cattrs.Converter,
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        documents = (_document(converter, record) for record in records)
        return self.seal_new_customers(record_type, customer_ids, documents, facts)

    def open_record(
        self,
        record_type: type,
        payload: bytes,
        *,
        customer_id: str,
        record_id: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return _load_object(payload, customer_id)

    def preload(self, customer_ids: Sequence[str]) -> None:
        return None

    def seal_value(self, value: Any, *, customer_id: str, field: str) -> bytes:
        return _dumps(value)

    def open_value(self, payload: bytes, *, customer_id: str, field: str) -> Any:
        return _loads(payload, customer_id)

    def destroy_key(
        self, customer_id: str, *, record: Callable[[Session], object] | None = None
    ) -> bool:
        return False

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class PlaintextCodec:
    """Stores documents as plain UTF-8 JSON and index keys as ``kind:value``.

    Anyone who can read the database can read every personal value, and nothing can be
    crypto-shredded: use it only for tests and demos.
    """

    @property
    def encrypted(self) -> bool:
        """Always ``False``."""
        return False

    def begin(self, session: Session) -> Sealer:
        """Return the (stateless) plaintext sealer."""
        return _PlainSealer()

    def index_key(self, key: StrongKey) -> str:
        """Return ``"kind:value"``."""
        kind, value = key
        return f"{kind}:{value}"

    def lookup_keys(self, key: StrongKey) -> tuple[str, ...]:
        """Return the one plaintext index key."""
        return (self.index_key(key),)


def stored_keys(keys: KeyTable, customer_ids: Sequence[str]) -> dict[str, WrappedKey]:
    """The wrapped keys ``keys`` holds for some of ``customer_ids``: one batched read where the
    backend has one (``get_many``, SQLite), else one read per customer."""
    batch = getattr(keys, "get_many", None)
    if batch is not None:
        return dict(batch(customer_ids))
    found: dict[str, WrappedKey] = {}
    for customer_id in customer_ids:
        try:
            found[customer_id] = keys.get(customer_id)
        except NotFound:
            continue
    return found


def _document(converter: cattrs.Converter, record: Any) -> dict[str, Any]:
    """The schema-versioned document of a record, as the registry makes it."""
    return {"schema_version": SCHEMA_VERSION, "data": converter.unstructure(record)}


class _KeySource:
    """Where data keys live: the session's own ``keys`` table, or a separate key store."""

    def __init__(self, session: Session, key_store: Store | None) -> None:
        self._session = session
        self._key_store = key_store

    @property
    def transactional(self) -> bool:
        """Whether keys are written in the data's own transaction (no separate key store)."""
        return self._key_store is None

    def _run(self, action: Callable[[KeyTable], Any], *, write: bool) -> Any:
        if self._key_store is None:
            return action(self._session.keys)
        with self._key_store.transaction(readonly=not write) as key_session:
            if not write:
                return action(key_session.keys)
            with all_or_nothing(key_session):  # one write, then commit: given up whole
                result = action(key_session.keys)
            key_session.commit()
            return result

    def get(self, customer_id: str) -> WrappedKey | None:
        def read(keys: KeyTable) -> WrappedKey | None:
            try:
                return keys.get(customer_id)
            except NotFound:
                return None

        result: WrappedKey | None = self._run(read, write=False)
        return result

    def get_many(self, customer_ids: Sequence[str]) -> dict[str, WrappedKey]:
        """The keys stored for some of ``customer_ids`` (one read of the key store)."""

        def read(keys: KeyTable) -> dict[str, WrappedKey]:
            return stored_keys(keys, customer_ids)

        result: dict[str, WrappedKey] = self._run(read, write=False)
        return result

    def put_many(self, batch: Sequence[WrappedKey]) -> None:
        if batch:
            self._run(lambda keys: keys.put_many(batch), write=True)

    def delete(
        self, customer_id: str, *, record: Callable[[Session], object] | None = None
    ) -> bool:
        if self._key_store is None:
            deleted = self._session.keys.delete(customer_id)
            if deleted and record is not None:
                record(self._session)
            return deleted
        with self._key_store.transaction() as key_session:
            deleted = key_session.keys.delete(customer_id)
            if deleted and record is not None:
                record(key_session)
            key_session.commit()
        return deleted


class _EncryptingSealer:
    """Seals with per-customer data keys, cached for one unit of work and dropped with it.

    The cache holds each key as a :class:`~custrec.security.crypto.DataKey` (the key with its
    AES-GCM context); :meth:`destroy_key` and :meth:`close` drop them, and nothing outside the
    sealer keeps a reference, so a shredded key does not outlive the unit that shredded it.

    A data key made here is not written at once: it waits in ``_pending`` and :meth:`flush`
    writes the keys of the whole unit of work with one ``put_many`` (one statement instead of
    one per customer). In the data's own store that happens in the same transaction as the
    records; a separate key store commits them just before the data is committed.
    """

    def __init__(self, codec: EncryptingCodec, source: _KeySource) -> None:
        self._codec = codec
        self._source = source
        self._keys: dict[str, DataKey] = {}
        self._pending: dict[str, WrappedKey] = {}
        self._made_at: datetime | None = None  # when this unit of work made its first key

    def _data_key(
        self,
        customer_id: str,
        *,
        create: bool,
        fresh: bool = False,
        stored: Mapping[str, WrappedKey] | None = None,
        minted: bool = False,
    ) -> DataKey:
        """The customer's key: cached, else unwrapped from the key store (``stored``: the
        keys already read for a batch), else made (when ``create``)."""
        cached = self._keys.get(customer_id)
        if cached is not None:
            return cached
        ring = self._codec.keyring
        # a new customer has no key yet: skip the look-up (in the same store, the key is
        # written in the same transaction as the customer)
        if stored is not None:
            wrapped = stored.get(customer_id)
        elif minted or (fresh and self._source.transactional):
            wrapped = None
        else:
            wrapped = self._source.get(customer_id)
        if wrapped is None:
            if not create:
                raise Erased(customer_id)
            data_key, master_id, blob = ring.new_data_key(customer_id)
            if self._made_at is None:
                self._made_at = datetime.now(UTC)
            self._pending[customer_id] = WrappedKey(
                customer_id=customer_id,
                master_key_id=master_id,
                wrapped=blob,
                created_at=self._made_at,
            )
        else:
            # a separate key store commits keys at once, so an interrupted intake may have left
            # this customer's key behind: reuse it
            data_key = ring.unwrap_data_key(customer_id, wrapped.master_key_id, wrapped.wrapped)
        key = DataKey(data_key)
        self._keys[customer_id] = key
        return key

    def seal_record(
        self,
        record_type: type,
        document: Mapping[str, Any],
        *,
        customer_id: str,
        record_id: str | None = None,
        new_customer: bool = False,
        facts: Mapping[str, Any] | None = None,
        minted: bool = False,
    ) -> bytes:
        key = self._data_key(customer_id, create=True, fresh=new_customer, minted=minted)
        return self._codec.seal_document(record_type, document, key, customer_id, record_id, facts)

    def seal_new_customers(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        documents: Iterable[dict[str, Any]],
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        # the data keys of the batch in one tight loop, then the documents one by one (a
        # loop of one kind of work stays in the processor's caches: measurably faster intake)
        fresh = [cid for cid in customer_ids if cid not in self._keys]
        # a separate key store may hold keys an interrupted intake left behind: one read of
        # it for the whole batch instead of one transaction per customer
        stored = None if self._source.transactional else self._source.get_many(fresh)
        keys = [self._data_key(cid, create=True, fresh=True, stored=stored) for cid in customer_ids]
        seal = self._codec.seal_document
        remaining = iter(documents)
        payloads: list[bytes] = []
        if facts is not None and len(facts) != len(customer_ids):
            raise ValueError("one set of facts per customer id is needed")
        try:
            for index, (cid, key) in enumerate(zip(customer_ids, keys, strict=True)):
                document = next(remaining, None)
                if document is None:
                    raise ValueError("one document per customer id is needed")
                known = None if facts is None else facts[index]
                payloads.append(seal(record_type, document, key, cid, None, known))
            if next(remaining, None) is not None:
                raise ValueError("one document per customer id is needed")
        except BaseException:
            for cid in fresh:  # no key without its record: forget the keys made here
                self._keys.pop(cid, None)
                self._pending.pop(cid, None)
            raise
        return payloads

    def seal_new_records(
        self,
        record_type: type,
        customer_ids: Sequence[str],
        records: Sequence[Any],
        converter: cattrs.Converter,
        facts: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[bytes]:
        if len(records) != len(customer_ids):
            raise ValueError("one document per customer id is needed")
        build = self._codec.builder(converter, record_type)
        if build is None:
            documents = (_document(converter, record) for record in records)
            return self.seal_new_customers(record_type, customer_ids, documents, facts)
        # as seal_new_customers: the keys of the batch first, then each record
        if facts is not None and len(facts) != len(customer_ids):
            raise ValueError("one set of facts per customer id is needed")
        fresh = [cid for cid in customer_ids if cid not in self._keys]
        stored = None if self._source.transactional else self._source.get_many(fresh)
        keys = [self._data_key(cid, create=True, fresh=True, stored=stored) for cid in customer_ids]
        codec = self._codec
        payloads: list[bytes] = []
        try:
            for index, (cid, key, record) in enumerate(
                zip(customer_ids, keys, records, strict=True)
            ):
                known = None if facts is None else facts[index]
                sealed = codec.seal_built(record_type, build(record, cid, known), key, cid, known)
                if sealed is None:  # a record the builder leaves to the general path
                    document = _document(converter, record)
                    sealed = codec.seal_document(record_type, document, key, cid, None, known)
                payloads.append(sealed)
        except BaseException:
            for cid in fresh:  # no key without its record: forget the keys made here
                self._keys.pop(cid, None)
                self._pending.pop(cid, None)
            raise
        return payloads

    def open_record(
        self,
        record_type: type,
        payload: bytes,
        *,
        customer_id: str,
        record_id: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if _packed.is_packed(payload):
            packed = _packed.unpack(payload, f"customer {customer_id}")
            key = self._data_key(customer_id, create=False)
            return self._codec.open_packed(record_type, packed, key, customer_id, record_id, facts)
        document = _load_object(payload, customer_id)
        key = self._data_key(customer_id, create=False)
        return self._codec.cipher(record_type).open(
            document, data_key=key, customer_id=customer_id, record_id=record_id
        )

    def preload(self, customer_ids: Sequence[str]) -> None:
        missing = [cid for cid in customer_ids if cid not in self._keys]
        if not missing:
            return
        stored = self._source.get_many(missing)
        ring = self._codec.keyring
        for cid in missing:
            wrapped = stored.get(cid)
            if wrapped is not None:
                key = ring.unwrap_data_key(cid, wrapped.master_key_id, wrapped.wrapped)
                self._keys[cid] = DataKey(key)

    def seal_value(self, value: Any, *, customer_id: str, field: str) -> bytes:
        key = self._data_key(customer_id, create=True)
        return encrypt_json(key, value, customer_id=customer_id, field=field)

    def open_value(self, payload: bytes, *, customer_id: str, field: str) -> Any:
        key = self._data_key(customer_id, create=False)
        return decrypt_json(key, payload, customer_id=customer_id, field=field)

    def destroy_key(
        self, customer_id: str, *, record: Callable[[Session], object] | None = None
    ) -> bool:
        self._keys.pop(customer_id, None)
        unwritten = self._pending.pop(customer_id, None)
        deleted = self._source.delete(customer_id, record=record)
        return deleted or unwritten is not None

    def flush(self) -> None:
        if self._pending:
            # a failed write leaves the keys pending (and the session unchanged)
            self._source.put_many(list(self._pending.values()))
            self._pending.clear()

    def close(self) -> None:
        self._keys.clear()
        self._pending.clear()

    @property
    def cached_keys(self) -> int:
        """How many data keys the sealer holds now."""
        return len(self._keys)


class EncryptingCodec:
    """Envelope encryption of personal fields and blind-indexed identifiers.

    Each customer gets a random 32-byte data key, wrapped by the keyring's master key and kept
    in ``key_store``'s ``keys`` table (default: the ``keys`` table of the store being written,
    in the same transaction). A separate key store is recommended in production: a backup of
    the data store then holds no key, so erasing a customer's key also makes the backups of
    that customer unreadable. Documents are sealed field by field: personal fields (from the
    record metadata) become AES-GCM ciphertexts bound to the customer id and the field path;
    the rest stays readable. Index keys are HMAC blind-index tokens.
    """

    def __init__(self, keyring: KeyRing, *, key_store: Store | None = None) -> None:
        if not isinstance(keyring, KeyRing):
            raise TypeError("keyring must be a custrec.security.KeyRing")
        self._keyring = keyring
        self._key_store = key_store
        self._ciphers: dict[type, DocumentCipher] = {}
        self._shapes: dict[type, _packed.Shape] = {}
        self._builders: dict[int, tuple[cattrs.Converter, _direct.Builder | None]] = {}

    @property
    def encrypted(self) -> bool:
        """Always ``True``."""
        return True

    @property
    def keyring(self) -> KeyRing:
        """The keyring in use."""
        return self._keyring

    @property
    def key_store(self) -> Store | None:
        """The separate key store, or ``None`` when keys live beside the data."""
        return self._key_store

    def cipher(self, record_type: type) -> DocumentCipher:
        """The document cipher for a record type's ``{"schema_version", "data"}`` documents."""
        cipher = self._ciphers.get(record_type)
        if cipher is None:
            cipher = DocumentCipher(f"data.{f.path}" for f in personal_fields(record_type))
            self._ciphers[record_type] = cipher
        return cipher

    def begin(self, session: Session) -> Sealer:
        """Return a sealer that caches data keys for this session only."""
        return _EncryptingSealer(self, _KeySource(session, self._key_store))

    def _shape(self, record_type: type) -> _packed.Shape | None:
        """The shape of a record type whose documents are packed (customers), else ``None``."""
        if record_type is not Customer:
            return None
        shape = self._shapes.get(record_type)
        if shape is None:
            shape = self._shapes[record_type] = _packed.Shape.of(record_type)
        return shape

    def seal_document(
        self,
        record_type: type,
        document: Mapping[str, Any],
        key: DataKey,
        customer_id: str,
        record_id: str | None,
        facts: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The payload of a record document (consumed): customers' in the packed form
        (:mod:`custrec.storage._packed`, without the ``facts`` the row holds), other records'
        as JSON with base64 tokens."""
        shape = self._shape(record_type)
        data = document.get("data")
        version = document.get("schema_version")
        if (
            shape is None
            or len(document) != 2
            or not isinstance(data, dict)
            or type(version) is not int
            or version < 0
        ):
            sealed = self.cipher(record_type).seal(
                document, data_key=key, customer_id=customer_id, record_id=record_id, in_place=True
            )
            return _dumps(sealed)
        compacted = _packed.compact(data, shape, record_id or customer_id, facts)
        wrapper = {"data": data if compacted is None else compacted}
        sealed_doc, blobs = self.cipher(record_type).seal_detached(
            wrapper, data_key=key, customer_id=customer_id, record_id=record_id, in_place=True
        )
        flags = 0
        if compacted is not None:
            flags = _packed.COMPACTED | (_packed.WITH_FACTS if facts else 0)
        return _packed.pack(version, sealed_doc["data"], blobs, flags=flags)

    def builder(self, converter: cattrs.Converter, record_type: type) -> _direct.Builder | None:
        """The compiled :mod:`custrec.storage._direct` builder of customers under
        ``converter`` (kept per converter), ``None`` for any other record type."""
        if record_type is not Customer:
            return None
        kept = self._builders.get(id(converter))
        if kept is None or kept[0] is not converter:
            if len(self._builders) >= 8:  # a registry has one converter: never grow
                self._builders.clear()
            kept = self._builders[id(converter)] = (converter, _direct.builder(converter, Customer))
        return kept[1]

    def seal_built(
        self,
        record_type: type,
        built: _direct.Built | None,
        key: DataKey,
        customer_id: str,
        facts: Mapping[str, Any] | None,
    ) -> bytes | None:
        """The payload :meth:`seal_document` makes of a customer's document, from the
        skeleton and personal values :mod:`custrec.storage._direct` built straight from the
        record (``None`` when it built nothing: the caller seals the document)."""
        if built is None:
            return None
        skeleton, values = built
        blobs = self.cipher(record_type).seal_values(values, data_key=key, customer_id=customer_id)
        flags = _packed.COMPACTED | (_packed.WITH_FACTS if facts else 0)
        # the builder made every dict and list of the skeleton: no reference cycle
        return _packed.pack(SCHEMA_VERSION, skeleton, blobs, flags=flags, acyclic=True)

    def open_packed(
        self,
        record_type: type,
        packed: _packed.Unpacked,
        key: DataKey,
        customer_id: str,
        record_id: str | None,
        facts: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The document of a packed payload, as it was sealed."""
        if packed.flags & _packed.WITH_FACTS and not facts:
            raise StorageError(
                f"payload of customer {customer_id} needs the facts of its row to be opened"
            )
        wrapper = self.cipher(record_type).open_detached(
            {"data": packed.skeleton},
            packed.ciphertexts,
            data_key=key,
            customer_id=customer_id,
            record_id=record_id,
        )
        data = wrapper["data"]
        if packed.flags & _packed.COMPACTED:
            shape = self._shape(record_type) or _packed.Shape.of(record_type)
            known = facts if packed.flags & _packed.WITH_FACTS else None
            data = _packed.expand(data, shape, record_id or customer_id, known)
        return {"schema_version": packed.schema_version, "data": data}

    def index_key(self, key: StrongKey) -> str:
        """The blind-index token under the current index key."""
        kind, value = key
        return self._keyring.blind_index.token(kind, value)

    def lookup_keys(self, key: StrongKey) -> tuple[str, ...]:
        """Tokens under every configured index key (current first)."""
        kind, value = key
        return self._keyring.blind_index.lookup_tokens(kind, value)
