"""`headwater server`: the store, the CI loops and the REST API in one process.

One asyncio loop runs uvicorn, the checker and the scheduler (DESIGN.md §2). On the
first start of a data dir an admin token is created and printed once; only its hash
is stored. In loopback dev mode (`--dev`, listening on 127.0.0.1) no token is
needed, as the CD API does. The data dir is made 0700 (the database 0600, see
`store/db.py`); `--encryption-key` encrypts the columns that hold vars' values
(`store/encryption.py`), and a start without one warns. SIGINT/SIGTERM stop
uvicorn, then the loops; builds still running are left as they are and marked
errored at the next start.

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
from headwater import yamlload
from headwater.ci.build.local import LocalExecutor
from headwater.ci.buildlog import MAX_BUILD_LOG_SIZE, BuildLogSettings
from headwater.ci.checker import DEFAULT_CHECK_TIMEOUT
from headwater.ci.events import LIVE_LIMIT
from headwater.ci.resources.cgroups import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PIDS_LIMIT,
    Cgroups,
    Limits,
)
from headwater.ci.resources.netns import Allowed, NetworkPolicy
from headwater.ci.resources.rootfs import ImageLimits
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.service import CI, CISettings
from headwater.errors import HeadwaterError
from headwater.store import DecryptError, EncryptionKeyError, Keyring, Store
from headwater.store.db import secure_dir
from headwater.web.ciapi import make_app
from headwater.web.devguard import is_loopback
from headwater.web.ui import mount_ui

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
    # --encryption-key (AES-256-GCM of secret columns) and --old-encryption-key
    # (re-encrypt from it); kept out of repr so a logged settings object shows neither.
    encryption_key: str | None = field(default=None, repr=False)
    old_encryption_key: str | None = field(default=None, repr=False)
    max_build_log_size: int = MAX_BUILD_LOG_SIZE
    live_events_limit: int = LIVE_LIMIT  # live events a slow /events viewer may lag
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    # The host loopback services tasks and resource scripts with network may reach.
    task_allow: tuple[Allowed, ...] = ()
    # More of the server's own paths to hide from tasks (its data dir always is).
    hidden: tuple[Path, ...] = ()
    task_limits: Limits = field(default_factory=lambda: Limits(
        memory=DEFAULT_MEMORY_LIMIT, pids=DEFAULT_PIDS_LIMIT))
    # Directories under which a task's `rootfs_uri: raw:///...` may name its root.
    task_rootfs_dirs: tuple[Path, ...] = ()
    get_timeout: float | None = 3600.0
    put_timeout: float | None = 3600.0
    check_timeout: float = DEFAULT_CHECK_TIMEOUT
    yaml_limits: yamlload.Limits = yamlload.DEFAULT

    @property
    def url(self) -> str:
        return self.external_url or f"http://{self.host}:{self.port}"


class ServerError(HeadwaterError):
    pass


async def build_app(settings: ServerSettings, *, out: TextIO = sys.stdout) -> tuple[
        FastAPI, CI]:
    if settings.dev and not is_loopback(settings.host):
        raise ServerError(f"--dev (no token) is only allowed on loopback, not {settings.host}")
    try:
        keyring = Keyring.of(settings.encryption_key, settings.old_encryption_key)
    except EncryptionKeyError as e:
        raise ServerError(str(e)) from None
    secure_dir(settings.data_dir)
    try:
        store = await Store.open(settings.database_url, data_dir=settings.data_dir,
                                 keyring=keyring)
    except DecryptError as e:
        raise ServerError(str(e)) from None
    if not store.encrypted:
        _log.warning("no --encryption-key: pipeline configs, resource sources and plans, "
                     "which hold the values of vars, are stored unencrypted")
    if not settings.dev and not await store.has_tokens():
        token = await store.create_token("admin")
        print(f"admin token (shown once, keep it): {token}\n"
              f"log in with: headwater -t local login -c {settings.url} (it asks for the "
              "token; or pipe it to --token-stdin, or set HEADWATER_TOKEN)",
              file=out, flush=True)
    network = NetworkPolicy(allow=settings.task_allow)
    cgroups = Cgroups.setup(str(settings.data_dir.resolve()))
    types = ResourceTypes.default(types_dir=settings.resource_types_dir
                                  or settings.data_dir / "resource-types",
                                  images_dir=settings.data_dir / "resource-images",
                                  image_limits=settings.image_limits,
                                  network=network, cgroups=cgroups,
                                  limits=settings.task_limits)
    executor = LocalExecutor(network=network, hidden=(settings.data_dir, *settings.hidden),
                             cgroups=cgroups, limits=settings.task_limits,
                             images=types.images, rootfs_dirs=settings.task_rootfs_dirs)
    ci = CI(store, types=types, executor=executor,
            settings=CISettings(data_dir=settings.data_dir, external_url=settings.url,
                                scheduler_tick=settings.scheduler_tick,
                                checker_tick=settings.checker_tick,
                                build_log=BuildLogSettings(
                                    max_bytes=settings.max_build_log_size),
                                live_events_limit=settings.live_events_limit,
                                get_timeout=settings.get_timeout,
                                put_timeout=settings.put_timeout,
                                check_timeout=settings.check_timeout,
                                yaml_limits=settings.yaml_limits))
    app = make_app(ci, check_token=None if settings.dev else store.check_token)
    mount_ui(app, ci, dev=settings.dev)  # the web UI (web/ui/), after the API's routes

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ci.start()
        _log.info("server started", url=settings.url, data_dir=str(settings.data_dir),
                  database="postgresql" if settings.database_url else "sqlite",
                  task_allow=" ".join(map(str, settings.task_allow)) or "none")
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
