"""The facts a customer row stores beside its payload are the same whether read from the
customer or from its unstructured document (bulk intake reads them from the document)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from custrec import KeyRing, MemoryStore, Registry
from custrec.model.records import Customer, CustomerKind, RecordState

_TEXT = st.text(min_size=1, max_size=8)
_INSTANTS = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


_RECORDS = Registry(MemoryStore(), keyring=KeyRing.generate()).customers._intake._records


@given(
    kind=st.sampled_from(CustomerKind),
    state=st.sampled_from([RecordState.LIVE, RecordState.ARCHIVED]),
    owner=st.none() | _TEXT,
    team=st.none() | _TEXT,
    grade=st.none() | _TEXT,
    tags=st.lists(_TEXT, max_size=3, unique=True).map(tuple),
    created=_INSTANTS,
    updated=_INSTANTS,
)
def test_document_facts_equal_customer_facts(
    kind: CustomerKind,
    state: RecordState,
    owner: str | None,
    team: str | None,
    grade: str | None,
    tags: tuple[str, ...],
    created: dt.datetime,
    updated: dt.datetime,
) -> None:
    customer = Customer(
        kind=kind,
        name="某公司",
        state=state,
        owner=owner,
        team=team,
        grade=grade,
        tags=tags,
        created_at=created,
        updated_at=updated,
    )
    document = _RECORDS.document(customer)
    assert _RECORDS.document_facts(document) == _RECORDS.customer_facts(customer)
