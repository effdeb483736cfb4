"""The stack's HTTPS Git server process: `git http-backend` (CGI) behind TLS and auth.

`headwater up` runs it as `python -m headwater.devstack.githttpd CONFIG` (githttp.py
writes CONFIG). One aiohttp process, one pid, like every other component: it
terminates TLS with a certificate of the stack's CA, checks the credentials of every
request, and runs Debian git's `git http-backend` once per request with an argument
list and a CGI environment of its own making (never the client's headers wholesale:
the Authorization header never reaches the CGI, its environment or a log).

Every request needs credentials, clone included (anonymous reads are what git:// is
for): `Authorization: Basic` with the stack's user and password, or with any user and
the stack's token as password (what `GitAuth(token=...)` sends, `x-access-token:<token>`,
as GitHub and Gitea accept), or `Authorization: Bearer <token>`. Without an
Authorization header the answer is 401 with a Basic challenge, so git asks its
credential helpers or the terminal; with wrong credentials it is 403 with a plain-text
reason, because git shows the body of a 403 (`remote: ...`) but turns a 401 into a
prompt and drops it. An authenticated caller may push: REMOTE_USER is set, which is
what makes http-backend serve receive-pack.

Bodies stream both ways in 64 KiB chunks (a push's pack is never held in memory; git's
chunked uploads above http.postBuffer included); a gzip request body is passed to git
as is (git inflates it, within GIT_HTTP_MAX_REQUEST_BUFFER). Request headers, CGI
response headers, request bodies, concurrent CGIs and each request's duration are
bounded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hmac
import json
import os
import signal
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from headwater import log as hwlog

CHUNK = 64 * 1024
MAX_CGI_HEADERS = 64 * 1024      # bytes of response headers http-backend may write
MAX_PATH = 1024
REALM = "headwater git"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Limits:
    max_body: int = 2 * 1024**3    # a push's pack, at most
    concurrency: int = 16          # CGIs at once; more requests wait their turn
    request_timeout: float = 600.0  # a clone or push that takes longer is cut
    max_line_size: int = 8190      # request line and each header line
    max_field_size: int = 8190
    max_headers: int = 64
    keepalive_timeout: float = 75.0  # an idle connection is closed after this


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str


class Denied(enum.Enum):
    MISSING = "no credentials"
    WRONG = "wrong credentials"


TOKEN_USER = "token"  # noqa: S105 - a user name: REMOTE_USER (the reflog's identity) of a token's requests


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authorize(header: str | None, creds: Credentials) -> str | Denied:
    """The user a request's Authorization header proves (REMOTE_USER), or why not."""
    if not header or not header.strip():
        return Denied.MISSING
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return TOKEN_USER if value and _same(value, creds.token) else Denied.WRONG
    if scheme.lower() != "basic":
        return Denied.WRONG
    try:
        pair = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return Denied.WRONG
    user, colon, password = pair.partition(":")
    if not colon or not password:
        return Denied.WRONG
    if _same(password, creds.token):
        return TOKEN_USER  # any user name with the token, as GitHub and Gitea take it
    # Both compared whatever the first gives: no timing hint of which one was wrong.
    user_ok, password_ok = _same(user, creds.username), _same(password, creds.password)
    return creds.username if user_ok and password_ok else Denied.WRONG


def cgi_path(path: str) -> str | None:
    """`path` as PATH_INFO when it names something under the repositories, else None.

    http-backend refuses `..` itself; refusing here too keeps the rule in one place a
    test can reach without trusting that."""
    if (not path.startswith("/") or len(path) > MAX_PATH
            or any(c in path for c in ("\0", "\\", "\n", "\r"))):
        return None
    parts = path.split("/")[1:]
    if any(p in (".", "..") for p in parts) or not parts[0]:
        return None
    return path


def cgi_env(request: web.BaseRequest, *, user: str, path: str, repos: Path
            ) -> dict[str, str]:
    """The CGI environment of one request: what http-backend reads, and nothing else."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "GIT_PROJECT_ROOT": str(repos),
        "GIT_HTTP_EXPORT_ALL": "1",
        "REQUEST_METHOD": request.method,
        "PATH_INFO": path,
        "QUERY_STRING": request.query_string,
        "REMOTE_USER": user,
        "REMOTE_ADDR": request.remote or "",
    }
    if request.content_length is not None:
        env["CONTENT_LENGTH"] = str(request.content_length)
    for header, var in (("Content-Type", "CONTENT_TYPE"),
                        ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                        ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
        if value := request.headers.get(header):
            env[var] = value
    return env


def parse_cgi_headers(lines: list[bytes]) -> tuple[int, str, list[tuple[str, str]]]:
    """(status, reason, headers) from a CGI's header lines (RFC 3875 `Status:`)."""
    status, reason, headers = 200, "OK", []
    for raw in lines:
        name, colon, value = raw.decode("latin-1").rstrip("\r\n").partition(":")
        if not colon:
            raise ValueError(f"not a header line: {raw[:80]!r}")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code, _, reason = value.partition(" ")
            status, reason = int(code), reason or "Status"
        elif name.lower() not in _HOP_BY_HOP:
            headers.append((name, value))
    return status, reason, headers


