"""``python examples/fastapi_app``: the self-check, through FastAPI's TestClient, in a
temporary directory (tests/test_examples.py runs it)."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

# The app is the package fastapi_app: make it importable when this directory is run.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from custrec import SQLiteStore
from custrec.security import generate_key_file
from fastapi_app.app import create_app
from fastapi_app.core import RETRY_AFTER_SECONDS, Settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {response.status_code}")
    return response.json() if "json" in response.headers.get("content-type", "") else None


def exercise(client: TestClient, settings: Settings) -> None:
    clerk, colleague, dpo = auth("demo-clerk"), auth("demo-colleague"), auth("demo-dpo")
    new = {
        "kind": "individual",
        "name": "张三",
        "contacts": [{"phones": ["138 0013 8000"], "emails": ["zhang.san@example.com"]}],
    }

    created = expect(client.post("/customers", json=new, headers=clerk), 201, "intake")
    cid = created["id"]
    assert not created["pending_review"] and created["possible_duplicates"] == []
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
    assert "chosen-id" not in response.text and "2001" not in response.text
    print(f"intake with id, created_at, verification: 422, {len(refused)} issues")

    # A duplicate names the existing customer only to a caller who may read it.
    duplicate = expect(client.post("/customers", json=new, headers=clerk), 409, "duplicate")
    assert duplicate["existing_ids"] == [cid] and set(duplicate["fields"]) == {"phone", "email"}
    hidden = expect(client.post("/customers", json=new, headers=colleague), 409, "another team")
    assert hidden["existing_ids"] == [] and set(hidden["fields"]) == {"phone", "email"}
    assert cid not in str(hidden)
    print("duplicate: 409, the id for the owner, none for another team")

    shown = expect(client.get(f"/customers/{cid}", headers=clerk), 200, "get")
    assert shown["name"] == "张*"  # the clerk may read, not unmask
    print(f"get: 200, masked name {shown['name']}")
    expect(client.get(f"/customers/{cid}", headers=colleague), 403, "another team's customer")
    expect(client.get("/customers/no-such-id", headers=clerk), 404, "unknown id")
    expect(client.get(f"/customers/{cid}"), 401, "no credentials")

    # search: exact by phone or e-mail, or by name; personal data only ever in a POST body
    for query in ({"phone": "+86 138-0013-8000"}, {"email": "Zhang.San@example.com"}):
        found = expect(client.post("/customers/find", json=query, headers=clerk), 200, "find")
        assert [c["id"] for c in found["customers"]] == [cid]
    expect(client.post("/customers/find", json={}, headers=clerk), 422, "find without criteria")
    named = expect(client.post("/customers/search", json={"text": "张三"}, headers=clerk), 200, "")
    assert [c["id"] for c in named["customers"]] == [cid] and named["after"] is None
    print("find by phone, by e-mail, search by name: 200")

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

    story = expect(client.get(f"/customers/{cid}/history", headers=clerk), 200, "history")
    stage = [e for e in story["history"] if e["path"] == "stage"]
    assert [(e["action"], e["reason"], e["actor_id"]) for e in stage] == [
        ("update", "contract signed", "u-clerk")
    ]
    assert "张三" not in str(story)  # values are masked for the clerk
    print(f"history: 200, {len(story['history'])} entries")

    # consent: grant, may_use, withdraw
    grant = {"purposes": ["marketing.sms"], "channel": "web_form"}
    expect(client.post(f"/customers/{cid}/consent/grant", json=grant, headers=clerk), 201, "grant")
    sms = f"/customers/{cid}/consent/marketing.sms"
    assert expect(client.get(sms, headers=clerk), 200, "may_use")["allowed"] is True
    expect(client.post(f"/customers/{cid}/consent/withdraw", json=grant, headers=clerk), 201, "")
    after = expect(client.get(sms, headers=clerk), 200, "may_use after withdrawal")
    assert (after["allowed"], after["reason"]) == (False, "withdrawn")
    bundled = {"purposes": ["third_party", "marketing.sms"], "channel": "app"}
    url = f"/customers/{cid}/consent/grant"
    expect(client.post(url, json=bundled, headers=clerk), 422, "bundled separate consent")
    print(f"consent: granted, allowed; withdrawn, {after['reason']}")

    # service cases: open, respond, resolve, close; a move the workflow forbids is 422
    opened = expect(
        client.post(
            f"/customers/{cid}/cases",
            json={"kind": "complaint", "category": "delivery", "subject": "parcel late"},
            headers=clerk,
        ),
        201,
        "open a case",
    )
    case = f"/cases/{opened['id']}/transition"
    for status in ("in_progress", "resolved"):
        moved = expect(client.post(case, json={"to": status}, headers=clerk), 200, status)
    assert moved["status"] == "resolved" and moved["first_response_at"] is not None
    wrong = expect(client.post(case, json={"to": "in_progress"}, headers=clerk), 422, "bad move")
    assert wrong["error"] == "invalid_transition"
    closing = {"to": "closed", "satisfaction": 5, "reason": "customer confirmed"}
    assert expect(client.post(case, json=closing, headers=clerk), 200, "close")["status"] == (
        "closed"
    )
    listed = expect(client.get(f"/customers/{cid}/cases", headers=clerk), 200, "list cases")
    assert [c["id"] for c in listed["cases"]] == [opened["id"]]
    print("cases: opened, in progress, resolved, closed; resolved to in_progress: 422")

    # A write that cannot get SQLite's write lock within busy_timeout: 503 with Retry-After.
    # Another writer (a second store on the same file, as another process would be) holds it.
    with SQLiteStore(settings.db_path) as other_writer, other_writer.transaction():
        busy = client.post("/customers", json={**new, "name": "李四"}, headers=clerk)
    expect(busy, 503, "write while another writer holds the lock")
    assert busy.headers["Retry-After"] == RETRY_AFTER_SECONDS
    print(f"busy database: 503, Retry-After {busy.headers['Retry-After']}")

    review_pages(client)

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


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "a form without a CSRF token"
    return found.group(1)


def review_pages(client: TestClient) -> None:
    """Two look-alikes: the second waits for review; a reviewer merges it through the pages."""
    clerk = auth("demo-clerk")
    first = {
        "kind": "individual",
        "name": "Zhang Wei",
        "contacts": [{"phones": ["13800138001"]}],
        "addresses": [{"city": "北京", "street": "朝阳路 8 号"}],
    }
    second = {
        "kind": "individual",
        "name": "WEI ZHANG",
        "contacts": [{"phones": ["13900139000"]}],
        "addresses": [{"city": "北京", "street": "朝阳路８号"}],
    }
    stored = expect(client.post("/customers", json=first, headers=clerk), 201, "first")["id"]
    twin = expect(client.post("/customers", json=second, headers=clerk), 201, "look-alike")
    assert twin["pending_review"] and twin["possible_duplicates"] == [stored]
    twin_id = twin["id"]
    # A look-alike of customers in another team's care waits for review too, but the caller
    # is not told which customers it resembles.
    third = {**first, "contacts": [{"phones": ["13600136000"]}]}
    hidden = expect(client.post("/customers", json=third, headers=auth("demo-colleague")), 201, "")
    assert hidden["pending_review"] and hidden["possible_duplicates"] == []
    print("a look-alike of another team's customer: 201 pending review, no ids named")

    # not signed in: to the sign-in page; signing in needs the sign-in form's token
    assert client.get("/review", follow_redirects=False).headers["location"] == "/review/login"
    form = client.get("/review/login")
    assert form.headers["content-security-policy"].startswith("default-src 'none'")
    forged = client.post("/review/login", data={"token": "demo-reviewer", "csrf": "guess"})
    expect(forged, 403, "sign-in without the form's token")
    login = client.get("/review/login")
    unknown = client.post("/review/login", data={"token": "nobody", "csrf": csrf_of(login.text)})
    expect(unknown, 401, "an unknown token")
    login = client.get("/review/login")
    signed = client.post(
        "/review/login",
        data={"token": "demo-reviewer", "csrf": csrf_of(login.text)},
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/review"
    assert "httponly" in signed.headers["set-cookie"].lower()
    assert "samesite=strict" in signed.headers["set-cookie"].lower()

    listing = client.get("/review")
    assert f'id="item-{twin_id}"' in listing.text and "WEI ZHANG" not in listing.text
    assert "+86139****9000" in listing.text  # masked (the pages never unmask)
    item = client.get(f"/review/{twin_id}")
    assert "name: same" in item.text and "address: same" in item.text  # the evidence
    token = csrf_of(item.text)
    decision = {"decision": "merge", "into": stored}
    refused = client.post(f"/review/{twin_id}/decision", data={**decision, "csrf": "x" + token})
    expect(refused, 403, "a decision without the session's token")
    elsewhere = client.post(
        f"/review/{twin_id}/decision",
        data={**decision, "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    expect(elsewhere, 403, "a decision posted from another site")
    done = client.post(
        f"/review/{twin_id}/decision", data={**decision, "csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/review?done=merge"
    after = client.get(done.headers["location"])
    assert f'id="item-{twin_id}"' not in after.text and 'id="empty"' in after.text
    again = client.post(f"/review/{twin_id}/decision", data={**decision, "csrf": token})
    expect(again, 422, "deciding a record twice")
    merged = expect(client.get(f"/customers/{twin_id}", headers=clerk), 200, "the merged id")
    assert merged["id"] == stored  # the alias resolves to the survivor

    # a namesake at the same address, with another birth date: a person keeps both
    namesake = {**second, "contacts": [{"phones": ["13700137000"]}], "birth_date": "1990-05-01"}
    other = expect(client.post("/customers", json=namesake, headers=clerk), 201, "namesake")
    assert other["pending_review"]
    token = csrf_of(client.get(f"/review/{other['id']}").text)
    kept = client.post(
        f"/review/{other['id']}/decision", data={"decision": "distinct", "csrf": token}
    )
    assert kept.status_code == 200 and 'id="empty"' in kept.text  # followed the redirect
    shown = expect(client.get(f"/customers/{other['id']}", headers=clerk), 200, "kept")
    assert shown["id"] == other["id"] and shown["verification"] == "verified"
    print("review pages: a look-alike merged, a namesake kept; CSRF refusals: 403")


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        key_file = Path(workdir, "custrec.keys.json")
        # DEMO ONLY: a fresh key file for this run, in a temporary directory. In production the
        # key file is made once (`custrec keys init`), kept off the database's disk and out of
        # its backups, and named by CUSTREC_KEY_FILE; losing it loses every customer.
        generate_key_file(key_file)
        # busy_timeout=0.2: the busy-database check gives up after 0.2 s, not 5 s; the test
        # client speaks plain HTTP, which a Secure cookie never travels over
        settings = Settings(
            db_path=Path(workdir, "crm.sqlite"),
            key_file=key_file,
            busy_timeout=0.2,
            secure_cookies=False,
        )
        with TestClient(create_app(settings)) as client:
            exercise(client, settings)
        print("ok: FastAPI")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
