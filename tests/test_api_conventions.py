"""The public API spells each idea one way (docs/registry.md, "Conventions").

These tests walk every public module, so a new method that breaks a convention fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import attrs
import pytest

import custrec
from custrec import errors
from custrec.registry import Registry


def public_modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(custrec.__path__, "custrec."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        found.append(importlib.import_module(info.name))
    modules = [custrec, *found]
    for module in modules:  # a package that imports its names on first use: ask for each
        for name in getattr(module, "__all__", ()):
            getattr(module, name)
    return modules


def public_classes() -> Iterator[tuple[str, type]]:
    for module in public_modules():
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isclass(value)
                and value.__module__.startswith("custrec")
            ):
                yield name, value


def exported(module: ModuleType) -> Iterator[tuple[str, Any]]:
    """The public names a module offers: those it defines, and those its ``__all__`` re-exports
    from custrec's private modules (``custrec.cli._support``, ``custrec.interchange._paths``...)."""
    listed = set(getattr(module, "__all__", ()))
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        home = getattr(value, "__module__", None) or ""
        private_home = any(part.startswith("_") for part in home.split("."))
        if home == module.__name__ or (
            name in listed and home.startswith("custrec") and private_home
        ):
            yield name, value


def public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    seen: set[int] = set()
    for module in public_modules():
        for name, value in exported(module):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
            elif inspect.isclass(value):
                for member, attribute in vars(value).items():
                    if member.startswith("_") and member != "__init__":
                        continue
                    function = getattr(attribute, "__func__", attribute)
                    if inspect.isfunction(function):
                        yield f"{module.__name__}.{name}.{member}", function


def test_names_re_exported_from_private_modules_are_checked_too() -> None:
    homes = {function.__module__ for _, function in public_callables()}
    assert {
        "custrec.cli._schedule",
        "custrec.cli._support",
        "custrec.interchange._binding",
        "custrec.interchange._paths",
        "custrec.services._records",
    } <= homes


def parameters(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(function).parameters)


def test_every_public_exception_and_warning_is_importable_from_custrec_errors() -> None:
    strays = sorted(
        f"{cls.__module__}.{name}"
        for name, cls in public_classes()
        if issubclass(cls, BaseException) and getattr(errors, name, None) is not cls
    )
    assert strays == []
    assert all(
        issubclass(getattr(errors, name), errors.CustrecError | Warning) for name in errors.__all__
    )


def test_no_two_public_classes_share_a_name() -> None:
    by_name: dict[str, set[str]] = {}
    for name, cls in public_classes():
        by_name.setdefault(name, set()).add(f"{cls.__module__}.{cls.__qualname__}")
    assert {name: homes for name, homes in by_name.items() if len(homes) > 1} == {}


# "at" names when a recorded thing happened (an event's capture, an audit entry, a
# checkpoint); the instant an answer is evaluated at is always "as_of".
EVENT_INSTANTS = {
    "custrec.consent.events.ConsentEvent.grant",
    "custrec.consent.events.ConsentEvent.withdraw",
    "custrec.consent.events.ConsentEvent.object_to",
    "custrec.consent.events.ConsentEvent.restrict",
    "custrec.consent.events.ConsentEvent.lift_restriction",
    "custrec.security.audit.Checkpoint.__init__",
    "custrec.security.audit.AuditChain.checkpoint",
    "custrec.storage.types.HistoryRecord.__init__",
    "custrec.storage.types.AuditRecord.__init__",
    "custrec.services.results.HistoryEntry.__init__",
    "custrec.services.context.Unit.audit",
    "custrec.services.context.Unit.authorize",
    "custrec.services.context.Unit.refuse_duplicate",
    "custrec.services.context.Unit.audit_duplicate",
    "custrec.services.Records.audit_read",
    "custrec.storage.types.ChangeEvent.__init__",
    "custrec.workflow.cases.CaseEscalation.__init__",
    "custrec.workflow.cases.CaseTransition.__init__",
    "custrec.workflow.rules.LifecycleEvent.__init__",
    "custrec.compliance.disclosures.Disclosure.__init__",
    "custrec.compliance.disclosures.CustomerDisclosure.__init__",
    "custrec.compliance.incidents.StatusChange.__init__",
}


