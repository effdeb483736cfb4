"""A real server per test (tests/ci/server/conftest.py) and Debian's chromium driven
by playwright: headless, a new empty profile, never a downloaded browser.

Screenshots go to `$HEADWATER_TEST_ARTIFACTS/<test name>/` when that is set, else to
the test's tmp_path; the directory is printed, so `pytest -s` shows where they are.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from tests.ci.server.conftest import Server, ci_server, fly, server_args

__all__ = ["ci_server", "fly", "server_args"]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    root = os.environ.get("HEADWATER_TEST_ARTIFACTS")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    where = Path(root) / name if root else tmp_path / "artifacts"
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots of {request.node.name}: {where}")
    return where


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (hack/setup.sh does)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            context.close()


@dataclass
class UI:
    server: Server
    page: Page
    artifacts: Path

    def url(self, path: str) -> str:
        return self.server.url + path

    def login(self) -> None:
        self.page.goto(self.url("/"))
        self.page.wait_for_url(re.compile(r"/login"))
        self.page.get_by_label("API token").fill(self.server.token)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(self.url("/"))

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def ui(ci_server: Server, browser: BrowserContext, artifacts: Path) -> UI:
    return UI(ci_server, browser.pages[0] if browser.pages else browser.new_page(), artifacts)


@contextlib.contextmanager
def session_client(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client logged in through the login form, as a browser would."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        csrf = form_csrf(client.get("/login").text)
        r = client.post("/login", data={"csrf": csrf, "token": server.token, "next": "/"},
                        headers={"Origin": server.url})
        assert r.status_code == 303, r.text
        yield client


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no csrf field in the page"
    return found[1]
