"""Customers parsed and validated ahead of intake: in this process (``customers.prepare``) or in
worker processes (``customers.preparation``), and taken in without being validated again.

Trust is what lets intake skip validation, so it is never given to an object a caller built or
changed: a :class:`PreparedCustomer` is trusted by the registry that issued it (held by
identity), or, after a trip through another process, by a seal: an HMAC of the record (all but
its id) under the key of a :class:`Preparation` that registry made (256 random bits, kept only
in the registry and in the preparation, never in a prepared customer). A record changed after
it was prepared no longer matches its seal. Either way only for the actor it was prepared for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, non_empty_text, storable_text
from custrec.model._replace import replace
from custrec.model.custom import CustomFieldSet
from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import Customer, RecordState
from custrec.model.serialization import make_converter
from custrec.services._custom import removed_issues
from custrec.validation import RuleSet, parse_customer

__all__ = ["RESTRICTION_ISSUE", "Issuer", "Preparation", "PreparedCustomer", "prepared"]

RESTRICTION_ISSUE: Final = Issue(  # intake and update refuse a restriction set by hand
    path="state",
    code="state.restricted",
    message="a restriction is recorded and lifted through the consent ledger "
    "(restrict and lift_restriction events), not set by an update",
)


_CONVERTER: Final = make_converter()


def _seal(key: bytes, record: Customer, actor_id: str) -> str:
    """The HMAC of a prepared record (everything but its id, which ``with_id`` may change) and
    the actor it was prepared for."""
    data = _CONVERTER.unstructure(record)
    data.pop("id", None)
    body = json.dumps([actor_id, data], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def prepared(
    data: Mapping[str, Any],
    *,
    region: str,
    rules: RuleSet | None,
    as_of: datetime,
    fields: CustomFieldSet | None = None,
) -> tuple[Customer | None, ValidationReport]:
    """``parse_customer`` as intake runs it (custom values checked against ``fields``): a
    restriction set by hand is refused."""
    if not isinstance(data, Mapping):
        raise TypeError("prepare() takes a mapping")
    result = parse_customer(data, region=region, rules=rules, as_of=as_of, fields=fields)
    record, report = result.record, result.report
    if record is not None and record.custom and fields is not None:
        removed = removed_issues(record.custom, fields)
        if removed:
            record, report = None, report.merged(ValidationReport(removed))
    if record is not None and record.state is RecordState.RESTRICTED:
        record, report = None, report.merged(ValidationReport((RESTRICTION_ISSUE,)))
    return record, report


@attrs.frozen(eq=False)
class PreparedCustomer:
    """A customer parsed and validated by ``registry.customers.prepare`` (or a
    :class:`Preparation` of the registry) with the registry's own rules, which the same
    registry's ``intake``/``intake_many`` take **without validating it again** when the same
    actor hands it over.

    ``record`` is ``None`` unless ``report.ok`` (as for
    :class:`~custrec.validation.ParseResult`). Only an object the registry issued is trusted:
    one built by hand, issued by another registry or handed over by another actor is validated
    like any :class:`~custrec.model.records.Customer`, so nobody skips validation by building one.
    It pickles (for worker processes); after the trip only a preparation's result stays trusted.
    """

    record: Customer | None
    report: ValidationReport
    actor_id: str
    _issuer: Issuer | None = attrs.field(default=None, repr=False, alias="issuer")
    _ticket: str | None = attrs.field(default=None, repr=False, alias="ticket")  # which key
    _seal: str | None = attrs.field(default=None, repr=False, alias="seal")

    @property
    def ok(self) -> bool:
        """Whether the data is valid (``record`` is set)."""
        return self.record is not None

    def with_id(self, customer_id: str) -> PreparedCustomer:
        """The same prepared customer under another id (an import's deterministic id), still
        trusted: the id is checked (non-empty text that storage can hold), nothing else changes.
        ``ValueError`` for a customer that failed validation or a bad id."""
        if self.record is None:
            raise ValueError("a customer that failed validation cannot take an id")
        check("customer_id", customer_id, non_empty_text())
        check("customer_id", customer_id, storable_text())
        record = replace(self.record, id=customer_id)  # attrs.evolve without a rebuild
        if self._issuer is not None:
            return self._issuer.issue(record, self.report, self.actor_id)
        # the seal leaves the id out: it still holds for the record under its new id
        return PreparedCustomer(
            record, self.report, self.actor_id, ticket=self._ticket, seal=self._seal
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # the issuer (a registry's) stays in its process; a preparation's seal travels
        return (_rebuilt, (self.record, self.report, self.actor_id, self._ticket, self._seal))


def _rebuilt(
    record: Customer | None,
    report: ValidationReport,
    actor_id: str,
    ticket: str | None,
    seal: str | None,
) -> PreparedCustomer:
    return PreparedCustomer(record, report, actor_id, ticket=ticket, seal=seal)


@attrs.frozen
class Preparation:
    """Prepares customers for one registry anywhere, worker processes included: it pickles.

    Made by ``registry.customers.preparation``: :meth:`prepare` parses and validates with that
    registry's rules, the ``region`` given (default the registry's) and the instant ``as_of``,
    as ``registry.customers.prepare`` does, and the :class:`PreparedCustomer` it returns is taken
    in by that registry, from the same actor, without a second validation. Pickling fails with
    ``TypeError`` or ``pickle.PicklingError`` when the registry's rules cannot be pickled (a
    rule defined inside a function, say).
    """

    actor_id: str
    region: str
    as_of: datetime
    rules: RuleSet | None = attrs.field(repr=False)
    _ticket: str = attrs.field(repr=False, alias="ticket")
    _key: bytes = attrs.field(repr=False, alias="key")
    fields: CustomFieldSet | None = attrs.field(default=None, repr=False)

    def prepare(self, data: Mapping[str, Any]) -> PreparedCustomer:
        """Parse and validate ``data`` (see the class); ``TypeError`` if not a mapping."""
        record, report = prepared(
            data, region=self.region, rules=self.rules, as_of=self.as_of, fields=self.fields
        )
        seal = None if record is None else _seal(self._key, record, self.actor_id)
        return PreparedCustomer(record, report, self.actor_id, ticket=self._ticket, seal=seal)


class Issuer:
    """The prepared customers and the preparation tickets one registry issued (prepared
    customers weakly held: they are not kept alive)."""

    def __init__(self) -> None:
        self._issued: weakref.WeakSet[PreparedCustomer] = weakref.WeakSet()
        self._tickets: dict[str, tuple[str, bytes]] = {}  # ticket -> (actor, key)

    def issue(
        self, record: Customer | None, report: ValidationReport, actor_id: str
    ) -> PreparedCustomer:
        """A prepared customer this registry trusts (by identity)."""
        prepared_customer = PreparedCustomer(record, report, actor_id, issuer=self)
        self._issued.add(prepared_customer)
        return prepared_customer

    def preparation(
        self,
        actor_id: str,
        *,
        region: str,
        rules: RuleSet | None,
        as_of: datetime,
        fields: CustomFieldSet | None = None,
    ) -> Preparation:
        """A new preparation whose results this registry trusts (by ticket)."""
        ticket, key = secrets.token_hex(16), secrets.token_bytes(32)
        self._tickets[ticket] = (actor_id, key)
        return Preparation(actor_id, region, as_of, rules, ticket=ticket, key=key, fields=fields)

    def trusts(self, item: object, actor_id: str) -> bool:
        """Whether ``item`` is a prepared customer issued here for ``actor_id``."""
        if not isinstance(item, PreparedCustomer) or item.actor_id != actor_id:
            return False
        if item._issuer is self and item in self._issued:
            return True
        made = None if item._ticket is None else self._tickets.get(item._ticket)
        if made is None or made[0] != actor_id or item.record is None or item._seal is None:
            return False
        expected = _seal(made[1], item.record, actor_id)
        return hmac.compare_digest(expected, item._seal)
