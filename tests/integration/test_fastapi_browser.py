"""The FastAPI example's duplicate review pages in a real browser.

The app (examples/fastapi_app) is served by uvicorn on 127.0.0.1 in a background thread, over
a store seeded with two look-alike customers, so that the second waits for review. Debian's
chromium, headless, driven through chromedriver by selenium, signs in, opens the queue, opens
the item, and merges it; the queue then no longer lists it and the registry holds the merge.

Needs selenium, uvicorn and fastapi in the environment, and /usr/bin/chromium with
/usr/bin/chromedriver (``apt-get install chromium chromium-driver``). Without them the test
skips, naming what is missing, except under CI (``CI`` set to anything but an explicit "no"),
where it fails.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor
from custrec.security import generate_key_file

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[2] / "examples"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
START_TIMEOUT = 30.0  # seconds for the server to answer its first request
WAIT = 20.0  # seconds a page may take to show what the test waits for

CLERK = Actor(id="u-clerk", roles={"staff"}, team="north")  # demo-clerk of the example
CHECKER = Actor(id="u-test-check", roles={"admin"})

FIRST = {
    "kind": "individual",
    "name": "Zhang Wei",
    "contacts": [{"phones": ["13800138000"]}],
    "addresses": [{"city": "北京", "street": "朝阳路 8 号"}],
}
LOOK_ALIKE = {  # the same person: the name in the other order, another phone, the same street
    "kind": "individual",
    "name": "WEI ZHANG",
    "contacts": [{"phones": ["13900139000"]}],
    "addresses": [{"city": "北京", "street": "朝阳路８号"}],
}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require_browser() -> None:
    missing = [m for m in ("selenium", "uvicorn", "fastapi") if importlib.util.find_spec(m) is None]
    missing += [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    message = f"the browser check needs {', '.join(missing)}"
    if under_ci():
        pytest.fail(f"{message}; under CI it must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def example() -> Iterator[Any]:
    """The example package, imported from examples/ (its modules import it as fastapi_app)."""
    require_browser()
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("fastapi_app.app")
    finally:
        sys.path.remove(str(EXAMPLES))


@dataclass
class Served:
    base: str
    settings: Any
    stored_id: str
    twin_id: str


def answers(host: str, port: int) -> bool:
    """Whether the server answers a request now (a refused or dropped connection: not yet)."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", "/review/login")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture
def served(example: Any, tmp_path: Path) -> Iterator[Served]:
    import uvicorn
    from fastapi_app.core import Settings, open_registry, take_in

    key_file = tmp_path / "custrec.keys.json"
    generate_key_file(key_file)
    # plain HTTP on the loopback interface: the session cookie cannot be Secure here
    settings = Settings(db_path=tmp_path / "crm.sqlite", key_file=key_file, secure_cookies=False)
    store, registry = open_registry(settings)
    try:
        stored, _ = take_in(registry, FIRST, CLERK)
        twin, look_alikes = take_in(registry, LOOK_ALIKE, CLERK)
    finally:
        store.close()
    assert look_alikes == [stored.id]  # the look-alike waits for review

    # A socket bound here, on a port the system picks, handed to uvicorn: no race for a port.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    config = uvicorn.Config(
        example.create_app(settings), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(host, port):  # each attempt waits for the server, not for a clock
            assert thread.is_alive(), "uvicorn stopped before it answered"
            assert time.monotonic() < deadline, "uvicorn did not answer in time"
        yield Served(f"http://{host}:{port}", settings, stored.id, twin.id)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        listener.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")  # a fresh profile
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def test_a_reviewer_merges_a_look_alike_in_the_browser(served: Served, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)

    browser.get(f"{served.base}/review")  # not signed in: the sign-in page
    wait.until(shown.presence_of_element_located((By.NAME, "token"))).send_keys("demo-reviewer")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    row = wait.until(shown.presence_of_element_located((By.ID, f"item-{served.twin_id}")))
    assert "WEI ZHANG" not in browser.page_source  # masked
    assert "+86139****9000" in row.text
    row.find_element(By.LINK_TEXT, "Review").click()

    merge = wait.until(shown.element_to_be_clickable((By.CSS_SELECTOR, "form.merge button")))
    evidence = browser.find_element(By.CSS_SELECTOR, "tr.look-alike").text
    assert "name: same" in evidence and "address: same" in evidence
    merge.click()

    wait.until(shown.presence_of_element_located((By.ID, "empty")))
    assert browser.current_url == f"{served.base}/review?done=merge"
    assert served.twin_id not in browser.page_source
    assert "Merged into the stored customer." in browser.page_source

    from fastapi_app.core import open_registry

    store, registry = open_registry(served.settings)
    try:
        assert registry.matching.aliases(served.stored_id, actor=CHECKER) == [served.twin_id]
        survivor = registry.customers.get(served.twin_id, actor=CHECKER)
        assert survivor.id == served.stored_id
        merges = [
            e for e in registry.customers.history(served.stored_id, actor=CHECKER)
            if e.action == "merge" and e.path == ""
        ]  # fmt: skip
        assert [(e.actor_id, e.reason) for e in merges] == [
            ("u-reviewer", f"duplicate review: the same customer as {served.stored_id}")
        ]
        assert list(registry.review.pending(actor=CHECKER)) == []
    finally:
        store.close()


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_tools_skip_except_under_ci(
    ci: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(sys.modules[__name__], "CHROMEDRIVER", Path("/nonexistent/chromedriver"))
    with pytest.raises(outcome, match="/nonexistent/chromedriver"):
        require_browser()
