"""custrec behind a Flask service: one Registry per process, one Actor per request.

    python examples/flask_app.py        # runs the service through Flask's test client

Serving it for real (run from examples/; any WSGI server, threads or processes):

    CUSTREC_DB=crm.sqlite CUSTREC_KEY_FILE=/etc/crm/custrec.keys.json flask --app flask_app run

``CUSTREC_KEY_FILE`` names a key file made once with ``custrec keys init`` (mode 0600, kept
apart from the database and its backups); without it the keys come from ``CUSTREC_MASTER_KEYS``
and ``CUSTREC_INDEX_KEYS`` (``KeyRing.from_env``). The app never makes up a key: a missing key
source stops ``create_app``.

Routes (JSON in and out; personal data never travels in a URL, where access logs keep it):

    POST  /customers                   intake: 201 {"id", "version"}, or 422 with the issues
    GET   /customers/<id>              the customer, masked unless the actor may unmask
    POST  /customers/find              {"phone": ...}: the customers holding that phone
    PATCH /customers/<id>              {"changes", "expected_version", "reason"}: 409 if stale
    GET   /customers/<id>/export       the subject access export (``export`` permission)
    POST  /customers/<id>/erasure      {"reason"}: crypto-shred the customer (``erase``)

Intake and ``changes`` take only the fields a client may set (``INTAKE_FIELDS``,
``UPDATE_FIELDS``): the id, the instants, the verification, the grades, the state and the
owner are the service's, and naming one is answered 422 (``field.not_allowed``). A duplicate
is answered 409 naming only the existing customers the caller may read (``readable_ids``).

Flask's server and most WSGI servers run requests on several threads; they all use the one
Registry built by ``create_app`` (it is thread-safe; see docs/concurrency-and-frameworks.md).
A server that forks worker processes (gunicorn ``--workers``) must build the app in each worker,
after the fork, which ``create_app`` called from the worker's import does (no ``--preload``).
"""

from __future__ import annotations

import atexit
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, request

from custrec import Actor, KeyRing, Registry, SQLiteStore
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
from custrec.model.records import Customer
from custrec.model.serialization import to_document
from custrec.security import generate_key_file

# ---------------------------------------------------------------------------------------------
# One Registry for the process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the data and the keys are. ``busy_timeout`` is how long a write waits for
    SQLite's write lock before the request is answered 503 (SQLiteStore's own default, 30 s,
    suits batch jobs better than web requests)."""

    db_path: Path
    key_file: Path | None = None  # None: the keys come from the environment
    busy_timeout: float = 5.0

    @classmethod
    def from_env(cls) -> Settings:
        key_file = os.environ.get("CUSTREC_KEY_FILE")
        return cls(
            db_path=Path(os.environ.get("CUSTREC_DB", "customers.sqlite")),
            key_file=Path(key_file) if key_file else None,
        )


class Backend:
    """The process's Registry and the store under it (kept to close it at exit)."""

    def __init__(self, settings: Settings) -> None:
        if settings.key_file is not None:
            keyring = KeyRing.from_file(settings.key_file)
        else:
            keyring = KeyRing.from_env()  # KeyConfigurationError when the variables are unset
        self.store = SQLiteStore(settings.db_path, busy_timeout=settings.busy_timeout)
        self.registry = Registry(self.store, keyring=keyring)

    def close(self) -> None:
        self.store.close()


def registry() -> Registry:
    """The Registry of the app handling this request."""
    backend: Backend = current_app.extensions["custrec"]
    return backend.registry


# ---------------------------------------------------------------------------------------------
# Who is calling: the authentication stand-in
# ---------------------------------------------------------------------------------------------

# >>> WHERE THE APP'S REAL AUTHENTICATION GOES. <<<
# A demo token table: a real app checks its login session (flask-login and the like) or an
# OAuth2/OIDC token here and builds the Actor from the verified user (their staff id, roles and
# team), never from what the client claims about itself.
DEMO_USERS: dict[str, Actor] = {
    "demo-clerk": Actor(id="u-clerk", roles={"staff"}, team="north"),
    "demo-colleague": Actor(id="u-colleague", roles={"staff"}, team="south"),
    "demo-dpo": Actor(id="u-dpo", roles={"admin", "unmask", "export", "erase"}),
}


class NotAuthenticated(Exception):
    """The request carries no credentials this service accepts."""


class BadRequestBody(Exception):
    """The request body is not the JSON object a route expects."""

    def __init__(self, issues: list[dict[str, str]]) -> None:
        super().__init__(f"{len(issues)} issue(s) in the request body")
        self.issues = issues


def current_actor() -> Actor:
    """The Actor of this request (a new one per request; Actors are cheap, frozen values)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    actor = DEMO_USERS.get(token) if scheme.lower() == "bearer" else None
    if actor is None:
        raise NotAuthenticated
    return actor


JSON_NAMES = {str: "string", int: "integer", dict: "object"}


def body(**fields: type) -> dict[str, Any]:
    """The request's JSON object, with each named field present and of its type."""
    data = request.get_json(silent=True)  # None for a body that is not JSON
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


