"""The registry's records of processing (``registry.processing``): what it holds and why.

The map is built from what the registry is configured with and what its store declares: the
record types, the current custom-field definitions, the purpose catalogue and jurisdiction,
the retention schedule and the registered third-party recipients. Reading it reads no
customer; it is authorised and audited like any other compliance read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from custrec.compliance.processing import Controller, ProcessingMap, processing_map
from custrec.compliance.recipients import Recipient
from custrec.model.custom import CustomFieldSet
from custrec.model.records import Customer
from custrec.security import Action, Actor, Resource
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor
from custrec.services.disclosures import RECIPIENT

__all__ = ["ProcessingService", "registered_recipients"]

RecipientSource = Callable[[Unit], Iterable[Recipient]]
"""Reads the registered third-party recipients inside a unit of work."""


def registered_recipients(unit: Unit) -> list[Recipient]:
    """The recipients ``registry.disclosures`` registered, as stored in the documents table."""
    return [Recipient.from_json(Documents.data(row)) for row in Documents.every(unit, RECIPIENT)]


class ProcessingService:
    """The processing map of this registry (see :mod:`custrec.compliance.processing`).

    ``recipients`` reads the registered recipients in a unit of work (default
    :func:`registered_recipients`).
    """

    def __init__(
        self,
        context: Context,
        records: Records,
        *,
        recipients: RecipientSource = registered_recipients,
    ) -> None:
        if not callable(recipients):
            raise TypeError("recipients must be callable (a unit of work to recipients)")
        self._context = context
        self._records = records
        self._recipients = recipients

    def processing_map(
        self, *, actor: Actor, controller: Controller | None = None
    ) -> ProcessingMap:
        """The map as this registry holds data now: its record types with how each personal
        field is protected here (``encrypted`` and ``blind_indexed`` only with a keyring;
        ``indexed`` as the registry's own index does it, blocking keys included when the
        matching settings keep them), the current custom fields, the purposes with their bases
        in the registry's jurisdiction, the retention schedule (``None`` when the registry has
        none) and the registered recipients. ``as_of`` is the registry clock's time.

        Needs ``audit_read`` (the ``auditor`` and ``compliance`` roles) or ``compliance`` (the
        ``admin`` role); audited as ``processing.map``. Reads no customer.
        """
        actor = check_actor(actor)
        if controller is not None and not isinstance(controller, Controller):
            raise TypeError("controller must be a custrec.compliance.Controller or None")
        context = self._context
        now = context.now()
        policy = context.policy
        action = Action.AUDIT_READ
        if (
            not policy.decide(actor, Action.AUDIT_READ, Resource()).allowed
            and policy.decide(actor, Action.COMPLIANCE, Resource()).allowed
        ):
            action = Action.COMPLIANCE
        with context.read_unit() as unit:
            unit.authorize(actor, action, Resource(), at=now)
            fields = unit.fields()
            recipients = list(self._recipients(unit))
            unit.audit(
                actor,
                "processing.map",
                at=now,
                reason=f"custom fields version {fields.version}, {len(recipients)} recipients",
            )
            unit.commit()
        return processing_map(
            purposes=context.purposes,
            retention=context.retention,
            custom_fields=fields,
            recipients=recipients,
            jurisdiction=context.jurisdiction,
            controller=controller,
            as_of=now,
            encrypted=context.codec.encrypted,
            lookup_keys=self._index_keys,
        )

    def _index_keys(self, customer: Customer) -> frozenset[str]:
        """The index entries the registry writes for a customer's own fields (the custom
        fields' are known from their definitions)."""
        return self._records.index_keys(customer, fields=CustomFieldSet())
