"""Behind an https proxy (`--external-url https://...`): the session cookie is Secure,
and a form posted from the external origin is the server's own, not another site."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.ci.server.conftest import Server
from tests.web.ui.conftest import form_csrf

EXTERNAL = "https://ci.example.test"


@pytest.fixture
def server_args() -> tuple[str, ...]:
    return ("--external-url", EXTERNAL)


def test_the_cookie_is_secure_and_the_external_origin_may_post(ci_server: Server) -> None:
    with httpx.Client(base_url=ci_server.url) as client:
        page = client.get("/login")
        assert re.search(r"(?i)hw_login_csrf=[^;]+;.*secure", page.headers["set-cookie"])
        data = {"csrf": form_csrf(page.text), "token": ci_server.token, "next": "/"}
        # the proxy speaks https to the browser: the Secure cookie comes back, by hand here
        login_cookie = page.headers["set-cookie"].split(";", 1)[0]
        r = client.post("/login", data=data, headers={"Origin": "https://evil.example.test",
                                                      "Cookie": login_cookie})
        assert r.status_code == 403
        r = client.post("/login", data=data, headers={"Origin": EXTERNAL,
                                                      "Cookie": login_cookie})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert re.search(r"(?i)hw_session=[^;]+;.*secure", cookie), cookie
