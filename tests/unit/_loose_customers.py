"""Loose customers for the storage equivalence tests: any texts, every kind of field filled or
left out, records built directly (no validation). ``loose_customers(instants=...)`` draws the
creation and update instants (``None`` allowed unless given another strategy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
    Milestones,
    Money,
)
from custrec.testing.strategies import aware_datetimes, ids

__all__ = ["loose_customers"]

texts = st.text(max_size=6)
optional_texts = st.none() | texts


def loose_customers(instants: Any = None) -> st.SearchStrategy[Customer]:
    """Customers with loose values; ``instants`` draws ``created_at`` and ``updated_at``."""
    instants = st.none() | aware_datetimes() if instants is None else instants
    contacts = st.builds(
        Contact,
        name=optional_texts,
        title=optional_texts,
        phones=st.lists(texts, max_size=2),
        emails=st.lists(texts, max_size=2),
        wechat=optional_texts,
        primary=st.booleans(),
    )
    return st.builds(
        Customer,
        id=ids(),
        version=st.integers(0, 3),
        kind=st.sampled_from(CustomerKind),
        name=texts,
        registered_name=optional_texts,
        gender=st.none() | st.sampled_from(Gender),
        birth_date=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2030, 1, 1)),
        legal_representative=optional_texts,
        notes=optional_texts,
        industry=optional_texts,
        identifiers=st.lists(
            st.builds(Identifier, scheme=texts, value=texts, system=optional_texts), max_size=2
        ),
        contacts=st.lists(contacts, max_size=2),
        addresses=st.lists(
            st.builds(
                Address,
                city=optional_texts,
                street=optional_texts,
                district=optional_texts,
                postal_code=optional_texts,
            ),
            max_size=2,
        ),
        tags=st.lists(texts, max_size=3),
        needs=st.lists(texts, max_size=1),
        owner=optional_texts,
        team=optional_texts,
        grade=optional_texts,
        custom=st.dictionaries(st.text(min_size=1, max_size=3), texts, max_size=2),
        milestones=st.builds(
            Milestones,
            satisfaction=st.none() | st.integers(1, 5),
            contract_signed_on=st.none() | st.dates(),
            contract_amount=st.none() | st.builds(Money, amount=st.decimals(places=2, max_value=9)),
        ),
        created_at=instants,
        updated_at=instants,
        last_verified_at=st.none() | aware_datetimes(),
    )
