"""The duplicate review queue as server-rendered pages: plain HTML forms, no JavaScript.

    GET  /review/login              sign in (the demo tokens of core.DEMO_USERS)
    GET  /review                    the records pending review: masked name and phones
    GET  /review/{id}               one record, its stored look-alikes and the evidence
    POST /review/{id}/decision      merge / not the same / reject, then back to the list
    POST /review/logout

**Masking.** The pages act as the signed-in user *without* the unmask right
(core.without_unmask), so every record the registry hands them is masked, whoever signed in,
and every value is HTML-escaped (``html.escape``) where it enters the page. Ids are not
personal data and appear in links; match evidence names fields and findings, never values.

**Sessions.** A signed-in browser holds a random session id in a cookie (``HttpOnly``: no script
reads it; ``SameSite=Strict``: the browser sends it with no request another site starts;
``Secure`` unless Settings says otherwise). The session itself (who signed in, the CSRF token)
stays on the server, in this process's memory: the demo's stand-in for your framework's
sessions. Several worker processes need a shared session store instead.

**CSRF.** Every form carries the session's CSRF token, a random value made when the session
starts and never sent anywhere but inside this app's pages; every POST is refused (403) unless
its token equals the session's (compared in constant time). Another site can make a browser
post a form here, but cannot read our pages, so it cannot know the token; SameSite=Strict
already keeps the cookie off such a post, and an ``Origin`` header naming another host is
refused as well: three independent checks. The sign-in form gets a session (and token) of its
own before anyone signs in, and signing in starts a new session with a new id and token, so a
session id planted before sign-in is worthless after it.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from custrec import Registry
from custrec.model.records import Customer, VerificationStatus
from custrec.security import Actor
from fastapi_app.core import (
    DEMO_USERS,
    FormRejected,
    NotAuthenticated,
    current_registry,
    error_answer,
    without_unmask,
)
from fastapi_app.review import Decision, LookAlike, decide, look_alikes, queue

PREFIX = "/review"
COOKIE = "custrec_review"
SESSION_SECONDS = 8 * 3600
MAX_FORM_BYTES = 4096

router = APIRouter(prefix=PREFIX)


# ---------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user: str | None  # the demo token of the signed-in user; None before sign-in
    csrf: str
    expires: float  # time.monotonic()


class Sessions:
    """The sessions of this process, by their random id (thread-safe: the endpoints run in
    FastAPI's thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def start(self, user: str | None) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(32), time.monotonic() + SESSION_SECONDS)
        with self._lock:
            now = time.monotonic()
            for old in [k for k, s in self._by_id.items() if s.expires <= now]:
                del self._by_id[old]
            self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.expires <= time.monotonic():
                del self._by_id[session_id]
                return None
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=SESSION_SECONDS,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.app.state.backend.settings.secure_cookies,
    )


def signed_in(request: Request) -> tuple[Actor, Session]:
    """The user of a page request: the Actor they act as on these pages, and their session.
    Not signed in: NotAuthenticated, which sends the browser to the sign-in page."""
    session = sessions(request).get(request.cookies.get(COOKIE))
    if session is None or session.user is None or session.user not in DEMO_USERS:
        raise NotAuthenticated
    return without_unmask(DEMO_USERS[session.user]), session


