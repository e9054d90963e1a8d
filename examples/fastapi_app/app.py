"""The JSON routes and the app factory: ``uvicorn fastapi_app.app:app`` serves them.

Routes (JSON in and out; personal data never travels in a URL, where access logs keep it):

    POST  /customers                          intake: 201 {"id", "version", "pending_review",
                                              "possible_duplicates"}, or 422 with the issues
                                              (a field only the service sets:
                                              field.not_allowed), or 409 for a duplicate
    GET   /customers/{id}                     the customer, masked unless the actor may unmask
    POST  /customers/find                     {"phone"} and/or {"email"}: exact look-up
    POST  /customers/search                   {"text", "after", "limit"}: name search, paged
    PATCH /customers/{id}                     {"changes", "expected_version", "reason"};
                                              409 if the version is stale
    GET   /customers/{id}/history             the change history (values masked as the reader's)
    GET   /customers/{id}/export              the subject access export (``export`` permission)
    POST  /customers/{id}/erasure             {"reason"}: crypto-shred the customer (``erase``)
    POST  /customers/{id}/consent/grant       {"purposes", "channel", "reason"}
    POST  /customers/{id}/consent/withdraw    the same
    GET   /customers/{id}/consent/{purpose}   may the data be used for it now, and why
    POST  /customers/{id}/cases               open a service case
    GET   /customers/{id}/cases               the customer's cases
    GET   /cases/{id}                         one case
    POST  /cases/{id}/transition              {"to", "reason", "expected_version", "satisfaction"}

and the duplicate review pages under /review (pages.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StringConstraints, model_validator

from custrec.consent import CaptureChannel
from custrec.errors import CustrecError
from custrec.model.records import Customer, VerificationStatus
from custrec.model.serialization import make_converter, to_document
from custrec.workflow import Case, CaseKind, CasePriority, CaseStatus
from fastapi_app import pages
from fastapi_app.core import (
    UPDATE_FIELDS,
    Backend,
    CurrentActor,
    CurrentRegistry,
    FormRejected,
    NotAuthenticated,
    Settings,
    answer,
    only_allowed,
    request_issues,
    take_in,
)

# ---------------------------------------------------------------------------------------------
# Requests and answers
# ---------------------------------------------------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]  # not blank
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class FindRequest(BaseModel):
    """Exact look-up by a strong identifier: a phone, an e-mail, or both (both must match)."""

    phone: Text | None = None
    email: Text | None = None

    @model_validator(mode="after")
    def one_given(self) -> FindRequest:
        if self.phone is None and self.email is None:
            raise ValueError("give a phone, an e-mail or both")
        return self


class SearchRequest(BaseModel):
    """Name search (any order of a person's names, an organisation's core name); paged."""

    text: Text
    after: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class UpdateRequest(BaseModel):
    changes: dict[str, Any]
    expected_version: int
    reason: Reason


class ErasureRequest(BaseModel):
    reason: Reason


class ConsentRequest(BaseModel):
    purposes: list[Text] = Field(min_length=1)
    channel: CaptureChannel
    reason: Reason | None = None


class OpenCaseRequest(BaseModel):
    kind: CaseKind = CaseKind.INQUIRY
    priority: CasePriority = CasePriority.NORMAL
    category: Text | None = None  # a plain label, stored in the clear: no personal data
    subject: Text | None = None  # personal: sealed, and masked for readers who may not unmask
    description: str | None = None
    reason: Reason | None = None


class TransitionRequest(BaseModel):
    """Respond (``in_progress``), wait on the customer, resolve, close, reopen."""

    to: CaseStatus
    reason: Reason | None = None
    expected_version: int | None = None
    satisfaction: int | None = Field(default=None, ge=1, le=5)


CONVERTER = make_converter()


def customer_json(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = to_document(customer)["data"]
    return data


def case_json(case: Case) -> dict[str, Any]:
    data: dict[str, Any] = CONVERTER.unstructure(case)
    return data


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; its Registry is opened at start-up and its store closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(settings or Settings.from_env())
        app.state.backend = backend
        app.state.sessions = pages.Sessions()
        try:
            yield
        finally:
            backend.close()

    app = FastAPI(title="custrec demo", lifespan=lifespan)

    @app.exception_handler(CustrecError)
    @app.exception_handler(NotAuthenticated)
    @app.exception_handler(FormRejected)
    def on_error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(pages.PREFIX):
            return pages.error_page(exc)
        return answer(exc, request)

    @app.exception_handler(RequestValidationError)
    def on_bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return request_issues(exc)

    # -- customers ------------------------------------------------------------------------

    @app.post("/customers", status_code=201)
    def intake(
        data: Annotated[dict[str, Any], Body()], actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        customer, look_alikes = take_in(registry, data, actor)
        return {
            "id": customer.id,
            "version": customer.version,
            "pending_review": customer.verification is VerificationStatus.PENDING_REVIEW,
            "possible_duplicates": look_alikes,  # only those the caller may read
        }

    @app.get("/customers/{customer_id}")
    def get(customer_id: str, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        return customer_json(registry.customers.get(customer_id, actor=actor))

    @app.post("/customers/find")
    def find(query: FindRequest, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        found = registry.customers.find(actor=actor, phone=query.phone, email=query.email)
        return {"customers": [customer_json(customer) for customer in found]}

    @app.post("/customers/search")
    def search(
        query: SearchRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        page = registry.customers.search(
            query.text, actor=actor, after=query.after, limit=query.limit
        )
        after = page[-1].id if len(page) == query.limit else None
        return {"customers": [customer_json(customer) for customer in page], "after": after}

    @app.patch("/customers/{customer_id}")
    def update(
        customer_id: str, change: UpdateRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        customer = registry.customers.update(
            customer_id,
            only_allowed(change.changes, UPDATE_FIELDS, under="changes."),
            actor=actor,
            reason=change.reason,
            expected_version=change.expected_version,
        )
        return customer_json(customer)

    @app.get("/customers/{customer_id}/history")
    def history(customer_id: str, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        entries = registry.customers.history(customer_id, actor=actor)
        return {  # old and new are "***" for a reader who may not unmask
            "history": [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "actor_id": e.actor_id,
                    "action": e.action,
                    "path": e.path,
                    "reason": e.reason,
                    "old": e.old,
                    "new": e.new,
                }
                for e in entries
            ]
        }

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

    # -- consent --------------------------------------------------------------------------

    @app.post("/customers/{customer_id}/consent/grant", status_code=201)
    def grant(
        customer_id: str, request: ConsentRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        event = registry.consent.grant(
            customer_id,
            request.purposes,
            actor=actor,
            channel=request.channel,
            reason=request.reason,
        )
        return {"event_id": event.id, "kind": event.kind.value, "purposes": list(event.purposes)}

    @app.post("/customers/{customer_id}/consent/withdraw", status_code=201)
    def withdraw(
        customer_id: str, request: ConsentRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        event = registry.consent.withdraw(
            customer_id,
            request.purposes,
            actor=actor,
            channel=request.channel,
            reason=request.reason,
        )
        return {"event_id": event.id, "kind": event.kind.value, "purposes": list(event.purposes)}

    @app.get("/customers/{customer_id}/consent/{purpose}")
    def may_use(
        customer_id: str, purpose: str, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        decision = registry.consent.may_use(customer_id, purpose, actor=actor)
        return {
            "purpose": decision.purpose,
            "allowed": decision.allowed,
            "reason": decision.reason.value,
            "explanation": decision.explain(),  # PII-free by design
            "evidence_ids": list(decision.evidence_ids),
        }

    # -- service cases --------------------------------------------------------------------

    @app.post("/customers/{customer_id}/cases", status_code=201)
    def open_case(
        customer_id: str, request: OpenCaseRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        data = {"customer_id": customer_id, **request.model_dump(exclude={"reason"})}
        return case_json(registry.cases.open(data, actor=actor, reason=request.reason))

    @app.get("/customers/{customer_id}/cases")
    def list_cases(
        customer_id: str, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        cases = registry.cases.list_for(customer_id, actor=actor)
        return {"cases": [case_json(case) for case in cases]}

    @app.get("/cases/{case_id}")
    def get_case(case_id: str, actor: CurrentActor, registry: CurrentRegistry) -> dict[str, Any]:
        return case_json(registry.cases.get(case_id, actor=actor))

    @app.post("/cases/{case_id}/transition")
    def move_case(
        case_id: str, request: TransitionRequest, actor: CurrentActor, registry: CurrentRegistry
    ) -> dict[str, Any]:
        case = registry.cases.transition(
            case_id,
            request.to,
            actor=actor,
            reason=request.reason,
            expected_version=request.expected_version,
            satisfaction=request.satisfaction,
        )
        return case_json(case)

    app.include_router(pages.router)
    return app


app = create_app()  # what `uvicorn fastapi_app.app:app` serves (the Registry opens at start-up)
