"""The web UI's routes: pages at Concourse's paths, forms that POST, a log range API.

    GET  /login  POST /login  POST /logout
    GET  /                                            dashboard
    GET  /teams/{t}/pipelines/{p}[?group=G]           graph; POST .../pause|unpause
    GET  /teams/{t}/pipelines/{p}/jobs/{j}            builds; POST .../trigger
    GET  /teams/{t}/pipelines/{p}/jobs/{j}/builds/{n} the build page (also /builds/{id})
    POST /builds/{id}/abort | rerun
    GET  /teams/{t}/pipelines/{p}/resources/{r}       versions; POST .../check | unpin
    POST /teams/{t}/pipelines/{p}/resources/{r}/versions/{v}/pin
    GET  /ui/builds/{id}/lines?start=&count=          log lines (JSON, `loglines.py`)
    GET  /ui/builds/{id}/events?after=SEQ             the build's events (SSE), as the API
    GET  /ui/static/...                               CSS and JS

Every page needs a session (`sessions.py`; dev mode makes one at once); every POST
checks the session's CSRF token and the request's origin (`devguard.cross_site`), and
answers 403 with nothing done otherwise: the guards and the templates are `pages.py`'s,
shared with the CD pages. Routes read through `views.py` and act through `CI`; the
JSON API under /api/v1 is not touched.
"""

from __future__ import annotations

import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from headwater import log as hwlog
from headwater.cd.controller import Controller
from headwater.ci.service import CI
from headwater.store import Build
from headwater.store.tokens import sha256_hex
from headwater.web.routes.builds import event_stream
from headwater.web.ui import views
from headwater.web.ui.cdroutes import mount_cd
from headwater.web.ui.loglines import LogLines
from headwater.web.ui.pages import Pages, back, forbidden
from headwater.web.ui.sessions import COOKIE, LOGIN_COOKIE, Session

_log = hwlog.get("ui")


def build_duration(b: Build) -> float | None:
    if b.start_time is None:
        return None
    end = b.end_time.timestamp() if b.end_time else time.time()
    return end - b.start_time.timestamp()


