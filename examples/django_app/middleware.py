"""Who is calling, and custrec's errors as HTTP answers: the one place for both."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from custrec import Actor
from custrec.errors import (
    AccessDenied,
    CustrecError,
    DuplicateCustomer,
    Erased,
    NotFound,
    StorageError,
    ValidationFailed,
    VersionConflict,
)
from custrec.model.issues import Issue

from .backend import registry

# >>> WHERE THE APP'S REAL AUTHENTICATION GOES. <<<
# A demo token table: a real project keeps django.contrib.auth's AuthenticationMiddleware (or
# an OAuth2/OIDC one) and builds the Actor from the verified request.user (their staff id, their
# groups as roles, their team), never from what the client claims about itself.
DEMO_USERS: dict[str, Actor] = {
    "demo-clerk": Actor(id="u-clerk", roles={"staff"}, team="north"),
    "demo-colleague": Actor(id="u-colleague", roles={"staff"}, team="south"),
    "demo-dpo": Actor(id="u-dpo", roles={"admin", "unmask", "export", "erase"}),
}

RETRY_AFTER_SECONDS = "1"


class NotAuthenticated(Exception):
    """The request carries no credentials this service accepts."""


class BadRequestBody(Exception):
    """The request body is not the JSON object a view expects."""

    def __init__(self, issues: list[dict[str, str]]) -> None:
        super().__init__(f"{len(issues)} issue(s) in the request body")
        self.issues = issues


def authenticate(request: HttpRequest) -> Actor | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return DEMO_USERS.get(token) if scheme.lower() == "bearer" else None


def actor_of(request: HttpRequest) -> Actor:
    """The Actor of this request (one per request), or ``NotAuthenticated``."""
    actor: Actor | None = getattr(request, "custrec_actor", None)
    if actor is None:
        raise NotAuthenticated
    return actor


class CustrecMiddleware:
    """Sets ``request.custrec_actor`` and answers custrec's errors (``process_exception``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.custrec_actor = authenticate(request)  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, CustrecError | NotAuthenticated | BadRequestBody):
            return None  # Django's own handling: a 500 page, logged
        shown: list[str] = []
        if isinstance(exc, DuplicateCustomer):
            try:
                shown = readable_ids(exc.existing_ids, actor_of(request))
            except CustrecError:  # the check failed (a busy database): name none
                shown = []
        status, body, headers = error_answer(exc, shown)
        return JsonResponse(body, status=status, headers=headers)


DUPLICATE_CHECK = "duplicate answer: may the caller see the existing customer"


def readable_ids(ids: Iterable[str], actor: Actor) -> list[str]:
    """The ids, of those given, of the customers the actor may read. A 409 naming a customer
    the caller may not read (another team's) would tell them who is a customer, and by which
    phone: it names only these. custrec has no check of the read right that opens nothing, so
    each is asked with ``customers.get``: audited as a read (with ``DUPLICATE_CHECK`` as the
    purpose), a refusal as ``denied.read``; the record itself is dropped here."""
    shown = []
    for customer_id in ids:
        try:
            registry().customers.get(customer_id, actor=actor, purpose=DUPLICATE_CHECK)
        except (AccessDenied, NotFound, Erased):
            continue
        shown.append(customer_id)
    return shown


def error_answer(
    exc: Exception, shown_ids: Sequence[str] = ()
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for an exception. Bodies never hold personal data: issues
    name a field path, a code and a message (custrec's messages never repeat values), the rest
    are fixed texts. Order matters: NotFound and VersionConflict are StorageErrors too.
    ``shown_ids``: of a ``DuplicateCustomer``'s existing customers, those the caller may read
    (``readable_ids``); the others are never named."""
    body: dict[str, Any]
    if isinstance(exc, NotAuthenticated):
        body = {"error": "not_authenticated", "message": "send a valid bearer token"}
        return 401, body, {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, BadRequestBody):
        return 422, validation_body(exc.issues), {}
    if isinstance(exc, ValidationFailed):
        return 422, validation_body([issue_json(issue) for issue in exc.report.issues]), {}
    if isinstance(exc, DuplicateCustomer):
        body = {
            "error": "duplicate",
            "message": "these contact details or identifiers belong to an existing customer",
            "fields": list(exc.fields),  # the kinds of identifier, never their values
            "existing_ids": list(shown_ids),  # only customers the caller may read
        }
        return 409, body, {}
    if isinstance(exc, VersionConflict):
        body = {"error": "version_conflict", "message": "re-read the customer and try again"}
        return 409, body, {}
    if isinstance(exc, NotFound):
        return 404, {"error": "not_found", "message": "no such customer"}, {}
    if isinstance(exc, Erased):
        return 410, {"error": "erased", "message": "this customer's data was erased"}, {}
    if isinstance(exc, AccessDenied):
        return 403, {"error": "forbidden", "message": "not allowed for this user"}, {}
    if isinstance(exc, StorageError) and exc.retry_safe:
        body = {"error": "busy", "message": "the database is busy; retry"}
        return 503, body, {"Retry-After": RETRY_AFTER_SECONDS}
    if isinstance(exc, CustrecError) and isinstance(exc, ValueError):  # InvalidState, consent...
        return 422, {"error": "invalid", "message": "the request cannot be applied"}, {}
    return 500, {"error": "internal", "message": "internal error"}, {}


def problem(path: str, code: str, message: str) -> dict[str, str]:
    return {"path": path, "code": code, "message": message, "severity": "error"}


def issue_json(issue: Issue) -> dict[str, str]:
    return problem(issue.path, issue.code, issue.message) | {"severity": issue.severity.value}


def validation_body(issues: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": "validation_failed", "message": "the request is not valid", "issues": issues}