def problem(path: str, code: str, message: str) -> dict[str, str]:
    return {"path": path, "code": code, "message": message, "severity": "error"}


# ---------------------------------------------------------------------------------------------
# What a client may set: the one place
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


# ---------------------------------------------------------------------------------------------
# custrec's errors as HTTP answers: the one place
# ---------------------------------------------------------------------------------------------

RETRY_AFTER_SECONDS = "1"


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


def issue_json(issue: Issue) -> dict[str, str]:
    return problem(issue.path, issue.code, issue.message) | {"severity": issue.severity.value}


def validation_body(issues: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": "validation_failed", "message": "the request is not valid", "issues": issues}


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


def on_error(exc: Exception) -> tuple[Response, int, dict[str, str]]:
    shown: list[str] = []
    if isinstance(exc, DuplicateCustomer):
        try:
            shown = readable_ids(exc.existing_ids, current_actor())
        except CustrecError:  # the check failed (a busy database): name none
            shown = []
    status, answer, headers = error_answer(exc, shown)
    return jsonify(answer), status, headers


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------


def customer_json(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = to_document(customer)["data"]
    return data


def create_app(settings: Settings | None = None) -> Flask:
    """The app, with its Registry open (closed by ``app.extensions["custrec"].close()``, and
    at interpreter exit)."""
    app = Flask(__name__)
    backend = Backend(settings or Settings.from_env())
    app.extensions["custrec"] = backend
    atexit.register(backend.close)  # closing twice is harmless
    for handled in (CustrecError, NotAuthenticated, BadRequestBody):
        app.register_error_handler(handled, on_error)

    @app.post("/customers")
    def intake() -> tuple[dict[str, Any], int]:
        data = only_allowed(body(), INTAKE_FIELDS)
        customer = registry().customers.intake(data, actor=current_actor())
        return {"id": customer.id, "version": customer.version}, 201

    @app.get("/customers/<customer_id>")
    def get(customer_id: str) -> dict[str, Any]:
        return customer_json(registry().customers.get(customer_id, actor=current_actor()))

    @app.post("/customers/find")
    def find() -> dict[str, Any]:
        query = body(phone=str)
        found = registry().customers.find(actor=current_actor(), phone=query["phone"])
        return {"customers": [customer_json(customer) for customer in found]}

    @app.patch("/customers/<customer_id>")
    def update(customer_id: str) -> dict[str, Any]:
        change = body(changes=dict, expected_version=int, reason=str)
        changes = only_allowed(change["changes"], UPDATE_FIELDS, under="changes.")
        customer = registry().customers.update(
            customer_id,
            changes,
            actor=current_actor(),
            reason=change["reason"],
            expected_version=change["expected_version"],
        )
        return customer_json(customer)

    @app.get("/customers/<customer_id>/export")
    def export(customer_id: str) -> dict[str, Any]:
        return registry().privacy.export_subject(customer_id, actor=current_actor()).to_dict()

    @app.post("/customers/<customer_id>/erasure")
    def erase(customer_id: str) -> dict[str, Any]:
        reason = body(reason=str)["reason"]
        receipt = registry().privacy.erase(customer_id, actor=current_actor(), reason=reason)
        return {
            "customer_id": receipt.customer_id,
            "erased_at": receipt.erased_at.isoformat(),
            "actions": [{"target": a.target, "action": a.action} for a in receipt.actions],
        }

    return app


# ---------------------------------------------------------------------------------------------
# The self-check: python examples/flask_app.py
# ---------------------------------------------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {response.status_code}")
    return response.get_json()


def exercise(app: Flask, settings: Settings) -> None:
    client = app.test_client()
    clerk, colleague, dpo = auth("demo-clerk"), auth("demo-colleague"), auth("demo-dpo")
    new = {"kind": "individual", "name": "张三", "contacts": [{"phones": ["138 0013 8000"]}]}

    created = expect(client.post("/customers", json=new, headers=clerk), 201, "intake")
    cid = created["id"]
    print(f"intake: 201, version {created['version']}")

    bad = {"kind": "individual", "name": "", "contacts": [{"phones": ["12345"]}]}
    response = client.post("/customers", json=bad, headers=clerk)
    issues = expect(response, 422, "invalid intake")["issues"]
    assert {(i["path"], i["code"]) for i in issues} == {
        ("name", "required"),
        ("contacts[0].phones[0]", "phone.invalid"),
    }
    assert b"12345" not in response.data  # the issues never repeat the input
    print(f"invalid intake: 422, {len(issues)} issues ({', '.join(i['code'] for i in issues)})")
    not_json = client.post("/customers", data="name=x", headers=clerk)
    assert expect(not_json, 422, "a body that is not JSON")["issues"][0]["code"] == (
        "request.not_object"
    )

    # Fields only the service sets are refused, each named, none stored.
    forged = {**new, "id": "chosen-id", "created_at": "2001-02-03T00:00:00Z"}
    forged |= {"verification": "verified"}
    response = client.post("/customers", json=forged, headers=clerk)
    refused = expect(response, 422, "intake naming service-set fields")["issues"]
    assert {(i["path"], i["code"]) for i in refused} == {
        ("id", "field.not_allowed"),
        ("created_at", "field.not_allowed"),
        ("verification", "field.not_allowed"),
    }
    assert b"chosen-id" not in response.data and b"2001" not in response.data
    print(f"intake with id, created_at, verification: 422, {len(refused)} issues")

    # A duplicate names the existing customer only to a caller who may read it.
    duplicate = expect(client.post("/customers", json=new, headers=clerk), 409, "duplicate")
    assert duplicate["existing_ids"] == [cid] and duplicate["fields"] == ["phone"]
    hidden = expect(client.post("/customers", json=new, headers=colleague), 409, "another team")
    assert hidden["existing_ids"] == [] and hidden["fields"] == ["phone"]
    assert cid not in str(hidden)
    print("duplicate: 409, the id for the owner, none for another team")

    shown = expect(client.get(f"/customers/{cid}", headers=clerk), 200, "get")
    assert shown["name"] == "张*"  # the clerk may read, not unmask
    print(f"get: 200, masked name {shown['name']}")
    expect(client.get(f"/customers/{cid}", headers=colleague), 403, "another team's customer")
    expect(client.get("/customers/no-such-id", headers=clerk), 404, "unknown id")
    expect(client.get(f"/customers/{cid}"), 401, "no credentials")

    found = expect(
        client.post("/customers/find", json={"phone": "+86 138-0013-8000"}, headers=clerk),
        200,
        "find",
    )
    assert [c["id"] for c in found["customers"]] == [cid]

    verify = {"changes": {"verification": "verified"}, "expected_version": 1, "reason": "x"}
    response = client.patch(f"/customers/{cid}", json=verify, headers=clerk)
    refused = expect(response, 422, "update naming verification")["issues"]
    assert [(i["path"], i["code"]) for i in refused] == [
        ("changes.verification", "field.not_allowed")
    ]
    change = {"changes": {"stage": "active"}, "expected_version": 1, "reason": "contract signed"}
    updated = expect(client.patch(f"/customers/{cid}", json=change, headers=clerk), 200, "update")
    assert updated["version"] == 2 and updated["stage"] == "active"
    assert updated["verification"] == "unverified"
    stale = {"changes": {"tags": ["vip"]}, "expected_version": 1, "reason": "tagging"}
    expect(client.patch(f"/customers/{cid}", json=stale, headers=clerk), 409, "stale update")
    no_version = {"changes": {"tags": ["vip"]}, "reason": "tagging"}
    missing = client.patch(f"/customers/{cid}", json=no_version, headers=clerk)
    assert expect(missing, 422, "update without expected_version")["issues"][0]["path"] == (
        "expected_version"
    )
    blank = {"changes": {"tags": ["vip"]}, "expected_version": 2, "reason": " "}
    assert (
        expect(client.patch(f"/customers/{cid}", json=blank, headers=clerk), 422, "blank reason")[
            "issues"
        ][0]["path"]
        == "reason"
    )
    print("update: 200 at version 2; a stale expected_version: 409")

    # A write that cannot get SQLite's write lock within busy_timeout: 503 with Retry-After.
    # Another writer (a second store on the same file, as another process would be) holds it.
    with SQLiteStore(settings.db_path) as other_writer, other_writer.transaction():
        busy = client.post("/customers", json={**new, "name": "李四"}, headers=clerk)
    expect(busy, 503, "write while another writer holds the lock")
    assert busy.headers["Retry-After"] == RETRY_AFTER_SECONDS
    print(f"busy database: 503, Retry-After {busy.headers['Retry-After']}")

    export = expect(client.get(f"/customers/{cid}/export", headers=dpo), 200, "export")
    assert export["record"]["name"] == "张三" and not export["masked"]
    expect(client.get(f"/customers/{cid}/export", headers=clerk), 403, "export without right")
    print(f"export: 200, {len(export['history'])} history entries")

    erased = expect(
        client.post(f"/customers/{cid}/erasure", json={"reason": "subject request"}, headers=dpo),
        200,
        "erase",
    )
    assert any(a["target"] == "data_key" for a in erased["actions"])
    expect(client.get(f"/customers/{cid}", headers=clerk), 410, "get after erasure")
    print("erase: 200; the customer now answers 410")


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        key_file = Path(workdir, "custrec.keys.json")
        # DEMO ONLY: a fresh key file for this run, in a temporary directory. In production the
        # key file is made once (`custrec keys init`), kept off the database's disk and out of
        # its backups, and named by CUSTREC_KEY_FILE; losing it loses every customer.
        generate_key_file(key_file)
        # busy_timeout=0.2: the busy-database check below gives up after 0.2 s, not 5 s
        settings = Settings(
            db_path=Path(workdir, "crm.sqlite"), key_file=key_file, busy_timeout=0.2
        )
        app = create_app(settings)
        try:
            exercise(app, settings)
        finally:
            app.extensions["custrec"].close()
        print("ok: Flask")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
