"""The CD controller's small HTTP API: ask for a sync, read status, scrape metrics.

    POST /api/v1/sync[?source=S][&wait=true][&scan=true]   200 with results or 202
    GET  /api/v1/status                        the last result of each source
    GET  /metrics                              Prometheus text format
    GET  /healthz

A bearer token is required, except in loopback dev mode (listening on 127.0.0.1 with
no token configured), which answers only to loopback `Host` names and refuses a sync
asked by a page of another origin (web/devguard.py). Routes stay thin: they call the
controller and map its errors.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from headwater.cd.controller import Controller
from headwater.web.devguard import aiohttp_guard

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROLLER: web.AppKey[Controller] = web.AppKey("controller", Controller)
# Syncs asked for without waiting: referenced here until done, so none is collected.
BACKGROUND: web.AppKey[set[asyncio.Task[object]]] = web.AppKey("background", set)


def make_app(controller: Controller, *, token: str | None) -> web.Application:
    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path != "/healthz":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return web.json_response({"error": "a valid bearer token is required"},
                                         status=401)
        return await handler(request)

    # No token: loopback dev mode, guarded against web pages (DNS rebinding, CSRF).
    app = web.Application(middlewares=[auth] if token else [aiohttp_guard])
    app[CONTROLLER] = controller
    app[BACKGROUND] = set()
    app.router.add_post("/api/v1/sync", _sync)
    app.router.add_get("/api/v1/status", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    return app


async def _sync(request: web.Request) -> web.Response:
    controller = request.app[CONTROLLER]
    source = request.query.get("source") or None
    if source is not None and source not in controller.loops:
        return web.json_response(
            {"error": f"no source {source!r}; sources: {', '.join(controller.loops)}"},
            status=404)
    scan = request.query.get("scan", "").lower() in ("1", "true", "yes")
    if request.query.get("wait", "").lower() not in ("1", "true", "yes"):
        task: asyncio.Task[object] = asyncio.create_task(controller.sync(source, scan=scan))
        request.app[BACKGROUND].add(task)
        task.add_done_callback(request.app[BACKGROUND].discard)
        return web.json_response({"accepted": True}, status=202)
    results = await controller.sync(source, scan=scan)
    return web.json_response({"results": [r.to_json() for r in results]})


async def _status(request: web.Request) -> web.Response:
    return web.json_response({"sources": request.app[CONTROLLER].status()})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CONTROLLER].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")
