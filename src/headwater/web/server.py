"""`headwater server`: the store, the CI loops and the REST API in one process.

One asyncio loop runs uvicorn, the checker and the scheduler (DESIGN.md §2). On the
first start of a data dir an admin token is created and printed once; only its hash
is stored. In loopback dev mode (`--dev`, listening on 127.0.0.1) no token is
needed, as the CD API does. SIGINT/SIGTERM stop uvicorn, then the loops; builds
still running are left as they are and marked errored at the next start.

Tasks run in cgroups under a parent of this server's (its key is the data dir),
with `task_limits` as the defaults of `container_limits`; without cgroups the server
warns once and runs tasks without limits (ci/resources/cgroups.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from headwater import log as hwlog
from headwater.ci.build.local import LocalExecutor
from headwater.ci.checker import DEFAULT_CHECK_TIMEOUT
from headwater.ci.resources.cgroups import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PIDS_LIMIT,
    Cgroups,
    Limits,
)
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
    task_limits: Limits = field(default_factory=lambda: Limits(
        memory=DEFAULT_MEMORY_LIMIT, pids=DEFAULT_PIDS_LIMIT))
    get_timeout: float | None = 3600.0
    put_timeout: float | None = 3600.0
    check_timeout: float = DEFAULT_CHECK_TIMEOUT

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
    cgroups = Cgroups.setup(str(settings.data_dir.resolve()))
    types = ResourceTypes.default(types_dir=settings.resource_types_dir
                                  or settings.data_dir / "resource-types",
                                  images_dir=settings.data_dir / "resource-images",
                                  cgroups=cgroups, limits=settings.task_limits)
    executor = LocalExecutor(cgroups=cgroups, limits=settings.task_limits)
    ci = CI(store, types=types, executor=executor,
            settings=CISettings(data_dir=settings.data_dir, external_url=settings.url,
                                scheduler_tick=settings.scheduler_tick,
                                checker_tick=settings.checker_tick,
                                get_timeout=settings.get_timeout,
                                put_timeout=settings.put_timeout,
                                check_timeout=settings.check_timeout))
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
            if cgroups is not None:
                await asyncio.to_thread(cgroups.close)

    app.router.lifespan_context = lifespan
    return app, ci


async def serve(settings: ServerSettings) -> None:
    app, _ = await build_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            lifespan="on", access_log=False)
    await uvicorn.Server(config).serve()
