"""What the JSON routes (app.py) and the review pages (pages.py) share: the settings, the one
Registry of the process, who is calling, and custrec's errors as HTTP answers.

Every endpoint is a plain ``def``, not ``async def``, on purpose: the Registry's calls block
(sqlite3 or psycopg, AES-GCM, the audit commit). FastAPI runs a ``def`` endpoint in its thread
pool, so a slow write holds one worker thread while the event loop keeps serving other
requests; the same call inside ``async def`` would stall every request of the process until
it returned. The one Registry is shared by those threads (it is thread-safe; see
docs/concurrency-and-frameworks.md).

Personal data never travels in a URL (access logs, proxies and browser histories keep URLs):
look-ups and searches are POSTs with a JSON body; ids and purpose codes are not personal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import attrs
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.errors import (
    AccessDenied,
    CustrecError,
    DuplicateCustomer,
    Erased,
    InvalidTransition,
    NotFound,
    StorageError,
    ValidationFailed,
    VersionConflict,
)
from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import Customer
from custrec.security import DEFAULT_GRANTS, Action, Grant, RoleBasedPolicy, Scope

# ---------------------------------------------------------------------------------------------
# One Registry for the process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the data and the keys are. ``busy_timeout`` is how long a write waits for
    SQLite's write lock before the request is answered 503 (SQLiteStore's own default, 30 s,
    suits batch jobs better than web requests). ``secure_cookies`` marks the review pages'
    session cookie ``Secure`` (sent over HTTPS only): leave it on in production; the
    self-check and the browser test serve plain HTTP on the loopback interface."""

    db_path: Path
    key_file: Path | None = None  # None: the keys come from the environment
    busy_timeout: float = 5.0
    secure_cookies: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        key_file = os.environ.get("CUSTREC_KEY_FILE")
        insecure = os.environ.get("CUSTREC_INSECURE_COOKIES", "").lower() in {"1", "true", "yes"}
        return cls(
            db_path=Path(os.environ.get("CUSTREC_DB", "customers.sqlite")),
            key_file=Path(key_file) if key_file else None,
            secure_cookies=not insecure,
        )


# The duplicate review pages show match evidence (which fields agree, and how strongly) for a
# record the reviewer only ever sees masked. Computing it needs the stored record in the clear,
# so this service actor reads it and asks for its look-alikes; only ids, scores and reasons
# leave that function (review.py). Its role grants exactly that, over every customer: read
# (with unmask) and the create right find_duplicates checks. Its reads are audited under its
# own id, so the audit log tells them from the reviewer's.
EVIDENCE_ROLE = "duplicate-evidence"
EVIDENCE_ACTOR = Actor(id="svc-duplicate-evidence", roles={EVIDENCE_ROLE})
GRANTS = {
    **DEFAULT_GRANTS,
    EVIDENCE_ROLE: (
        Grant(action=Action.READ, scope=Scope.ALL),
        Grant(action=Action.CREATE, scope=Scope.ALL),
        Grant(action=Action.UNMASK, within=Action.READ),
    ),
}


def open_registry(settings: Settings) -> tuple[SQLiteStore, Registry]:
    """The store and the Registry over it, as the service opens them (the browser test seeds
    and checks the same database through this)."""
    if settings.key_file is not None:
        keyring = KeyRing.from_file(settings.key_file)
    else:
        keyring = KeyRing.from_env()  # KeyConfigurationError when the variables are unset
    store = SQLiteStore(settings.db_path, busy_timeout=settings.busy_timeout)
    return store, Registry(store, keyring=keyring, policy=RoleBasedPolicy(GRANTS))


