"""The JSON views (plain synchronous views: the Registry's calls block, see
docs/concurrency-and-frameworks.md). Personal data never travels in a URL, where access logs
keep it: the phone to look up comes in a POST body."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from custrec.model.records import Customer
from custrec.model.serialization import to_document

from .backend import registry
from .middleware import BadRequestBody, actor_of, problem

JSON_NAMES = {str: "string", int: "integer", dict: "object"}


def body(request: HttpRequest, **fields: type) -> dict[str, Any]:
    """The request's JSON object, with each named field present and of its type."""
    try:
        data = json.loads(request.body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadRequestBody([problem("", "request.not_object", "send a JSON object")])
    issues = []
    for name, kind in fields.items():
        if name not in data:
            issues.append(problem(name, "request.missing", "required"))
        elif not isinstance(data[name], kind) or isinstance(data[name], bool):
            issues.append(problem(name, "request.type", f"must be a JSON {JSON_NAMES[kind]}"))
        elif kind is str and not data[name].strip():
            issues.append(problem(name, "request.blank", "must not be blank"))
    if issues:
        raise BadRequestBody(issues)
    return data


# The top-level fields of a customer that a client may send at intake: what a clerk types in.
# Everything else is the service's to set, and a request naming it is refused (422), never
# quietly stored: the id, the version and the instants (``created_at`` drives retention),
# ``verification`` and ``last_verified_at`` (the review workflow), ``grade`` and ``grades``
# (a grading policy), ``state`` (archiving, consent, erasure), ``last_contacted_at`` (logged
# interactions), and ``owner`` and ``team``: intake makes the caller the owner, and a change of
# owner belongs to a route of its own for the people allowed to reassign customers.
INTAKE_FIELDS = frozenset(
    {
        "kind",
        "name",
        "registered_name",
        "gender",
        "birth_date",
        "industry",
        "employee_band",
        "revenue_band",
        "founded_on",
        "legal_representative",
        "identifiers",
        "contacts",
        "addresses",
        "category",
        "stage",
        "intent",
        "product_interests",
        "needs",
        "tags",
        "notes",
        "source",
        "custom",  # checked against the field definitions (registry.fields)
        "milestones",
    }
)
# The fields an update's ``changes`` may name: the same ones.
UPDATE_FIELDS = INTAKE_FIELDS

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def only_allowed(data: dict[str, Any], allowed: frozenset[str], under: str = "") -> dict[str, Any]:
    """``data`` when a client may set every field it names; otherwise ``BadRequestBody`` with
    one issue per refused field (its name, never its value; a name that does not look like a
    field name is not repeated either)."""
    refused = sorted(name for name in data if name not in allowed)
    if refused:
        raise BadRequestBody(
            [
                problem(
                    under + (name if FIELD_NAME.fullmatch(name) else "?"),
                    "field.not_allowed",
                    "a client may not set this field",
                )
                for name in refused
            ]
        )
    return data


def customer_json(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = to_document(customer)["data"]
    return data


@require_POST
def intake(request: HttpRequest) -> JsonResponse:
    data = only_allowed(body(request), INTAKE_FIELDS)
    customer = registry().customers.intake(data, actor=actor_of(request))
    return JsonResponse({"id": customer.id, "version": customer.version}, status=201)


@require_http_methods(["GET", "PATCH"])
def customer(request: HttpRequest, customer_id: str) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse(
            customer_json(registry().customers.get(customer_id, actor=actor_of(request)))
        )
    change = body(request, changes=dict, expected_version=int, reason=str)
    changes = only_allowed(change["changes"], UPDATE_FIELDS, under="changes.")
    updated = registry().customers.update(
        customer_id,
        changes,
        actor=actor_of(request),
        reason=change["reason"],
        expected_version=change["expected_version"],
    )
    return JsonResponse(customer_json(updated))


@require_POST
def find(request: HttpRequest) -> JsonResponse:
    phone = body(request, phone=str)["phone"]
    found = registry().customers.find(actor=actor_of(request), phone=phone)
    return JsonResponse({"customers": [customer_json(c) for c in found]})


@require_GET
def export(request: HttpRequest, customer_id: str) -> JsonResponse:
    subject = registry().privacy.export_subject(customer_id, actor=actor_of(request))
    return JsonResponse(subject.to_dict())


@require_POST
def erase(request: HttpRequest, customer_id: str) -> JsonResponse:
    reason = body(request, reason=str)["reason"]
    receipt = registry().privacy.erase(customer_id, actor=actor_of(request), reason=reason)
    return JsonResponse(
        {
            "customer_id": receipt.customer_id,
            "erased_at": receipt.erased_at.isoformat(),
            "actions": [{"target": a.target, "action": a.action} for a in receipt.actions],
        }
    )
