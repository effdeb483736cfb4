"""`headwater server`: the store, the CI loops and the REST API in one process.

One asyncio loop runs uvicorn, the checker and the scheduler (DESIGN.md §2). On the
first start of a data dir an admin token is created and printed once; only its hash
is stored. In loopback dev mode (`--dev`, listening on 127.0.0.1) no token is
needed, as the CD API does. SIGINT/SIGTERM stop uvicorn, then the loops; builds
still running are left as they are and marked errored at the next start.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from headwater import log as hwlog
from headwater import yamlload
from headwater.ci.build.local import LocalExecutor
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.service import CI, CISettings
from headwater.store import Store
from headwater.web.cdapi import is_loopback
from headwater.web.ciapi import make_app

_log = hwlog.get("server")


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    external_url: str | None = None
    dev: bool = False
    resource_types_dir: Path | None = None
    scheduler_tick: float = 10.0
    checker_tick: float = 10.0
    yaml_limits: yamlload.Limits = yamlload.DEFAULT

    @property
    def url(self) -> str:
        return self.external_url or f"http://{self.host}:{self.port}"


class ServerError(Exception):
    pass


async def build_app(settings: ServerSettings, *, out: TextIO = sys.stdout) -> tuple[
        FastAPI, CI]:
    if settings.dev and not is_loopback(settings.host):
        raise ServerError(f"--dev (no token) is only allowed on loopback, not {settings.host}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await Store.open(settings.database_url, data_dir=settings.data_dir)
    if not settings.dev and not await store.has_tokens():
        token = await store.create_token("admin")
        print(f"admin token (shown once, keep it): {token}\n"
              f"log in with: headwater -t local login -c {settings.url} --token {token}",
              file=out, flush=True)
    types = ResourceTypes.default(types_dir=settings.resource_types_dir
                                  or settings.data_dir / "resource-types",
                                  images_dir=settings.data_dir / "resource-images")
    ci = CI(store, types=types, executor=LocalExecutor(),
            settings=CISettings(data_dir=settings.data_dir, external_url=settings.url,
                                scheduler_tick=settings.scheduler_tick,
                                checker_tick=settings.checker_tick,
                                yaml_limits=settings.yaml_limits))
    app = make_app(ci, check_token=None if settings.dev else store.check_token)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ci.start()
        _log.info("server started", url=settings.url, data_dir=str(settings.data_dir),
                  database="postgresql" if settings.database_url else "sqlite")
        try:
            yield
        finally:
            await ci.stop()
            await store.close()

    app.router.lifespan_context = lifespan
    return app, ci


async def serve(settings: ServerSettings) -> None:
    app, _ = await build_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            lifespan="on", access_log=False)
    await uvicorn.Server(config).serve()