class Backend:
    """The process's Registry and the store under it (kept to close it at shutdown)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store, self.registry = open_registry(settings)

    def close(self) -> None:
        self.store.close()


# ---------------------------------------------------------------------------------------------
# Who is calling: the authentication stand-in
# ---------------------------------------------------------------------------------------------

# >>> WHERE THE APP'S REAL AUTHENTICATION GOES. <<<
# A demo token table: a real service verifies a session cookie or an OAuth2/OIDC token here and
# builds the Actor from the verified user (their staff id, roles and team), never from what the
# client claims about itself. The review pages sign in with the same tokens (pages.py).
DEMO_USERS: dict[str, Actor] = {
    "demo-clerk": Actor(id="u-clerk", roles={"staff"}, team="north"),
    "demo-colleague": Actor(id="u-colleague", roles={"staff"}, team="south"),
    "demo-reviewer": Actor(id="u-reviewer", roles={"manager"}, team="north"),
    "demo-dpo": Actor(id="u-dpo", roles={"admin", "unmask", "export", "erase"}),
}


class NotAuthenticated(Exception):
    """The request carries no credentials this service accepts."""


class FormRejected(Exception):
    """A review page's form post failed the CSRF check, or is not a form this app sent."""


def current_actor(request: Request) -> Actor:
    """The Actor of this request (a new one per request; Actors are cheap, frozen values)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    actor = DEMO_USERS.get(token) if scheme.lower() == "bearer" else None
    if actor is None:
        raise NotAuthenticated
    return actor


def current_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.backend.registry
    return registry


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentRegistry = Annotated[Registry, Depends(current_registry)]


# ---------------------------------------------------------------------------------------------
# custrec's errors as HTTP answers: the one place
# ---------------------------------------------------------------------------------------------

RETRY_AFTER_SECONDS = "1"


def error_answer(
    exc: Exception, shown_ids: Sequence[str] = ()
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for an exception (the review pages render the same body's
    message as HTML). Bodies never hold personal data: issues name a field path, a code and a
    message (custrec's messages never repeat values), the rest are fixed texts. Order matters:
    NotFound and VersionConflict are StorageErrors too, InvalidTransition a ValueError.
    ``shown_ids``: of a ``DuplicateCustomer``'s existing customers, those the caller may read
    (``readable_ids``); the others are never named."""
    body: dict[str, Any]
    if isinstance(exc, NotAuthenticated):
        body = {"error": "not_authenticated", "message": "send a valid bearer token"}
        return 401, body, {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, FormRejected):
        body = {"error": "form_rejected", "message": "the form expired; reload the page"}
        return 403, body, {}
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
        body = {"error": "version_conflict", "message": "re-read the record and try again"}
        return 409, body, {}
    if isinstance(exc, NotFound):
        return 404, {"error": "not_found", "message": "no such record"}, {}
    if isinstance(exc, Erased):
        return 410, {"error": "erased", "message": "this customer's data was erased"}, {}
    if isinstance(exc, AccessDenied):
        return 403, {"error": "forbidden", "message": "not allowed for this user"}, {}
    if isinstance(exc, StorageError) and exc.retry_safe:
        body = {"error": "busy", "message": "the database is busy; retry"}
        return 503, body, {"Retry-After": RETRY_AFTER_SECONDS}
    if isinstance(exc, InvalidTransition):  # its message names statuses only
        return 422, {"error": "invalid_transition", "message": str(exc)}, {}
    if isinstance(exc, CustrecError) and isinstance(exc, ValueError):  # InvalidState, consent...
        return 422, {"error": "invalid", "message": "the request cannot be applied"}, {}
    return 500, {"error": "internal", "message": "internal error"}, {}


def issue_json(issue: Issue) -> dict[str, str]:
    return {
        "path": issue.path,
        "code": issue.code,
        "message": issue.message,
        "severity": str(issue.severity.value),
    }