def mount_ui(app: FastAPI, ci: CI, *, cd: Controller | None = None,  # noqa: PLR0915
             dev: bool) -> None:
    """Add the UI's routes to the server's app (the CD pages: `cdroutes.py`; `cd`
    None: no CD controller). `dev`: loopback dev mode, no login."""
    pages = Pages(app, dev=dev, external_url=ci.settings.external_url,
                  token_live=ci.check_token_sha256)
    pages.env.globals["build_duration"] = build_duration
    page, get, post, sessions = pages.page, pages.get, pages.post, pages.sessions
    logs = LogLines(ci)
    static = Path(str(resources.files("headwater.web.ui").joinpath("static")))
    app.mount("/ui/static", StaticFiles(directory=static), name="ui-static")
    mount_cd(pages, ci, cd)

    # -- login -----------------------------------------------------------------------

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request, next: str = "/") -> Response:
        if dev:
            return back(_safe_next(next))
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
        response = page("login.html", request, None, next=_safe_next(next), login_csrf=token)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=pages.secure(request), path="/login", max_age=3600)
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        refusal = pages.cross_site(request, "POST")
        form = await request.form()
        csrf, token, next_ = (form.get("csrf"), form.get("token"), form.get("next"))
        cookie = request.cookies.get(LOGIN_COOKIE)
        if refusal is not None or not isinstance(csrf, str) or not cookie \
                or not Session(token_sha256="", csrf=cookie).csrf_ok(csrf):
            _log.warning("login refused: cross-site or no csrf")
            return forbidden("refused: log in from the server's own login page")
        target = _safe_next(next_ if isinstance(next_, str) else "/")
        if not isinstance(token, str) or not token.strip() \
                or not await ci.check_token(token.strip()):
            _log.info("login failed")
            return page("login.html", request, None, status=401, next=target,
                        login_csrf=cookie, error="That token is not valid.")
        sid, _ = sessions.create(sha256_hex(token.strip()))
        response = back(target)
        pages.set_cookie(response, request, sid)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        _log.info("logged in")
        return response

    @post("/logout")
    async def logout(request: Request, session: Session) -> Response:
        sessions.drop(request.cookies.get(COOKIE))
        response = back("/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- pages -----------------------------------------------------------------------

    @get("/")
    async def dashboard(request: Request, session: Session) -> Response:
        return page("dashboard.html", request, session, rows=await views.dashboard(ci))

    base = "/teams/{team}/pipelines/{pipeline}"

    @get(base)
    async def pipeline_view(request: Request, session: Session) -> Response:
        p = request.path_params
        data = await views.pipeline_page(ci, p["team"], p["pipeline"],
                                         request.query_params.get("group"))
        return page("pipeline.html", request, session, view=data)

    @post(base + "/pause")
    async def pause(request: Request, session: Session) -> Response:
        p = request.path_params
        await ci.pause(p["team"], p["pipeline"], True)
        return back(_pipeline_url(p))

    @post(base + "/unpause")
    async def unpause(request: Request, session: Session) -> Response:
        p = request.path_params
        await ci.pause(p["team"], p["pipeline"], False)
        return back(_pipeline_url(p))

    @get(base + "/jobs/{job}")
    async def job_view(request: Request, session: Session) -> Response:
        p = request.path_params
        data = await views.job_page(ci, p["team"], p["pipeline"], p["job"])
        return page("job.html", request, session, view=data)

    @post(base + "/jobs/{job}/trigger")
    async def trigger(request: Request, session: Session) -> Response:
        p = request.path_params
        build = await ci.trigger(p["team"], p["pipeline"], p["job"])
        return back(_build_url(build))

    async def show_build(request: Request, session: Session, build: Build) -> Response:
        data = await views.build_page(ci, build)
        return page("build.html", request, session, view=data)

    @get(base + "/jobs/{job}/builds/{name}")
    async def job_build_view(request: Request, session: Session) -> Response:
        p = request.path_params
        build = await views.job_build(ci, p["team"], p["pipeline"], p["job"], p["name"])
        return await show_build(request, session, build)

    @get("/builds/{build_id:int}")
    async def build_view(request: Request, session: Session) -> Response:
        return await show_build(request, session,
                                await ci.build(request.path_params["build_id"]))

    @post("/builds/{build_id:int}/abort")
    async def abort(request: Request, session: Session) -> Response:
        build = await ci.build(request.path_params["build_id"])
        await ci.abort(build.id)
        return back(_build_url(build))

    @post("/builds/{build_id:int}/rerun")
    async def rerun(request: Request, session: Session) -> Response:
        build = await ci.build(request.path_params["build_id"])
        if build.pipeline_name is None or build.job_name is None:
            return page("error.html", request, session, status=400,
                        message="a one-off build cannot be rerun: run `execute` again")
        new = await ci.rerun(build.team, build.pipeline_name, build.job_name, build.name)
        return back(_build_url(new))

    @get(base + "/resources/{resource}")
    async def resource_view(request: Request, session: Session) -> Response:
        p = request.path_params
        data = await views.resource_page(ci, p["team"], p["pipeline"], p["resource"])
        return page("resource.html", request, session, view=data)

    @post(base + "/resources/{resource}/check")
    async def check(request: Request, session: Session) -> Response:
        p = request.path_params
        await ci.check(p["team"], p["pipeline"], p["resource"])
        return back(_resource_url(p))

    @post(base + "/resources/{resource}/versions/{version_id:int}/pin")
    async def pin(request: Request, session: Session) -> Response:
        p = request.path_params
        await ci.pin(p["team"], p["pipeline"], p["resource"], p["version_id"], None)
        return back(_resource_url(p))

    @post(base + "/resources/{resource}/unpin")
    async def unpin(request: Request, session: Session) -> Response:
        p = request.path_params
        await ci.unpin(p["team"], p["pipeline"], p["resource"])
        return back(_resource_url(p))

    # -- what the build page's script reads ------------------------------------------

    @get("/ui/builds/{build_id:int}/lines", api=True)
    async def lines(request: Request, session: Session) -> Response:
        build = await ci.build(request.path_params["build_id"])
        q = request.query_params
        start = int(q["start"]) if q.get("start", "").isdigit() else None
        count = int(q["count"]) if q.get("count", "").isdigit() else 200
        result = await logs.lines(build.id, start, count, finished=build.status.finished)
        return JSONResponse({
            "lines": [[ln.n, ln.step, ln.text, ln.open] for ln in result.lines],
            "total": result.total, "complete": result.complete,
            "last_seq": result.last_seq, "steps": result.steps,
            "status": str(build.status)}, headers={"Cache-Control": "no-store"})

    @get("/ui/builds/{build_id:int}/events", api=True)
    async def events(request: Request, session: Session) -> Response:
        build = await ci.build(request.path_params["build_id"])
        after_text = request.query_params.get("after", "0")
        after = int(request.headers.get("last-event-id") or
                    (after_text if after_text.isdigit() else 0))
        return event_stream(ci, build.id, after)


def _safe_next(target: str) -> str:
    """Only a path of this server: never `//other.example` or `https://...`."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _pipeline_url(p: dict[str, Any]) -> str:
    return f"/teams/{quote(p['team'], safe='')}/pipelines/{quote(p['pipeline'], safe='')}"


def _resource_url(p: dict[str, Any]) -> str:
    return _pipeline_url(p) + f"/resources/{quote(p['resource'], safe='')}"


def _build_url(b: Build) -> str:
    if b.pipeline_name is None or b.job_name is None:
        return f"/builds/{b.id}"
    return (f"/teams/{quote(b.team, safe='')}/pipelines/{quote(b.pipeline_name, safe='')}"
            f"/jobs/{quote(b.job_name, safe='')}/builds/{quote(b.name, safe='')}")