class Server:
    def __init__(self, *, repos: Path, creds: Credentials, limits: Limits, log: Any) -> None:
        self.repos, self.creds, self.limits, self.log = repos, creds, limits, log
        self._slots = asyncio.Semaphore(limits.concurrency)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        who = authorize(request.headers.get("Authorization"), self.creds)
        if isinstance(who, Denied):
            return self._denied(request, who)
        path = cgi_path(request.path)
        if path is None:
            return self._plain(request, who, 404, "no such repository here\n")
        if request.method not in ("GET", "POST"):
            return self._plain(request, who, 405, "only GET and POST are served\n")
        if (request.content_length or 0) > self.limits.max_body:
            return self._plain(request, who, 413,
                               f"request body over {self.limits.max_body} bytes\n")
        async with self._slots:
            return await self._cgi(request, who, path)

    def _denied(self, request: web.BaseRequest, why: Denied) -> web.Response:
        scheme = (request.headers.get("Authorization") or "").strip().partition(" ")[0]
        # No credentials is how every git client starts (it waits for the challenge).
        report = self.log.info if why is Denied.MISSING else self.log.warning
        report("authentication failed", method=request.method, path=request.path,
               reason=why.value, scheme=scheme.lower()[:16] or "none", remote=request.remote)
        if why is Denied.MISSING:
            return web.Response(status=401, text="authentication required\n",
                                headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        return web.Response(
            status=403, text=f"{REALM}: authentication failed: wrong user, password or token\n")

    def _plain(self, request: web.BaseRequest, user: str, status: int, text: str
               ) -> web.Response:
        self._done(request, user, status, 0, 0)
        return web.Response(status=status, text=text)

    def _done(self, request: web.BaseRequest, user: str, status: int, sent: int,
              received: int) -> None:
        self.log.info("request", method=request.method, path=request.path,
                      query=request.query_string, status=status, user=user,
                      bytes_in=received, bytes_out=sent, remote=request.remote)

    async def _cgi(self, request: web.BaseRequest, user: str, path: str
                   ) -> web.StreamResponse:
        proc = await asyncio.create_subprocess_exec(
            "git", "http-backend", env=cgi_env(request, user=user, path=path, repos=self.repos),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=CHUNK, start_new_session=True)
        received = [0]
        feeding = asyncio.ensure_future(self._feed(request, proc, received))
        errors = asyncio.ensure_future(_tail(proc.stderr))
        status, sent = 502, 0
        response: web.StreamResponse | None = None
        try:
            async with asyncio.timeout(self.limits.request_timeout):
                status, reason, headers = await _read_headers(proc)
                response = web.StreamResponse(status=status, reason=reason)
                for name, value in headers:
                    response.headers.add(name, value)
                await response.prepare(request)
                assert proc.stdout is not None
                while chunk := await proc.stdout.read(CHUNK):
                    await response.write(chunk)
                    sent += len(chunk)
                await response.write_eof()
                await feeding
        except (ValueError, TimeoutError) as e:  # a broken CGI answer, or too slow
            self.log.warning("git http-backend failed", path=path,
                             err=str(e)[:200] or type(e).__name__)
            if response is not None and response.prepared:
                if request.transport:  # a cut answer must not look complete to git
                    request.transport.abort()
                return response
            status = 502
            return web.Response(status=502, text="git http-backend failed\n")
        else:
            return response
        finally:
            feeding.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # http-backend and its git child
            await proc.wait()
            if stderr := await errors:
                self.log.warning("git http-backend said", path=path, stderr=stderr)
            self._done(request, user, status, sent, received[0])

    async def _feed(self, request: web.BaseRequest, proc: asyncio.subprocess.Process,
                    received: list[int]) -> None:
        """The request body to the CGI's stdin, chunk by chunk, then EOF."""
        stdin = proc.stdin
        assert stdin is not None
        try:
            while chunk := await request.content.read(CHUNK):
                received[0] += len(chunk)
                if received[0] > self.limits.max_body:
                    break  # git sees a truncated pack and refuses it
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # http-backend stopped reading: its answer says why
        finally:
            stdin.close()


async def _read_headers(proc: asyncio.subprocess.Process
                        ) -> tuple[int, str, list[tuple[str, str]]]:
    assert proc.stdout is not None
    lines: list[bytes] = []
    size = 0
    while True:
        line = await proc.stdout.readline()
        size += len(line)
        if size > MAX_CGI_HEADERS:
            raise ValueError("response headers too large")
        if line in (b"\r\n", b"\n"):
            return parse_cgi_headers(lines)
        if not line:
            raise ValueError("no response (http-backend exited before its headers)")
        lines.append(line)


async def _tail(stream: asyncio.StreamReader | None, keep: int = 2048) -> str:
    """The last `keep` bytes of what a CGI wrote on stderr (read to EOF)."""
    buf = b""
    while stream and (chunk := await stream.read(CHUNK)):
        buf = (buf + chunk)[-keep:]
    return buf.decode(errors="replace").strip()


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def load_credentials(config: dict[str, Any]) -> Credentials:
    return Credentials(username=config["username"],
                       password=Path(config["password_file"]).read_text().strip(),
                       token=Path(config["token_file"]).read_text().strip())


async def serve(config: dict[str, Any], creds: Credentials, *, limits: Limits = Limits()
                ) -> None:
    """Serve until SIGTERM or SIGINT."""
    log = hwlog.get("git-http")
    hwlog.redact(creds.password, creds.token)  # belt and braces: never logged anyway
    server = Server(repos=Path(config["repos"]), creds=creds, limits=limits, log=log)
    handler = web.Server(
        server.handle, access_log=None, max_line_size=limits.max_line_size,
        max_field_size=limits.max_field_size, max_headers=limits.max_headers,
        keepalive_timeout=limits.keepalive_timeout, auto_decompress=False)
    runner = web.ServerRunner(handler, shutdown_timeout=3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(config["port"]),
                       ssl_context=tls_context(Path(config["cert"]), Path(config["key"])))
    await site.start()
    log.info("listening", address=f"https://127.0.0.1:{config['port']}",
             repos=config["repos"], auth="basic (user, password or token), bearer token")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await runner.cleanup()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m headwater.devstack.githttpd CONFIG.json")
    config = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(serve(config, load_credentials(config)))


if __name__ == "__main__":
    main()
