"""A real `qlambda serve` and a real headless Chromium (Debian's, driven by Playwright).

The server helpers are those of the gateway tests (loaded from their file: test folders
are not packages). Chromium is ``scripts/chromium.py``'s (``make test`` installs it);
Playwright's own browser downloads are not used. Every page a test opens records its
console errors and failed requests: the ``page`` fixture fails the test on any.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import shutil
import sys
from pathlib import Path

import httpx
import pytest


def _gateway_helpers():
    name = "qlambda_gateway_test_helpers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "gateway" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _gateway_helpers()
ServerProcess = helpers.ServerProcess
make_users = helpers.make_users

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

WORK = b'''
import time


def work(ctx, n: int = 2, pause: float = 0.2, message: str = "step"):
    """A few sampler calls, with prints and checkpoints between them."""
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    sampler = ctx.sampler()
    counts = None
    for i in range(n):
        print(f"{message} {i}", flush=True)
        time.sleep(pause)
        counts = sampler.run([circuit], shots=256).result()[0].data.meas.get_counts()
        ctx.checkpoint({"i": i})
    return counts


def sleeper(seconds: float = 1.0):
    time.sleep(seconds)
    return [{"slept": seconds, "unit": "s"}]
'''


def register_functions(server: ServerProcess, user: str) -> None:
    with server.http(server.tokens[user]) as http:
        for name in ("work", "sleeper"):
            answer = http.post(
                "/functions",
                json={
                    "name": name,
                    "kind": "source",
                    "content": base64.b64encode(WORK).decode(),
                    "entrypoint": f"work.py:{name}",
                },
            )
            assert answer.status_code in (200, 201), answer.text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server (no sandbox: the sandbox has tests of its own) with alice, bob and the
    admin root; each user runs one job at a time, so a second one waits QUEUED."""
    data_dir = tmp_path_factory.mktemp("dashboard")
    tokens = make_users(data_dir, "alice", "bob", admin="root")
    process = ServerProcess(
        data_dir, "--workers", "2", "--sandbox", "none", "--max-running-jobs", "1"
    ).start()
    process.tokens = tokens
    for user in tokens:
        register_functions(process, user)
    yield process
    process.stop()


def submit(server: ServerProcess, user: str, function: str, **arguments) -> str:
    with server.http(server.tokens[user]) as http:
        answer = http.post("/jobs", json={"function": function, "arguments": arguments})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]


def wait_ended(server: ServerProcess, user: str, job_id: str) -> dict:
    with server.http(server.tokens[user]) as http:
        job = http.get(f"/jobs/{job_id}", params={"wait": 120}).json()
    assert job["status"] in ("DONE", "ERROR", "CANCELED", "DROPPED"), job
    return job


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's sync API runs an event loop in this
    thread while it is open, which later tests' ``asyncio.run`` must not find."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run python scripts/chromium.py (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Page:
    """A browser tab of its own (own cookies) that records console errors, failed
    requests and every URL it asked for, and saves screenshots under the test's dir."""

    def __init__(self, browser, base: str, folder: Path, viewport: dict) -> None:
        self.context = browser.new_context(viewport=viewport, base_url=base)
        self.tab = self.context.new_page()
        self.base = base
        self.folder = folder
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.bodies: list[str] = []
        self.tab.on("console", self._console)
        self.tab.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.tab.on("request", lambda request: self.urls.append(request.url))
        self.tab.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def _response(self, response) -> None:
        kind = response.headers.get("content-type", "")
        if response.status >= 400 and "/ui/" in response.url:
            self.errors.append(f"{response.status} {response.url}")
        if kind.startswith(("text/html", "application/json")):
            with contextlib.suppress(Exception):  # a stream or a page already gone
                self.bodies.append(response.text())

    def login(self, token: str) -> None:
        self.tab.goto("/ui/jobs")
        self.tab.wait_for_url("**/ui/login")
        self.tab.fill("#token", token)
        self.tab.press("#token", "Enter")
        self.tab.wait_for_url("**/ui/jobs")

    def shot(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser, server, tmp_path):
    """``open_page(viewport=DESKTOP)``: a logged-out tab on the server; after the test,
    no console error may have happened in any tab opened."""
    pages: list[Page] = []

    def make(viewport: dict = DESKTOP) -> Page:
        page = Page(browser, server.url, tmp_path, viewport)
        pages.append(page)
        return page

    yield make
    errors = [error for page in pages for error in page.errors]
    for page in pages:
        page.close()
    assert errors == [], errors


def session_client(server: ServerProcess, user: str):
    """An HTTP client logged in to the dashboard as ``user`` (a session cookie), to use
    in a ``with`` block."""
    client = httpx.Client(base_url=server.url, timeout=60)
    form = client.get("/ui/login")
    secret = form.text.split('name="login_csrf" value="')[1].split('"')[0]
    answer = client.post("/ui/login", data={"token": server.tokens[user], "login_csrf": secret})
    assert answer.status_code == 303, answer.text
    return contextlib.closing(client)


def csrf_of(html: str) -> str:
    return html.split('<meta name="csrf-token" content="')[1].split('"')[0]


@pytest.fixture
def tools():
    """The helpers above, for the test modules (test folders are not packages)."""
    import types

    return types.SimpleNamespace(
        submit=submit,
        wait_ended=wait_ended,
        session_client=session_client,
        csrf_of=csrf_of,
        DESKTOP=DESKTOP,
        PHONE=PHONE,
    )
