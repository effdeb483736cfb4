"""The web UI's CD pages: the sources and their workloads, the releases, a timeline.

    GET  /cd[?source=S&action=A&commit=SHA]           sources, workloads, releases
    GET  /cd/releases/{source}/{commit}               one release's timeline
    POST /cd/{source}/workloads/{workload}/{action}   automate|deautomate|lock|unlock
    POST /cd/{source}/workloads/{workload}/release    form field `image` (IMAGE:TAG)

The forms are guarded as every UI form (`pages.py`: a session, the CSRF token, the
same origin) and act through the CD controller, which makes the CLI's Git commits
(`Controller.act`, `Controller.release`) and asks a sync. After a form the page is
shown again with the commit pushed (or "nothing to change"); the redirect carries only
the action's name and a commit sha, each checked against a pattern before it is shown.
Without a CD source (`headwater server` without `--cd-config`) the page says how to
add one.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response

from headwater.cd.controller import Controller, UnknownSource
from headwater.ci.service import CI
from headwater.web.ui import cdviews
from headwater.web.ui.pages import Pages, back
from headwater.web.ui.sessions import DEV, Session

DONE = {"automate": "Automated", "deautomate": "Deautomated", "lock": "Locked",
        "unlock": "Unlocked", "release": "Released"}
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def done_message(action: str | None, source: str | None, commit: str | None) -> str:
    """The line shown after a form: only known actions, a source name as sources are
    named, and a hex sha (anything else in the query is ignored, never echoed)."""
    if action not in DONE or not source or not re.fullmatch(r"[a-z0-9-]{1,40}", source):
        return ""
    if commit == "none":
        return f"{DONE[action]}: nothing to change in {source}."
    if commit and _SHA.match(commit):
        return f"{DONE[action]}: commit {commit[:12]} pushed to {source}; a sync is on its way."
    return ""


def mount_cd(pages: Pages, ci: CI, cd: Controller | None) -> None:
    """Add the CD pages to `pages`' app; `cd` None or without sources: the page says how
    to add one and the forms answer 404."""
    def controller() -> Controller:
        if cd is None or not cd.loops:
            raise UnknownSource("this server has no CD source: start it with "
                                "--cd-config FILE (see docs/ui.md)")
        return cd

    def after(action: str, source: str, commit: str | None) -> Response:
        query = urlencode({"action": action, "source": source, "commit": commit or "none"})
        return back(f"/cd?{query}#source-{quote(source, safe='')}")

    async def user(session: Session) -> str | None:
        """The session's token name, as `--user` of the CLI: the commit's author (with
        the source's git-email) and a lock's user. Dev mode: the source's git-user."""
        return None if session.token_sha256 == DEV else await ci.token_name(
            session.token_sha256)

    @pages.get("/cd")
    async def cd_view(request: Request, session: Session) -> Response:
        q = request.query_params
        return pages.page("cd.html", request, session, view=await cdviews.cd_page(cd),
                          done=done_message(q.get("action"), q.get("source"),
                                            q.get("commit")))

    @pages.get("/cd/releases/{source}/{commit}")
    async def timeline_view(request: Request, session: Session) -> Response:
        p = request.path_params
        view = await cdviews.timeline_page(controller(), ci, p["source"], p["commit"])
        return pages.page("timeline.html", request, session, view=view)

    @pages.post("/cd/{source}/workloads/{workload:path}/release")
    async def release(request: Request, session: Session) -> Response:
        p = request.path_params
        image = (await request.form()).get("image")
        commit = await controller().release(
            p["source"], p["workload"], image=image if isinstance(image, str) and image
            else None, update_all=not image, user=await user(session))
        return after("release", p["source"], commit)

    @pages.post("/cd/{source}/workloads/{workload:path}/{action}")
    async def act(request: Request, session: Session) -> Response:
        p = request.path_params
        commit = await controller().act(p["source"], p["workload"], p["action"],
                                        user=await user(session))
        return after(p["action"], p["source"], commit)
