"""The webhook routes: a push checks, syncs and releases now instead of at the next poll.

    POST /api/v1/hooks/git        GitHub, GitLab, Gitea push events, or a generic
                                  {"url", "urls", "branch" | "ref", "after"} (signed)
    POST /api/v1/hooks/registry   CNCF distribution notifications (bearer secret)

The body is read once, at most `MAX_BODY` bytes (413 beyond), and the signature is
checked over those raw bytes before anything is parsed (`hookpayload.verify`); a
request that proves no configured secret is a 401 that triggers nothing and is logged
with the forge and the peer, never the secret or the signature it sent. A verified
push answers 202 with the names of what it set going: the CI checks
(`ci.triggers.Triggers`) and CD syncs or image automation (`cd.triggers`), which run in
the background. The routes work with CI, CD or both (`ci`/`cd` may be None), so the
CI server and the CD controller can each mount them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from headwater import log as hwlog
from headwater.cd import triggers as cd_triggers
from headwater.cd.controller import Controller
from headwater.ci.triggers import Triggers
from headwater.errors import HeadwaterError
from headwater.gitrepo import redact_url
from headwater.web import hookpayload
from headwater.web.hookpayload import PayloadError

MAX_BODY = 1024 * 1024  # GitHub caps its payloads at 25 MB; a push of 20 commits is ~30 KB
MAX_IMAGES = 64  # repositories one notification may set going

_log = hwlog.get("hooks")


class _TooLarge(HeadwaterError):
    pass


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"


def _refused(what: str, request: Request, reason: str) -> JSONResponse:
    _log.warning("webhook refused", hook=what, peer=_peer(request), reason=reason)
    return JSONResponse({"detail": f"{reason}: nothing was triggered"}, status_code=401)


def hooks_router(*, secrets: Mapping[str, str], ci: Triggers | None = None,
                 cd: Controller | None = None, max_body: int = MAX_BODY) -> APIRouter:
    router = APIRouter(tags=["hooks"])
    too_large = JSONResponse({"detail": f"the body is over {max_body} bytes"},
                             status_code=413)

    @router.post("/api/v1/hooks/git", status_code=202)
    async def git_hook(request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        kind = hookpayload.forge(headers)
        try:
            body = await _body(request, max_body)
        except _TooLarge:
            return too_large
        if not secrets:
            return _refused(kind, request, "no webhook secret is configured on the server "
                            "(--webhook-secrets)")
        hook = hookpayload.verify(kind, headers, body, secrets)
        if hook is None:
            return _refused(kind, request, "the signature or token matches no webhook secret")
        try:
            push = hookpayload.parse_push(kind, headers, body)
        except PayloadError as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        if push is None:
            event = hookpayload.event(kind, headers)
            return JSONResponse({"forge": kind, "ignored": event}, status_code=200)
        checked: list[str] = []
        synced: list[str] = []
        if not push.deleted:
            if ci is not None:
                checked = await ci.git_push(push.urls, branch=push.branch, tag=push.tag)
            if cd is not None:
                synced = cd_triggers.sync_matching(cd, push.urls, push.branch, push.after)
        _log.info("webhook push", hook=hook, forge=kind, ref=push.ref,
                  revision=push.after[:12], repository=redact_url(push.urls[0]),
                  checked=",".join(checked) or "none", synced=",".join(synced) or "none")
        return JSONResponse({"forge": kind, "ref": push.ref, "checked": checked,
                             "synced": synced}, status_code=202)

    @router.post("/api/v1/hooks/registry", status_code=202)
    async def registry_hook(request: Request) -> JSONResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = await _body(request, max_body)
        except _TooLarge:
            return too_large
        hook = hookpayload.bearer_matches(headers, secrets) if secrets else None
        if hook is None:
            return _refused("registry", request, "no valid bearer secret (Authorization: "
                            "Bearer <webhook secret>)")
        try:
            pushes = hookpayload.parse_registry(body)[:MAX_IMAGES]
        except PayloadError as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        checked: list[str] = []
        released: list[str] = []
        for image in dict.fromkeys(p.image for p in pushes):
            if ci is not None:
                checked += await ci.image_push(image)
            if cd is not None:
                released += cd_triggers.release_matching(cd, image)
        result: dict[str, Any] = {"images": list(dict.fromkeys(p.image for p in pushes)),
                                  "checked": sorted(set(checked)),
                                  "released": sorted(set(released))}
        _log.info("webhook registry push", hook=hook, images=",".join(result["images"]),
                  checked=",".join(result["checked"]) or "none",
                  released=",".join(result["released"]) or "none")
        return JSONResponse(result, status_code=202)

    return router
