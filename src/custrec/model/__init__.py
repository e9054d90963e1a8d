"""The data model: what a customer record is, before any store or service sees it.

- :mod:`custrec.model.ids` — ULID-style identifiers for records and entries;
- :mod:`custrec.model.issues` — validation issues, their severities and reports;
- :mod:`custrec.model.records` — the frozen record types (``Customer``, ``Transaction``,
  ``Interaction``, ...) and the metadata that marks personal fields;
- :mod:`custrec.model.serialization` — records to schema-versioned JSON documents and back;
- :mod:`custrec.model.history` — field-level differences between two versions of a record.

The modules are layered in that order (each imports only from those above it in this list) and
none of them does I/O.
"""
