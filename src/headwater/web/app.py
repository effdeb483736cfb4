"""The app factory: one FastAPI app for CI and CD, assembled from the routers of
`web/routes/` (one module per resource), with one auth and one error mapping.

`make_app` is the one place where routers are included. To add one (webhooks, the UI):
write `web/<thing>.py` with an `APIRouter` whose routes take `CIService` /
`CDController` / `AppServices` from `web.deps`, list `Depends(require_token)` in its
`dependencies` unless it authenticates otherwise, and add one `app.include_router(...)`
line below. The app holds its `Services` in `app.state.services`.

`headwater server` passes the CI service and a CD controller (no sources without
`--cd-config`); `headwater cd` passes only its controller, and gets the CD, metrics
and health routes. Without a token check (loopback dev mode) `DevGuard` keeps web pages
out (DNS rebinding, CSRF: `web/devguard.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from headwater import __version__, yamlload
from headwater.web.deps import Services
from headwater.web.devguard import DevGuard
from headwater.web.errors import add_handlers
from headwater.web.routes import builds, cd, info, jobs, metrics, pipelines, resources, tokens


def make_app(services: Services, *, more: Sequence[APIRouter] = ()) -> FastAPI:
    """The app of `services`; `more` are routers built with their own settings (the
    signed webhooks, which authenticate by signature, not by token)."""
    app = FastAPI(title="headwater", version=__version__, openapi_url=None, docs_url=None,
                  redoc_url=None)  # served by routes/info.py, behind the token
    app.state.services = services
    if services.dev:  # loopback Host names only, no cross-site writes
        app.add_middleware(DevGuard)
    add_handlers(app)

    app.include_router(info.router)
    app.include_router(metrics.router)
    if services.ci is not None:
        limits = services.ci.settings.yaml_limits
        app.include_router(pipelines.router(max_config_bytes=2 * limits.max_bytes + yamlload.MIB))
        app.include_router(jobs.router)
        app.include_router(builds.router)
        app.include_router(resources.router)
        app.include_router(resources.webhook_router)
        app.include_router(tokens.router)
    app.include_router(cd.router)
    for router in more:
        app.include_router(router)
    return app
