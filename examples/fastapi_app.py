"""custrec behind a FastAPI service: one Registry per process, one Actor per request.

    python examples/fastapi_app.py      # runs the service through FastAPI's TestClient

Serving it for real (``pip install uvicorn``; run from examples/):

    CUSTREC_DB=crm.sqlite CUSTREC_KEY_FILE=/etc/crm/custrec.keys.json uvicorn fastapi_app:app

``CUSTREC_KEY_FILE`` names a key file made once with ``custrec keys init`` (mode 0600, kept
apart from the database and its backups); without it the keys come from ``CUSTREC_MASTER_KEYS``
and ``CUSTREC_INDEX_KEYS`` (``KeyRing.from_env``). The service never makes up a key: a missing
key source stops it at start-up.

Routes (JSON in and out; personal data never travels in a URL, where access logs keep it):

    POST  /customers                   intake: 201 {"id", "version"}, or 422 with the issues
    GET   /customers/{id}              the customer, masked unless the actor may unmask
    POST  /customers/find              {"phone": ...}: the customers holding that phone
    PATCH /customers/{id}              {"changes", "expected_version", "reason"}: 409 if stale
    GET   /customers/{id}/export       the subject access export (``export`` permission)
    POST  /customers/{id}/erasure      {"reason"}: crypto-shred the customer (``erase``)

Every endpoint is a plain ``def``, not ``async def``, on purpose: the Registry's calls block
(sqlite3 or psycopg, AES-GCM, the audit commit). FastAPI runs a ``def`` endpoint in its thread
pool, so a slow write holds one worker thread while the event loop keeps serving other
requests; the same call inside ``async def`` would stall every request of the process until
it returned. The one Registry is shared by those threads (it is thread-safe; see
docs/concurrency-and-frameworks.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, StringConstraints

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
    """The process's Registry and the store under it (kept to close it at shutdown)."""

    def __init__(self, settings: Settings) -> None:
        if settings.key_file is not None:
            keyring = KeyRing.from_file(settings.key_file)
        else:
            keyring = KeyRing.from_env()  # KeyConfigurationError when the variables are unset
        self.store = SQLiteStore(settings.db_path, busy_timeout=settings.busy_timeout)
        self.registry = Registry(self.store, keyring=keyring)

    def close(self) -> None:
        self.store.close()


# ---------------------------------------------------------------------------------------------
# Who is calling: the authentication stand-in
# ---------------------------------------------------------------------------------------------

# >>> WHERE THE APP'S REAL AUTHENTICATION GOES. <<<
# A demo token table: a real service verifies a session cookie or an OAuth2/OIDC token here and
# builds the Actor from the verified user (their staff id, roles and team), never from what the
# client claims about itself.
DEMO_USERS: dict[str, Actor] = {
    "demo-clerk": Actor(id="u-clerk", roles={"staff"}, team="north"),
    "demo-colleague": Actor(id="u-colleague", roles={"staff"}, team="south"),
    "demo-dpo": Actor(id="u-dpo", roles={"admin", "unmask", "export", "erase"}),
}


class NotAuthenticated(Exception):
    """The request carries no credentials this service accepts."""


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