def test_evaluation_instants_are_called_as_of() -> None:
    named_at = {
        qualname
        for qualname, function in public_callables()
        if {"at", "when", "instant", "now_"} & set(parameters(function))
    }
    assert named_at == EVENT_INSTANTS


def test_batch_sizes_are_called_batch_size() -> None:
    offenders = [
        qualname
        for qualname, function in public_callables()
        if {"chunk_size", "chunk", "page_size", "batch"} & set(parameters(function))
    ]
    assert offenders == []


# A reason is required where a write corrects, decides or removes what is recorded; optional
# (None by default) where it adds a new fact; absent where the library writes its own
# (grading: the policy's reasons; retention: the rule that made the action due).
REQUIRED_REASON = {
    ("customers", "update"),
    ("matching", "merge"),
    ("privacy", "erase"),
    ("review", "approve"),
    ("review", "reject"),
    ("audit", "reset_head"),
    ("incidents", "move"),
}
OPTIONAL_REASON = {
    ("customers", "intake"),
    ("customers", "intake_many"),
    ("activities", "record_transaction"),
    ("activities", "record_interaction"),
    ("consent", "record"),
    ("consent", "grant"),
    ("consent", "withdraw"),
    ("consent", "object_to"),
    ("consent", "restrict"),
    ("consent", "lift_restriction"),
    ("review", "verify"),
    ("keys", "rotate_master"),
    ("keys", "reindex"),
    ("keys", "separate"),
    ("cases", "open"),
    ("cases", "transition"),
    ("cases", "assign"),
    ("tasks", "create"),
    ("tasks", "cancel"),
}


def service_methods() -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """The methods callers use: public, and not a building block other services call inside
    their own unit of work (those take the ``unit`` first)."""
    for attribute, service in inspect.get_annotations(Registry, eval_str=True).items():
        for name, member in vars(service).items():
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            if list(parameters(member))[1:2] == ["unit"]:
                continue
            yield attribute, name, member


def test_reasons_follow_one_rule() -> None:
    required, optional = set(), set()
    for attribute, name, method in service_methods():
        reason = parameters(method).get("reason")
        if reason is None:
            continue
        assert reason.kind is inspect.Parameter.KEYWORD_ONLY, (attribute, name)
        if reason.default is inspect.Parameter.empty:
            required.add((attribute, name))
        else:
            assert reason.default is None, (attribute, name)
            optional.add((attribute, name))
    assert required == REQUIRED_REASON
    assert optional == OPTIONAL_REASON


def test_every_service_method_names_its_actor() -> None:
    missing = [
        (attribute, name)
        for attribute, name, method in service_methods()
        if parameters(method).get("actor") is None
        or parameters(method)["actor"].kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert missing == []


def test_a_limit_is_always_a_page_size_with_a_cursor() -> None:
    for attribute, name, method in service_methods():
        found = parameters(method)
        if "limit" in found:
            assert "after" in found, (attribute, name)
            assert found["limit"].default == 100, (attribute, name)


def test_service_results_are_frozen_value_objects() -> None:
    from custrec.services import results

    for name in results.__all__:
        cls = getattr(results, name)
        assert attrs.has(cls), name
        instance_fields = attrs.fields(cls)
        assert instance_fields, name
        assert cls.__setattr__ is not object.__setattr__, f"{name} is not frozen"


@pytest.mark.parametrize(
    ("attribute", "name"),
    [
        ("customers", "identify"),
        ("privacy", "journal"),
        ("privacy", "export_subject"),
        ("matching", "merge"),
        ("retention", "apply"),
    ],
)
def test_results_are_value_objects_not_tuples_or_dicts(attribute: str, name: str) -> None:
    service = inspect.get_annotations(Registry, eval_str=True)[attribute]
    returned = inspect.signature(getattr(service, name), eval_str=True).return_annotation
    inner = getattr(returned, "__args__", (returned,))[0]
    assert attrs.has(inner), (attribute, name, returned)
