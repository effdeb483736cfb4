"""What every UI route module shares: the templates, the sessions and the guards.

`Pages` is made once by `mount_ui` and handed to each route module (`routes.py` for
the CI pages and the login, `cdroutes.py` for the CD pages), so there is one copy of
the rules: `@pages.get(path)` needs a session (a page redirects to the login, a
`api=True` read answers 401), `@pages.post(path)` also checks the request's origin
(`devguard.cross_site`) and the session's CSRF token and answers 403 with nothing
done otherwise. A handler's `UserError` becomes the error page with the API's status
(`web.errors.status_of`: 404 for what is not there, 409 for a conflict, else 400), and
a Git or registry failure of a CD action a 502 page (their messages are redacted where
raised). `page()` renders a template with
the security headers every page sends.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from headwater import log as hwlog
from headwater.errors import HeadwaterError, UserError
from headwater.gitrepo import GitError
from headwater.registry import RegistryError
from headwater.web.devguard import Refusal, cross_site
from headwater.web.errors import status_of
from headwater.web.timeline import GIT_TIMES
from headwater.web.ui import views
from headwater.web.ui.colors import CD_STATE, STATUS, status_key
from headwater.web.ui.graph import NODE_HEIGHT, NODE_WIDTH
from headwater.web.ui.sessions import COOKIE, DEV, Session, Sessions

_log = hwlog.get("ui")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")

Handler = Callable[..., Awaitable[Response]]
PageHandler = Callable[[Request, Session], Awaitable[Response]]
TokenLive = Callable[[str], Awaitable[bool]]  # is the token of this sha256 still valid?


class Forbidden(HeadwaterError):
    """A form without its CSRF token or from another origin (403)."""


def make_env() -> Environment:
    env = Environment(loader=PackageLoader("headwater.web.ui", "templates"),
                      autoescape=select_autoescape(default=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["instant"] = instant
    env.filters["version"] = views.version_text
    env.filters["q"] = lambda s: quote(str(s), safe="")
    env.globals.update(status_key=status_key, STATUS=STATUS, NODE_WIDTH=NODE_WIDTH,
                       NODE_HEIGHT=NODE_HEIGHT, CD_STATE=CD_STATE, GIT_TIMES=GIT_TIMES)
    return env


def when(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value)) + " UTC"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def instant(value: datetime, ms: bool = True) -> str:
    """A moment to the millisecond (`ms`), or to the second (Git's commit times)."""
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return (text[:-3] if ms else text[:-7]) + " UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{seconds:.1f}s")


@dataclass
class Pages:
    """The UI's templates, sessions and guarded route decorators on one app."""

    app: FastAPI
    dev: bool
    external_url: str
    token_live: TokenLive
    env: Environment = field(default_factory=make_env)
    sessions: Sessions = field(default_factory=Sessions)

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.external_url.startswith("https:")

    def page(self, template: str, request: Request, session: Session | None,
             status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request, csrf=session.csrf if session else "", dev=self.dev,
            logged_in=session is not None and not self.dev, **context)
        return HTMLResponse(html, status_code=status, headers=headers())

    async def session_of(self, request: Request) -> tuple[Session | None, str | None]:
        """The request's live session (and a new cookie value when dev mode made one)."""
        sid = request.cookies.get(COOKIE)
        session = self.sessions.get(sid)
        if session is not None and session.token_sha256 != DEV \
                and not await self.token_live(session.token_sha256):
            self.sessions.drop(sid)  # its token was revoked
            session = None
        if session is None and self.dev:
            sid, session = self.sessions.create(DEV)
            return session, sid
        return session, None

    def set_cookie(self, response: Response, request: Request, sid: str) -> None:
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict",
                            secure=self.secure(request), path="/")

    def cross_site(self, request: Request, method: str) -> Refusal | None:
        """Why a request of `method` comes from another site, or None."""
        return cross_site(method, headers_of(request), bound=_bound(request),
                          also=(self.external_url,))

    def guarded(self, handler: PageHandler, *, api: bool = False,
                post: bool = False) -> Handler:
        async def route(request: Request) -> Response:
            session, new_sid = await self.session_of(request)
            if session is None:
                if api:
                    return JSONResponse({"detail": "log in first"}, status_code=401)
                if post:
                    return forbidden("no session: log in again")
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            if post:
                refusal = self.cross_site(request, request.method)
                if refusal is not None:
                    _log.warning("ui post refused: another origin", path=request.url.path,
                                 origin=request.headers.get("origin"))
                    return forbidden("refused: this form was posted from another site")
                form = await request.form()
                given = form.get("csrf")
                if not session.csrf_ok(given if isinstance(given, str) else None):
                    _log.warning("ui post refused: bad csrf token", path=request.url.path)
                    return forbidden("refused: the form's CSRF token is missing or stale; "
                                     "reload the page and try again")
            try:
                response = await handler(request, session)
            except UserError as e:
                response = self.page("error.html", request, session, status=status_of(e),
                                     message=str(e))
            except (GitError, RegistryError) as e:  # a CD action's push or scan failed
                kind = "git" if isinstance(e, GitError) else "registry"
                response = self.page("error.html", request, session, status=502,
                                     message=f"{kind}: {e}")
            if new_sid is not None:
                self.set_cookie(response, request, new_sid)
            return response
        return route

    def get(self, path: str, *, api: bool = False) -> Callable[[PageHandler], None]:
        def deco(fn: PageHandler) -> None:
            self.app.add_api_route(path, self.guarded(fn, api=api), methods=["GET"],
                                   include_in_schema=False)
        return deco

    def post(self, path: str) -> Callable[[PageHandler], None]:
        def deco(fn: PageHandler) -> None:
            self.app.add_api_route(path, self.guarded(fn, post=True), methods=["POST"],
                                   include_in_schema=False)
        return deco


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def headers() -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
            "Cache-Control": "no-store"}


def forbidden(message: str) -> Response:
    return Response(message + "\n", status_code=403, media_type="text/plain",
                    headers=headers())


def headers_of(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.headers.items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _bound(request: Request) -> tuple[str, int]:
    server = request.scope.get("server") or ("127.0.0.1", 0)
    return str(server[0]), int(server[1] or 0)