def error_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and headers for an exception. Bodies never hold personal data: issues
    name a field path, a code and a message (custrec's messages never repeat values), the rest
    are fixed texts. Order matters: NotFound and VersionConflict are StorageErrors too."""
    body: dict[str, Any]
    if isinstance(exc, NotAuthenticated):
        body = {"error": "not_authenticated", "message": "send a valid bearer token"}
        return 401, body, {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, ValidationFailed):
        return 422, validation_body([issue_json(issue) for issue in exc.report.issues]), {}
    if isinstance(exc, DuplicateCustomer):
        body = {
            "error": "duplicate",
            "message": "a stored customer holds the same identifier",
            "fields": list(exc.fields),  # the kinds of identifier, never their values
            "existing_ids": list(exc.existing_ids),
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
    return {
        "path": issue.path,
        "code": issue.code,
        "message": issue.message,
        "severity": str(issue.severity.value),
    }


def validation_body(issues: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": "validation_failed", "message": "the request is not valid", "issues": issues}


def answer(exc: Exception) -> JSONResponse:
    status, body, headers = error_answer(exc)
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
# The application
# ---------------------------------------------------------------------------------------------


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]  # not blank


class FindRequest(BaseModel):
    phone: Text


class UpdateRequest(BaseModel):
    changes: dict[str, Any]
    expected_version: int
    reason: Text


class ErasureRequest(BaseModel):
    reason: Text


def customer_json(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = to_document(customer)["data"]
    return data


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; its Registry is opened at start-up and its store closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(settings or Settings.from_env())
        app.state.backend = backend
        try:
            yield
        finally:
            backend.close()

    app = FastAPI(title="custrec demo", lifespan=lifespan)

    @app.exception_handler(CustrecError)
    @app.exception_handler(NotAuthenticated)
    def on_error(request: Request, exc: Exception) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(RequestValidationError)
    def on_bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return request_issues(exc)

    @app.post("/customers", status_code=201)
    def intake(
        data: Annotated[dict[str, Any], Body()], actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        customer = registry.customers.intake(data, actor=actor)
        return {"id": customer.id, "version": customer.version}

    @app.get("/customers/{customer_id}")
    def get(customer_id: str, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        return customer_json(registry.customers.get(customer_id, actor=actor))

    @app.post("/customers/find")
    def find(query: FindRequest, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        found = registry.customers.find(actor=actor, phone=query.phone)
        return {"customers": [customer_json(customer) for customer in found]}

    @app.patch("/customers/{customer_id}")
    def update(
        customer_id: str, change: UpdateRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        customer = registry.customers.update(
            customer_id,
            change.changes,
            actor=actor,
            reason=change.reason,
            expected_version=change.expected_version,
        )
        return customer_json(customer)

    @app.get("/customers/{customer_id}/export")
    def export(customer_id: str, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        return registry.privacy.export_subject(customer_id, actor=actor).to_dict()

    @app.post("/customers/{customer_id}/erasure")
    def erase(
        customer_id: str, request: ErasureRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        receipt = registry.privacy.erase(customer_id, actor=actor, reason=request.reason)
        return {
            "customer_id": receipt.customer_id,
            "erased_at": receipt.erased_at.isoformat(),
            "actions": [{"target": a.target, "action": a.action} for a in receipt.actions],
        }

    return app


app = create_app()  # what `uvicorn fastapi_app:app` serves (the Registry opens at start-up)


# ---------------------------------------------------------------------------------------------
# The self-check: python examples/fastapi_app.py
# ---------------------------------------------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {response.status_code}")
    return response.json()


def exercise(client: TestClient, settings: Settings) -> None:
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
    assert "12345" not in response.text  # the issues never repeat the input
    print(f"invalid intake: 422, {len(issues)} issues ({', '.join(i['code'] for i in issues)})")

    as_json = {**clerk, "Content-Type": "application/json"}
    not_json = client.post("/customers", content="name=x", headers=as_json)
    assert expect(not_json, 422, "a body that is not JSON")["issues"][0]["code"] == (
        "request.json_invalid"
    )

    duplicate = expect(client.post("/customers", json=new, headers=clerk), 409, "duplicate")
    assert duplicate["existing_ids"] == [cid] and duplicate["fields"] == ["phone"]

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

    change = {"changes": {"stage": "active"}, "expected_version": 1, "reason": "contract signed"}
    updated = expect(client.patch(f"/customers/{cid}", json=change, headers=clerk), 200, "update")
    assert updated["version"] == 2 and updated["stage"] == "active"
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
        with TestClient(create_app(settings)) as client:
            exercise(client, settings)
        print("ok: FastAPI")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
