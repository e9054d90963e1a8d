"""Custom fields defined at run time and kept in the store (``registry.fields``)."""

from __future__ import annotations

from collections.abc import Callable

from custrec.model.custom import CustomField, CustomFieldSet, from_json, to_json
from custrec.security import Action, Actor, Resource
from custrec.services._custom import DEFINITIONS, version_name
from custrec.services.context import Context, check_actor, check_reason

__all__ = ["FieldService"]


class FieldService:
    """Define, change and remove custom fields; read the current set and its history.

    The set is stored in the registry's store, so every registry on the same store (other
    processes included) uses the same definitions; each change makes a new version (earlier
    versions are kept and listed by :meth:`history`) and is audited. Changes never touch stored
    records: a value stays readable whatever happens to its definition, and a removed field's
    values are kept until retention erases the customer.
    """

    def __init__(self, context: Context) -> None:
        self._context = context
        with context.store.transaction(readonly=True) as session:
            context.fields.read(session)

    def current(self) -> CustomFieldSet:
        """The set stored now."""
        with self._context.store.transaction(readonly=True) as session:
            return self._context.fields.read(session)

    def history(self) -> tuple[CustomFieldSet, ...]:
        """Every version of the set, the first (version 1) first."""
        with self._context.store.transaction(readonly=True) as session:
            current = self._context.fields.read(session)
            found: list[CustomFieldSet] = []
            for version in range(1, current.version):
                raw = session.meta.get(version_name(version))
                if raw is not None:
                    found.append(from_json(raw))
            if current.version:
                found.append(current)
            return tuple(found)

    def define(self, field: CustomField, *, actor: Actor, reason: str) -> CustomFieldSet:
        """Add a new custom field; returns the new set. Raises
        :class:`~custrec.model.custom.DefinitionConflict` for a name in use."""
        if not isinstance(field, CustomField):
            raise TypeError("field must be a custrec.model.custom.CustomField")
        return self._write(lambda fields: fields.define(field), field.name, actor, reason)

    def change(self, field: CustomField, *, actor: Actor, reason: str) -> CustomFieldSet:
        """Replace a field's definition (compatible changes only, see
        :meth:`~custrec.model.custom.CustomFieldSet.change`); returns the new set."""
        if not isinstance(field, CustomField):
            raise TypeError("field must be a custrec.model.custom.CustomField")
        return self._write(lambda fields: fields.change(field), field.name, actor, reason)

    def remove(self, name: str, *, actor: Actor, reason: str) -> CustomFieldSet:
        """Remove a field: it is no longer accepted on new values, filtered on or indexed;
        stored values stay (readable, exported and masked as the removed definition says)."""
        if not isinstance(name, str):
            raise TypeError("name must be a custom field's name")
        return self._write(lambda fields: fields.remove(name), name, actor, reason)

    def _write(
        self,
        step: Callable[[CustomFieldSet], CustomFieldSet],
        name: str,
        actor: Actor,
        reason: str,
    ) -> CustomFieldSet:
        actor = check_actor(actor)
        reason = check_reason(reason, "a change of custom fields")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.DEFINE_FIELDS, Resource(), at=now)
            before = self._context.fields.read(unit.session)
            after = step(before)
            raw = to_json(after)
            if before.version:
                unit.session.meta.put(version_name(before.version), to_json(before))
            unit.session.meta.put(DEFINITIONS, raw)
            unit.audit(
                actor,
                "fields.change",
                at=now,
                fields=[f"custom.{name}"],
                reason=f"version {after.version}: {reason}",
            )
            unit.commit()
        self._context.fields.store(after, raw)
        return after