async def form_fields(request: Request) -> dict[str, str]:
    """An url-encoded form body, small and with each field once (no python-multipart needed).
    A dependency may be ``async`` while the endpoint using it stays a thread-pool ``def``."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        raise FormRejected
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=10, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise FormRejected from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise FormRejected
    return fields


def check_form(request: Request, session: Session, fields: dict[str, str]) -> None:
    """The CSRF checks of a POST (see the module's docstring)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise FormRejected
    if not hmac.compare_digest(fields.get("csrf", "").encode(), session.csrf.encode()):
        raise FormRejected


Form = Annotated[dict[str, str], Depends(form_fields)]
PageRegistry = Annotated[Registry, Depends(current_registry)]


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ccc; padding: .4rem; text-align: left; vertical-align: top; }
form.inline { display: inline; }
.notice { background: #eef6ee; padding: .5rem; }
"""

# No script, no frame, no form posting anywhere else; styles only from the page itself.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # masked, but still about customers
}


def page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    """A whole page; ``body`` is HTML built with ``escape`` around every value put in it."""
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def post_form(action: str, csrf: str, label: str, fields: dict[str, str], *, css: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in {"csrf": csrf, **fields}.items()
    )
    return (
        f'<form class="inline {escape(css)}" method="post" action="{escape(action)}">'
        f'{hidden}<button type="submit">{escape(label)}</button></form>'
    )


def phones(customer: Customer) -> str:
    numbers = [phone for contact in customer.contacts for phone in contact.phones]
    return ", ".join(numbers) or "-"


def emails(customer: Customer) -> str:
    return ", ".join(e for contact in customer.contacts for e in contact.emails) or "-"


def cities(customer: Customer) -> str:
    return ", ".join(a.city for a in customer.addresses if a.city) or "-"


def describe(customer: Customer) -> str:
    """A masked record as table cells."""
    return "".join(
        f"<td>{escape(value)}</td>"
        for value in (customer.name or "-", phones(customer), emails(customer), cities(customer))
    )


def error_page(exc: Exception) -> Response:
    """custrec's errors on the pages: the same mapping as the JSON routes (core.error_answer),
    shown as HTML; without a session, the way to the sign-in page."""
    status, body, _ = error_answer(exc)
    if status == 401:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    back = f'<p><a href="{PREFIX}">Back to the review queue</a></p>'
    return page("Not done", f"<p>{escape(str(body['message']))}</p>{back}", status=status)


def sign_out_form(session: Session) -> str:
    return f"<p>{post_form(f'{PREFIX}/logout', session.csrf, 'Sign out', {}, css='logout')}</p>"


# ---------------------------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------------------------

DONE = {
    "merge": "Merged into the stored customer.",
    "distinct": "Kept as a customer of its own.",
    "reject": "Rejected.",
}


@router.get("/login")
def login_page(request: Request) -> Response:
    session_id, session = sessions(request).start(None)
    body = (
        f'<form method="post" action="{PREFIX}/login">'
        f'<input type="hidden" name="csrf" value="{escape(session.csrf)}">'
        '<label>Demo token <input name="token" autocomplete="off" required></label> '
        '<button type="submit">Sign in</button></form>'
    )
    response = page("Sign in to the review queue", body)
    set_cookie(request, response, session_id)
    return response


@router.post("/login")
def login(request: Request, fields: Form) -> Response:
    old_id = request.cookies.get(COOKIE)
    session = sessions(request).get(old_id)
    if session is None:
        raise FormRejected
    check_form(request, session, fields)
    user = fields.get("token", "")
    if user not in DEMO_USERS:
        again = f'<p>Unknown token.</p><p><a href="{PREFIX}/login">Sign in again</a></p>'
        return page("Not signed in", again, status=401)
    sessions(request).end(old_id)
    session_id, _ = sessions(request).start(user)  # a new id and token once signed in
    response = RedirectResponse(PREFIX, status_code=303)
    set_cookie(request, response, session_id)
    return response


@router.post("/logout")
def logout(request: Request, fields: Form) -> Response:
    _, session = signed_in(request)
    check_form(request, session, fields)
    sessions(request).end(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("")
def queue_page(request: Request, registry: PageRegistry, done: str | None = None) -> Response:
    actor, session = signed_in(request)
    items = queue(registry, actor)
    notice = f'<p class="notice">{escape(DONE[done])}</p>' if done in DONE else ""
    if not items:
        listing = '<p id="empty">Nothing waits for review.</p>'
    else:
        rows = "".join(
            f'<tr id="item-{escape(c.id)}">{describe(c)}'
            f'<td><a href="{PREFIX}/{escape(c.id)}">Review</a></td></tr>'
            for c in items
        )
        listing = (
            '<table id="queue"><thead><tr><th>Name</th><th>Phones</th><th>E-mails</th>'
            f"<th>Cities</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return page("Duplicate review", notice + listing + sign_out_form(session))


def look_alike_row(item_id: str, session: Session, found: LookAlike) -> str:
    candidate = found.candidate
    reasons = "".join(f"<li>{escape(str(reason))}</li>" for reason in candidate.reasons)
    if found.customer is None:
        record = '<td colspan="4">(not yours to see)</td>'
        action = ""
    else:
        record = describe(found.customer)
        fields = {"decision": Decision.MERGE.value, "into": candidate.customer_id}
        label = "Same customer: merge into this one"
        action = post_form(f"{PREFIX}/{item_id}/decision", session.csrf, label, fields, css="merge")
    return (
        f'<tr class="look-alike">{record}<td>{escape(candidate.decision.value)} '
        f"({candidate.score:.4f})<ul>{reasons}</ul></td><td>{action}</td></tr>"
    )


@router.get("/{customer_id}")
def item_page(request: Request, customer_id: str, registry: PageRegistry) -> Response:
    actor, session = signed_in(request)
    record = registry.customers.get(customer_id, actor=actor)
    if record.id != customer_id or record.verification is not VerificationStatus.PENDING_REVIEW:
        back = f'<p><a href="{PREFIX}">Back to the review queue</a></p>'
        return page("Already decided", f"<p>This record is not waiting for review.</p>{back}")
    found = look_alikes(registry, record.id, actor)
    rows = "".join(look_alike_row(record.id, session, f) for f in found)
    heads = "<th>Name</th><th>Phones</th><th>E-mails</th><th>Cities</th>"
    new_record = (
        f"<table><thead><tr>{heads}</tr></thead><tbody><tr>{describe(record)}</tr></tbody></table>"
    )
    stored = (
        f"<table><thead><tr>{heads}<th>Evidence</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if rows
        else "<p>No stored look-alike any more.</p>"
    )
    to = f"{PREFIX}/{record.id}/decision"
    keep = post_form(
        to, session.csrf, "Not the same: keep it", {"decision": "distinct"}, css="distinct"
    )
    reject = post_form(to, session.csrf, "Reject the record", {"decision": "reject"}, css="reject")
    body = (
        f"<h2>The new record</h2>{new_record}"
        f"<h2>Stored look-alikes and the evidence</h2>{stored}"
        f"<h2>Or</h2><p>{keep} {reject}</p>"
        f'<p><a href="{PREFIX}">Back to the review queue</a></p>'
    )
    return page("Review a possible duplicate", body)


@router.post("/{customer_id}/decision")
def decision(request: Request, customer_id: str, fields: Form, registry: PageRegistry) -> Response:
    actor, session = signed_in(request)
    check_form(request, session, fields)
    try:
        chosen = Decision(fields.get("decision", ""))
    except ValueError:
        raise FormRejected from None
    decide(registry, customer_id, chosen, actor=actor, into=fields.get("into"))
    # Post/Redirect/Get: back to the list (303, so a reload does not post again)
    return RedirectResponse(f"{PREFIX}?done={chosen.value}", status_code=303)
