"""Helpers of the registry tests: images pushed with chosen times and labels, and the
protocol peers that run on 127.0.0.1 in the test's event loop (aiohttp): a token
server that signs JWTs the real registry verifies, and small fake registries for
behaviours the real one does not show (tag pages, 429, 5xx)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from headwater.registry import Reference, push

# Creation times the tests push and expect back.
T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 2, 2, tzinfo=UTC)
T3 = datetime(2024, 3, 3, tzinfo=UTC)


def push_image(
    url: str,
    repo: str,
    tag: str,
    *,
    created: str | None = "2024-01-01T00:00:00Z",
    labels: Mapping[str, str] | None = None,
    oci: bool = False,
    payload: bytes = b"hello",
    auth: tuple[str, str] | httpx.Auth | None = None,
) -> str:
    """Push a one-layer image; return its manifest digest."""
    layer, diff_id = push.layer_from_bytes({"payload.txt": payload}, oci=oci)
    config = push.image_config([diff_id], entrypoint=["/bin/true"], created=created,
                               labels=labels, oci=oci)
    push.push_blobs(url, repo, [config, layer], auth=auth)
    return push.push_manifest(url, repo, tag, push.image_manifest(config, [layer]), auth=auth)


def push_index(
    url: str,
    repo: str,
    tag: str,
    created: Mapping[str, str],
    *,
    oci: bool = True,
) -> tuple[str, dict[str, str]]:
    """Push one image per platform (`{"linux/amd64": created}`), then an index (OCI or a
    Docker manifest list) of them under `tag`; return the index's digest and the
    manifests' digests by platform."""
    entries: list[tuple[push.Blob, str]] = []
    for platform, when in created.items():
        os, _, arch = platform.partition("/")
        layer, diff_id = push.layer_from_bytes({"p": platform.encode()}, oci=oci)
        config = push.image_config([diff_id], entrypoint=["/bin/true"], created=when,
                                   os=os, architecture=arch, oci=oci)
        manifest = push.image_manifest(config, [layer])
        push.push_blobs(url, repo, [config, layer])
        push.push_manifest(url, repo, manifest.digest, manifest)
        entries.append((manifest, platform))
    index = push.index(entries, oci=oci)
    return push.push_manifest(url, repo, tag, index), {p: m.digest for m, p in entries}


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 with a free port; yield `127.0.0.1:port`."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class Peer:
    """A fake registry: every request is answered by a handler and recorded."""

    host: str
    seen: list[str] = field(default_factory=list)  # path?query of each request
    times: list[float] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)  # of each request

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def repo(self, name: str = "app") -> Reference:
        return Reference(self.host, name)


Handler = Callable[[web.Request, int], web.StreamResponse]
PeerFactory = Callable[[Handler], Awaitable[Peer]]


@asynccontextmanager
async def peers() -> AsyncIterator[PeerFactory]:
    """`start(handler)` runs a `Peer` answering request n with `handler(request, n)`,
    until the context ends."""
    async with AsyncExitStack() as running:

        async def start(handler: Handler) -> Peer:
            peer = Peer("")

            async def any_request(request: web.Request) -> web.StreamResponse:
                peer.seen.append(request.path_qs)
                peer.authorization.append(request.headers.get("Authorization"))
                peer.times.append(time.monotonic())
                return handler(request, len(peer.seen))

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", any_request)
            peer.host = await running.enter_async_context(serve(app))
            return peer

        yield start


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs registry tokens (JWT, ES256, the certificate in `x5c`) as a Docker token
    server does; the registry trusts `cert_pem` as its `rootcertbundle`."""

    def __init__(self, *, issuer: str, service: str) -> None:
        self.issuer, self.service = issuer, service
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        now = datetime.now(UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1))
                     .not_valid_after(now + timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def mint(self, *, subject: str, access: list[dict[str, Any]], ttl: int) -> str:
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now,
                  "nbf": now - 10, "exp": now + ttl, "jti": secrets.token_hex(8),
                  "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode()))
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(),
                                                  ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def scope_access(scope: str) -> dict[str, Any]:
    """`repository:name:pull,push` as a token's access claim."""
    kind, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": actions.split(",")}


class TokenServer:
    """GET /token?service=&scope=: a token for the scope if Basic auth names a user
    (anonymous and wrong passwords get 401). `issued` counts tokens given, `ttl` is
    their lifetime and `requests` keeps each request's query."""

    def __init__(self, issuer: TokenIssuer, users: Mapping[str, str]) -> None:
        self.issuer, self.users = issuer, dict(users)
        self.issued, self.ttl = 0, 300
        self.requests: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/token", self._token)

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return web.json_response({"details": "login required"}, status=401)
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if self.users.get(user) != password or request.query.get("service") != (
                self.issuer.service):
            return web.json_response({"details": "bad credentials"}, status=401)
        self.issued += 1
        jwt = self.issuer.mint(subject=user, ttl=self.ttl, access=[
            scope_access(s) for s in request.query.getall("scope", [])])
        return web.json_response({"token": jwt, "expires_in": self.ttl})