def validation_body(issues: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": "validation_failed", "message": "the request is not valid", "issues": issues}


def answer(exc: Exception, request: Request) -> JSONResponse:
    """The JSON answer to an exception; a duplicate names only the existing customers that the
    caller may read."""
    shown: list[str] = []
    if isinstance(exc, DuplicateCustomer):
        try:
            shown = readable_ids(
                current_registry(request), exc.existing_ids, current_actor(request)
            )
        except (CustrecError, NotAuthenticated):  # the check failed (a busy database): none
            shown = []
    status, body, headers = error_answer(exc, shown)
    return JSONResponse(body, status_code=status, headers=headers)


def request_issues(exc: RequestValidationError) -> JSONResponse:
    """A malformed request body, in the same shape as custrec's issues. FastAPI's default 422
    body repeats the offending input (``"input"``), which may be personal data: not here."""
    issues = [
        {
            "path": ".".join(str(part) for part in error["loc"][1:]),
            "code": f"request.{error['type']}",
            "message": str(error["msg"]),
            "severity": "error",
        }
        for error in exc.errors()
    ]
    return JSONResponse(validation_body(issues), status_code=422)


# ---------------------------------------------------------------------------------------------
# What a client may set, and which customers a caller may be told of
# ---------------------------------------------------------------------------------------------

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
    """``data`` when a client may set every field it names; otherwise ``ValidationFailed``
    (422) with one issue per refused field (its name, never its value; a name that does not
    look like a field name is not repeated either)."""
    refused = sorted(name for name in data if name not in allowed)
    if refused:
        raise ValidationFailed(
            ValidationReport(
                [
                    Issue(
                        path=under + (name if FIELD_NAME.fullmatch(name) else "?"),
                        code="field.not_allowed",
                        message="a client may not set this field",
                    )
                    for name in refused
                ]
            )
        )
    return data


DUPLICATE_CHECK = "duplicate answer: may the caller see the existing customer"


def readable_ids(registry: Registry, ids: Iterable[str], actor: Actor) -> list[str]:
    """The ids, of those given, of the customers the actor may read. An answer naming a
    customer the caller may not read (another team's) would tell them who is a customer, and
    by which phone: the 409 of a duplicate and intake's look-alikes name only these. custrec
    has no check of the read right that opens nothing, so each is asked with
    ``customers.get``: audited as a read (with ``DUPLICATE_CHECK`` as the purpose), a refusal
    as ``denied.read``; the record itself is dropped here."""
    shown = []
    for customer_id in ids:
        try:
            registry.customers.get(customer_id, actor=actor, purpose=DUPLICATE_CHECK)
        except (AccessDenied, NotFound, Erased):
            continue
        shown.append(customer_id)
    return shown


def without_unmask(actor: Actor) -> Actor:
    """The same user without the unmask right: what the review pages act as, so that every
    record the registry hands them is masked whoever signed in."""
    return attrs.evolve(actor, roles=actor.roles - {"unmask"})


def take_in(registry: Registry, data: dict[str, Any], actor: Actor) -> tuple[Customer, list[str]]:
    """Intake, with the duplicate check in front of it: a record that looks like a stored one
    (``find_duplicates`` at ``possible`` or above, on the validated record) is taken in
    ``pending_review`` and waits in the review queue (the pages of pages.py) for a person to
    merge it, keep it, or reject it. Returns the customer and the ids of the look-alikes the
    actor may read (a look-alike in another team's care still sends the record to review, but
    is not named to the caller). ``data`` may name only the fields a client may set
    (``INTAKE_FIELDS``; ``ValidationFailed`` otherwise).

    A record sharing a phone, an e-mail or an identifier with a stored one is still refused
    by intake itself (``DuplicateCustomer``, 409). The check and the intake are two units of
    work: two look-alikes taken in at the same instant may miss each other; the batch run
    ``registry.matching.clusters`` finds such pairs later.
    """
    prepared = registry.customers.prepare(only_allowed(data, INTAKE_FIELDS), actor=actor)
    if prepared.record is None:
        raise ValidationFailed(prepared.report)
    found = registry.matching.find_duplicates(prepared.record, actor=actor)
    look_alikes = [candidate.customer_id for candidate in found.candidates]
    customer = registry.customers.intake(prepared, actor=actor, review=bool(look_alikes))
    return customer, readable_ids(registry, look_alikes, actor)
