"""The loopback dev mode's guard against web pages: DNS rebinding and CSRF.

Without a token (`headwater server --dev`, `headwater cd` without `--api-token`), any
request that reaches the loopback port drives the server. Programs of this machine are
trusted, as the token-less mode itself says; web pages the user opens are not, and a
browser will send requests to 127.0.0.1 for them:

- **DNS rebinding.** A page of `evil.example`, whose name is then made to resolve to
  127.0.0.1, talks to the server as its own origin and reads the answers. The browser
  still sends `Host: evil.example[:port]`: only loopback names are answered (421).
- **CSRF.** A page of any origin may send a form POST (or a `no-cors` fetch) to
  `http://127.0.0.1:PORT`: it cannot read the answer, but the request does its work.
  Browsers name the page in `Origin` on such requests (older ones in `Sec-Fetch-Site`
  or `Referer`): a state-changing request from another origin is refused (403).
  Programs (the CLI, curl, a registry's webhook) send none of these and pass.

`check` is the whole rule, a pure function of the request; `DevGuard` (ASGI middleware
of the one app, `web/app.py`) only applies it and answers its refusal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from headwater import log as hwlog

_log = hwlog.get("devguard")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """An address (or `localhost`) that only this machine can reach."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class Refusal:
    status: int   # 421 for a foreign Host, 403 for a foreign origin
    message: str


def _host_port(value: str) -> tuple[str, int | None] | None:
    """`name[:port]` or `[v6][:port]` of a Host header, lower-cased; None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text = value.partition(":")
        if not sep:
            port_text = None
    if not host:
        return None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL; None when it has none (`null`)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _own_origins(host: tuple[str, int | None], bound: tuple[str, int]
                 ) -> set[tuple[str, int]]:
    """The (host, port) pairs a page of this server has: the address the browser used
    (the Host header) and the address the server is bound to."""
    own = {(bound[0].lower(), bound[1])}
    if host[1] is None:
        own |= {(host[0], 80), (host[0], 443)}
    else:
        own.add((host[0], host[1]))
    return own


def check(method: str, headers: Mapping[str, str], *, bound: tuple[str, int]
          ) -> Refusal | None:
    """None if the dev server may answer this request, else why not.

    `headers` has lower-case names (a repeated header joined with ", ", which no rule
    accepts); `bound` is the (host, port) the server listens on.
    """
    raw_host = headers.get("host")
    host = _host_port(raw_host) if raw_host is not None else None
    if host is None or not is_loopback(host[0]):
        return Refusal(421, (
            f"refused: Host {raw_host!r} is not a loopback name. The dev server (no token) "
            f"answers only to 127.0.0.1, localhost or [::1], so that a web page whose name "
            f"resolves to this machine cannot talk to it (DNS rebinding). Use "
            f"http://127.0.0.1:{bound[1]}/, or run with a token to serve other names."))
    return cross_site(method, headers, bound=bound)


def cross_site(method: str, headers: Mapping[str, str], *, bound: tuple[str, int],
               also: tuple[str, ...] = ()) -> Refusal | None:
    """The CSRF half of `check`, for any server: None if this request comes from one of
    the server's own pages or from a program, else a 403. `also`: more origins of the
    server (its external URL behind a proxy)."""
    if method.upper() in SAFE_METHODS:
        return None
    raw_host = headers.get("host")
    host = _host_port(raw_host) if raw_host is not None else None
    own = _own_origins(host, bound) if host is not None else {(bound[0].lower(), bound[1])}
    own |= {(o[1], o[2]) for url in also if (o := _origin(url)) is not None}
    if (origin := headers.get("origin")) is not None:
        if not _is_own(origin, own):
            return _cross_site(method, f"a page of origin {origin!r}", raw_host)
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return _cross_site(method, f"a page of another site (Sec-Fetch-Site: {site})",
                           raw_host)
    if (referer := headers.get("referer")) is not None and not _is_own(referer, own):
        return _cross_site(method, f"the page {referer!r}", raw_host)
    return None


def _is_own(url: str, own: set[tuple[str, int]]) -> bool:
    parsed = _origin(url)
    return parsed is not None and (parsed[1], parsed[2]) in own


def _cross_site(method: str, source: str, host: str | None) -> Refusal:
    return Refusal(403, (
        f"refused: {method.upper()} from {source} to the dev server at {host}: a "
        f"cross-site request (CSRF). Without a token, only the server's own pages and "
        f"programs (which send no Origin) may change state; run with a token to accept "
        f"other origins."))


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class DevGuard:
    """ASGI middleware applying `check` to every HTTP request and WebSocket handshake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _joined((k.decode("latin-1"), v.decode("latin-1"))
                          for k, v in scope["headers"])
        server = scope.get("server") or ("127.0.0.1", 0)
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        refusal = check(method, headers, bound=(str(server[0]), int(server[1] or 0)))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        _log.warning("request refused", method=method, path=scope.get("path", ""),
                     host=headers.get("host"), origin=headers.get("origin"),
                     status=refusal.status)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await JSONResponse({"detail": refusal.message}, status_code=refusal.status)(
            scope, receive, send)
