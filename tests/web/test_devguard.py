"""The dev mode's guard as a table: which Host, Origin, Sec-Fetch-Site and Referer pass."""

from __future__ import annotations

import pytest

from headwater.web.devguard import DevGuard, check, is_loopback

BOUND = ("127.0.0.1", 8080)


def _h(host: str | None = "127.0.0.1:8080", **more: str) -> dict[str, str]:
    headers = {k.replace("_", "-"): v for k, v in more.items()}
    if host is not None:
        headers["host"] = host
    return headers


@pytest.mark.parametrize("host", [
    "127.0.0.1:8080", "127.0.0.1", "localhost:8080", "LOCALHOST:8080", "localhost",
    "[::1]:8080", "[::1]", "127.0.0.2:8080",
    "localhost:9000",  # a port forwarded to this one (ssh -L): still this machine
])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_loopback_host_names_are_answered(host: str, method: str) -> None:
    assert check(method, _h(host), bound=BOUND) is None


@pytest.mark.parametrize("host", [
    "evil.example:8080", "evil.example", "127.0.0.1.nip.io:8080", "localhost.evil.example",
    "10.0.0.5:8080", "0.0.0.0:8080", "[::]:8080", "", "127.0.0.1:x", "127.0.0.1:99999",
    "[::1", "[::1]x", "localhost:8080, evil.example",  # two Host headers
    None,
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_other_host_names_are_refused_as_dns_rebinding(host: str | None, method: str) -> None:
    refusal = check(method, _h(host), bound=BOUND)
    assert refusal is not None
    assert refusal.status == 421
    assert "DNS rebinding" in refusal.message
    assert "http://127.0.0.1:8080/" in refusal.message


@pytest.mark.parametrize(("method", "headers"), [
    # programs: no Origin, no Sec-Fetch-Site, no Referer
    ("POST", _h()),
    ("DELETE", _h("localhost:8080")),
    # the server's own pages, by the name the browser used or the bound address
    ("PUT", _h(origin="http://127.0.0.1:8080")),
    ("PUT", _h("localhost:8080", origin="http://localhost:8080")),
    ("POST", _h("localhost:8080", origin="http://127.0.0.1:8080")),
    ("POST", _h("[::1]:8080", origin="http://[::1]:8080")),
    ("POST", _h("localhost:9000", origin="http://localhost:9000")),
    ("POST", _h("localhost", origin="http://localhost")),
    ("POST", _h(sec_fetch_site="same-origin")),
    ("POST", _h(sec_fetch_site="none")),  # typed by the user
    ("POST", _h(referer="http://127.0.0.1:8080/pipelines/app")),
    ("POST", _h(sec_fetch_site="same-origin", referer="http://127.0.0.1:8080/")),
    # reading is never refused for its origin (the answer is not readable cross-origin)
    ("GET", _h(origin="https://evil.example")),
    ("HEAD", _h(sec_fetch_site="cross-site")),
    ("OPTIONS", _h(origin="null")),
])
def test_allowed(method: str, headers: dict[str, str]) -> None:
    assert check(method, headers, bound=BOUND) is None


@pytest.mark.parametrize(("method", "headers", "named"), [
    ("PUT", _h(origin="https://evil.example"), "'https://evil.example'"),
    ("POST", _h(origin="http://evil.example:8080"), "'http://evil.example:8080'"),
    ("DELETE", _h(origin="http://localhost:3000"), "'http://localhost:3000'"),  # another port
    ("POST", _h("localhost:8080", origin="http://localhost:9000"), "localhost:9000"),
    ("PATCH", _h(origin="null"), "'null'"),  # sandboxed frame, file://, data:
    ("POST", _h(origin="file://"), "'file://'"),
    ("POST", _h(origin="http://127.0.0.1:8080, https://evil.example"), "evil.example"),
    ("POST", _h(sec_fetch_site="cross-site"), "cross-site"),
    ("POST", _h(sec_fetch_site="same-site"), "same-site"),  # localhost:3000 is same-site
    ("POST", _h(referer="https://evil.example/page"), "'https://evil.example/page'"),
    ("PUT", _h(referer="http://localhost:3000/"), "localhost:3000"),
    ("POST", _h(referer="not a url"), "'not a url'"),
    ("POST", _h(origin="https://evil.example", sec_fetch_site="same-origin"), "evil.example"),
])
def test_cross_site_writes_are_refused_as_csrf(method: str, headers: dict[str, str],
                                               named: str) -> None:
    refusal = check(method, headers, bound=BOUND)
    assert refusal is not None
    assert refusal.status == 403
    assert "CSRF" in refusal.message
    assert named in refusal.message
    assert refusal.message.startswith(f"refused: {method} from ")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.9.9.9", True),
    ("0.0.0.0", False), ("10.1.2.3", False), ("example.com", False), ("", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_a_websocket_handshake_from_another_origin_is_closed_before_the_app() -> None:
    """uvicorn here has no WebSocket library; the guard still closes a foreign handshake
    should one be installed (browsers do not apply CORS to WebSockets)."""
    reached: list[str] = []
    sent: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append(str(scope["type"]))

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    guard = DevGuard(app)  # type: ignore[arg-type]
    scope = {"type": "websocket", "path": "/ws", "server": ("127.0.0.1", 8080),
             "headers": [(b"host", b"127.0.0.1:8080"), (b"origin", b"https://evil.example")]}
    await guard(scope, receive, send)  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == []
    own = {**scope, "headers": [(b"host", b"127.0.0.1:8080"),
                                (b"origin", b"http://127.0.0.1:8080")]}
    await guard(own, receive, send)  # type: ignore[arg-type]
    await guard({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    assert reached == ["websocket", "lifespan"]
