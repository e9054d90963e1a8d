"""``python examples/django_app``: the self-check; with arguments, Django's ``manage.py``.

    python examples/django_app                          # the self-check, in a temporary directory
    CUSTREC_DB=crm.sqlite CUSTREC_KEY_FILE=/etc/crm/custrec.keys.json \\
        DJANGO_SECRET_KEY=... python examples/django_app runserver --noreload
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

# The project is the package django_app: make it importable when this directory is run.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_app.settings")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        from django.core.management import execute_from_command_line

        execute_from_command_line(argv)
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        key_file = Path(workdir, "custrec.keys.json")
        # DEMO ONLY: a fresh key file and Django secret for this run, in a temporary directory.
        # In production the key file is made once (`custrec keys init`), kept off the database's
        # disk and out of its backups, and named by CUSTREC_KEY_FILE; losing it loses every
        # customer. The settings read everything from the environment.
        from custrec.security import generate_key_file

        generate_key_file(key_file)
        os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
        os.environ["CUSTREC_DB"] = str(Path(workdir, "crm.sqlite"))
        os.environ["CUSTREC_KEY_FILE"] = str(key_file)
        # 0.2 s: the busy-database check below gives up after 0.2 s, not 5 s
        os.environ["CUSTREC_BUSY_TIMEOUT"] = "0.2"

        import django
        from django.test.utils import setup_test_environment

        django.setup()
        setup_test_environment()  # lets the test Client's host, "testserver", in
        from django_app import backend

        try:
            exercise(Path(os.environ["CUSTREC_DB"]))
        finally:
            backend.close()
    print("ok: Django")
    return 0


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{what}: expected {status}, got {response.status_code}")
    return response.json()


def exercise(db_path: Path) -> None:
    from django.test import Client

    from custrec import SQLiteStore
    from django_app.middleware import RETRY_AFTER_SECONDS

    client = Client()
    clerk, colleague, dpo = auth("demo-clerk"), auth("demo-colleague"), auth("demo-dpo")
    new = {"kind": "individual", "name": "张三", "contacts": [{"phones": ["138 0013 8000"]}]}

    def post(path: str, data: object, headers: dict[str, str]) -> Any:
        return client.post(path, data, content_type="application/json", headers=headers)

    def patch(path: str, data: object, headers: dict[str, str]) -> Any:
        return client.patch(path, data, content_type="application/json", headers=headers)

    created = expect(post("/customers", new, clerk), 201, "intake")
    cid = created["id"]
    print(f"intake: 201, version {created['version']}")

    bad = {"kind": "individual", "name": "", "contacts": [{"phones": ["12345"]}]}
    response = post("/customers", bad, clerk)
    issues = expect(response, 422, "invalid intake")["issues"]
    assert {(i["path"], i["code"]) for i in issues} == {
        ("name", "required"),
        ("contacts[0].phones[0]", "phone.invalid"),
    }
    assert b"12345" not in response.content  # the issues never repeat the input
    print(f"invalid intake: 422, {len(issues)} issues ({', '.join(i['code'] for i in issues)})")
    not_json = client.post("/customers", "name=x", content_type="text/plain", headers=clerk)
    assert expect(not_json, 422, "a body that is not JSON")["issues"][0]["code"] == (
        "request.not_object"
    )

    # Fields only the service sets are refused, each named, none stored.
    forged = {**new, "id": "chosen-id", "created_at": "2001-02-03T00:00:00Z"}
    forged |= {"verification": "verified"}
    response = post("/customers", forged, clerk)
    refused = expect(response, 422, "intake naming service-set fields")["issues"]
    assert {(i["path"], i["code"]) for i in refused} == {
        ("id", "field.not_allowed"),
        ("created_at", "field.not_allowed"),
        ("verification", "field.not_allowed"),
    }
    assert b"chosen-id" not in response.content and b"2001" not in response.content
    print(f"intake with id, created_at, verification: 422, {len(refused)} issues")

    # A duplicate names the existing customer only to a caller who may read it.
    duplicate = expect(post("/customers", new, clerk), 409, "duplicate")
    assert duplicate["existing_ids"] == [cid] and duplicate["fields"] == ["phone"]
    hidden = expect(post("/customers", new, colleague), 409, "another team's duplicate")
    assert hidden["existing_ids"] == [] and hidden["fields"] == ["phone"]
    assert cid not in str(hidden)
    print("duplicate: 409, the id for the owner, none for another team")

    shown = expect(client.get(f"/customers/{cid}", headers=clerk), 200, "get")
    assert shown["name"] == "张*"  # the clerk may read, not unmask
    print(f"get: 200, masked name {shown['name']}")
    expect(client.get(f"/customers/{cid}", headers=colleague), 403, "another team's customer")
    expect(client.get("/customers/no-such-id", headers=clerk), 404, "unknown id")
    expect(client.get(f"/customers/{cid}"), 401, "no credentials")

    found = expect(post("/customers/find", {"phone": "+86 138-0013-8000"}, clerk), 200, "find")
    assert [c["id"] for c in found["customers"]] == [cid]

    verify = {"changes": {"verification": "verified"}, "expected_version": 1, "reason": "x"}
    refused = expect(patch(f"/customers/{cid}", verify, clerk), 422, "update of verification")
    assert [(i["path"], i["code"]) for i in refused["issues"]] == [
        ("changes.verification", "field.not_allowed")
    ]
    change = {"changes": {"stage": "active"}, "expected_version": 1, "reason": "contract signed"}
    updated = expect(patch(f"/customers/{cid}", change, clerk), 200, "update")
    assert updated["version"] == 2 and updated["stage"] == "active"
    assert updated["verification"] == "unverified"
    stale = {"changes": {"tags": ["vip"]}, "expected_version": 1, "reason": "tagging"}
    expect(patch(f"/customers/{cid}", stale, clerk), 409, "stale update")
    no_version = {"changes": {"tags": ["vip"]}, "reason": "tagging"}
    missing = patch(f"/customers/{cid}", no_version, clerk)
    assert expect(missing, 422, "update without expected_version")["issues"][0]["path"] == (
        "expected_version"
    )
    blank = {"changes": {"tags": ["vip"]}, "expected_version": 2, "reason": " "}
    assert (
        expect(patch(f"/customers/{cid}", blank, clerk), 422, "blank reason")["issues"][0]["path"]
        == "reason"
    )
    print("update: 200 at version 2; a stale expected_version: 409")

    # A write that cannot get SQLite's write lock within busy_timeout: 503 with Retry-After.
    # Another writer (a second store on the same file, as another process would be) holds it.
    with SQLiteStore(db_path) as other_writer, other_writer.transaction():
        busy = post("/customers", {**new, "name": "李四"}, clerk)
    expect(busy, 503, "write while another writer holds the lock")
    assert busy.headers["Retry-After"] == RETRY_AFTER_SECONDS
    print(f"busy database: 503, Retry-After {busy.headers['Retry-After']}")

    export = expect(client.get(f"/customers/{cid}/export", headers=dpo), 200, "export")
    assert export["record"]["name"] == "张三" and not export["masked"]
    expect(client.get(f"/customers/{cid}/export", headers=clerk), 403, "export without right")
    print(f"export: 200, {len(export['history'])} history entries")

    erased = expect(
        post(f"/customers/{cid}/erasure", {"reason": "subject request"}, dpo), 200, "erase"
    )
    assert any(a["target"] == "data_key" for a in erased["actions"])
    expect(client.get(f"/customers/{cid}", headers=clerk), 410, "get after erasure")
    print("erase: 200; the customer now answers 410")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
