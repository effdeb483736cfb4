"""`headwater server`: the store, the CI loops, the CD controller and the API in one process.

One asyncio loop runs uvicorn, the checker, the scheduler and, given sources
(`--cd-config`), the CD controller's loops (DESIGN.md §2). One app (`web/app.py`)
serves both halves with one token check, and one Prometheus registry collects both
halves' metrics (one per app: several servers may share a process). On the
first start of a data dir an admin token is created and printed once; only its hash
is stored. In loopback dev mode (`--dev`, listening on 127.0.0.1) no token is
needed (`web/devguard.py` keeps web pages out). The data dir is made 0700 (the
database 0600, see `store/db.py`); `--encryption-key` encrypts the columns that hold vars' values
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
from prometheus_client import CollectorRegistry

from headwater import log as hwlog
from headwater import yamlload
from headwater.cd.automation import PolicyFileError
from headwater.cd.controller import Controller
from headwater.cd.metrics import SyncMetrics
from headwater.cd.runtime import ClusterSettings, Scanning, load_policies, open_controller
from headwater.cd.source import Source
from headwater.ci.build.local import LocalExecutor
from headwater.ci.buildlog import MAX_BUILD_LOG_SIZE, BuildLogSettings
from headwater.ci.checker import DEFAULT_CHECK_TIMEOUT
from headwater.ci.events import LIVE_LIMIT
from headwater.ci.metrics import CIMetrics
from headwater.ci.resources.cgroups import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PIDS_LIMIT,
    Cgroups,
    Limits,
)
from headwater.ci.resources.netns import Allowed, NetworkPolicy
from headwater.ci.resources.reach import Reach
from headwater.ci.resources.rootfs import ImageLimits
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.service import CI, CISettings
from headwater.ci.triggers import Triggers
from headwater.devstack import hooks
from headwater.errors import HeadwaterError
from headwater.registry import FLUX_DEFAULT_EXCLUDE, RegistryClient, load_docker_config
from headwater.store import DecryptError, EncryptionKeyError, Keyring, Store
from headwater.store.db import secure_dir
from headwater.web.app import make_app
from headwater.web.deps import Services
from headwater.web.devguard import is_loopback
from headwater.web.hooks import hooks_router
from headwater.web.hooksecrets import SecretsError, load_secrets
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
    resource_local_paths: bool = False  # built-in types may read file:// and paths
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
    # The CD controller (`--cd-config`): its sources, the cluster, registry credentials.
    cd_sources: tuple[Source, ...] = ()
    cd_cluster: ClusterSettings = field(default_factory=ClusterSettings)
    cd_docker_config: Path | None = None
    webhook_secrets: Path | None = None  # name=secret lines (web/hooksecrets.py)
    stack_dir: Path | None = None  # the local stack: its hook secret, its hooks' target

    @property
    def url(self) -> str:
        return self.external_url or f"http://{self.host}:{self.port}"


class ServerError(HeadwaterError):
    pass


async def build_app(settings: ServerSettings, *, out: TextIO = sys.stdout) -> tuple[
        FastAPI, CI]:
    """The app, its CI service (for tests), and its CD controller in
    `app.state.services.cd`; the app's lifespan starts and stops them."""
    if settings.dev and not is_loopback(settings.host):
        raise ServerError(f"--dev (no token) is only allowed on loopback, not {settings.host}")
    hook_secrets = await asyncio.to_thread(_hook_secrets, settings)  # files: off the loop
    store = await _open_store(settings, out)
    cgroups = Cgroups.setup(str(settings.data_dir.resolve()))
    types, executor = _engine(settings, cgroups)
    registry = CollectorRegistry()  # one per app: CI and CD, on /metrics
    ci = CI(store, types=types, executor=executor, metrics=CIMetrics(registry),
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
    resources = contextlib.AsyncExitStack()
    try:
        controller = await _open_cd(settings, SyncMetrics(registry), resources)
    except BaseException:
        await resources.aclose()
        await store.close()
        if cgroups is not None:
            await asyncio.to_thread(cgroups.close)
        raise
    hook_routes = hooks_router(secrets=hook_secrets, ci=Triggers(ci), cd=controller)
    app = make_app(Services(ci=ci, cd=controller, registry=registry,
                            check_token=None if settings.dev else store.check_token),
                   more=(hook_routes,))
    mount_ui(app, ci, cd=controller, dev=settings.dev)  # the web UI (web/ui/), after the API

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ci.start()
        cd = asyncio.create_task(_run_cd(controller), name="cd")
        if settings.stack_dir:  # the stack's post-receive hooks call us from now on
            await asyncio.to_thread(hooks.write_target, settings.stack_dir, settings.url)
        _log.info("server started", url=settings.url, data_dir=str(settings.data_dir),
                  database="postgresql" if settings.database_url else "sqlite",
                  task_allow=" ".join(map(str, settings.task_allow)) or "none",
                  cd_sources=" ".join(controller.loops) or "none")
        try:
            yield
        finally:
            cd.cancel()
            await asyncio.gather(cd, return_exceptions=True)
            await resources.aclose()
            if settings.stack_dir:
                await asyncio.to_thread(hooks.clear_target, settings.stack_dir, settings.url)
            await ci.stop()
            await store.close()
            if cgroups is not None:
                await asyncio.to_thread(cgroups.close)

    app.router.lifespan_context = lifespan
    return app, ci


async def _open_store(settings: ServerSettings, out: TextIO) -> Store:
    """The database, decrypted with the server's keys; the first admin token is printed
    to `out` when there is none (not in --dev)."""
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
    return store


def _engine(settings: ServerSettings,
            cgroups: Cgroups | None) -> tuple[ResourceTypes, LocalExecutor]:
    """The resource types and the task executor, held to the server's limits and reach."""
    network = NetworkPolicy(allow=settings.task_allow)
    types = ResourceTypes.default(types_dir=settings.resource_types_dir
                                  or settings.data_dir / "resource-types",
                                  images_dir=settings.data_dir / "resource-images",
                                  image_limits=settings.image_limits,
                                  network=network, cgroups=cgroups,
                                  limits=settings.task_limits,
                                  cache_dir=settings.data_dir / "resource-caches",
                                  reach=Reach(allow=settings.task_allow,
                                              local_paths=settings.resource_local_paths))
    executor = LocalExecutor(network=network, hidden=(settings.data_dir, *settings.hidden),
                             cgroups=cgroups, limits=settings.task_limits,
                             images=types.images, rootfs_dirs=settings.task_rootfs_dirs)
    return types, executor


async def _open_cd(settings: ServerSettings, metrics: SyncMetrics,
                   resources: contextlib.AsyncExitStack) -> Controller:
    """The CD controller of `--cd-config`'s sources (none: no cluster connection),
    closed with `resources`."""
    sources = list(settings.cd_sources)
    try:
        policies = load_policies(sources)
        credentials = (load_docker_config(settings.cd_docker_config)
                       if settings.cd_docker_config else None)
    except (PolicyFileError, ValueError, OSError) as e:
        raise ServerError(str(e)) from None
    scanning = Scanning(RegistryClient(credentials=credentials), (), FLUX_DEFAULT_EXCLUDE)
    try:
        return await resources.enter_async_context(open_controller(
            sources, cluster=settings.cd_cluster, scanning=scanning,
            workdir=settings.data_dir / "cd", metrics=metrics, policies=policies,
            yaml_limits=settings.yaml_limits))
    except Exception as e:  # connecting to the cluster is all that may fail here
        raise ServerError(f"the CD controller cannot start: the cluster's config "
                          f"(--kubeconfig, KUBECONFIG, --context): {e}") from None


async def _run_cd(controller: Controller) -> None:
    try:
        await controller.run()
    except Exception:  # the CI half keeps serving; the log says why CD stopped
        _log.exception("the CD controller stopped")
        raise


def _hook_secrets(settings: ServerSettings) -> dict[str, str]:
    """The webhook secrets: the file's, and the local stack's as `stack`."""
    try:
        secrets = load_secrets(settings.webhook_secrets) if settings.webhook_secrets else {}
    except SecretsError as e:
        raise ServerError(str(e)) from None
    if settings.stack_dir:
        secrets.setdefault("stack", hooks.ensure_secret(settings.stack_dir))
    hwlog.redact(*secrets.values())  # whatever logs one by mistake prints ***
    return secrets


async def serve(settings: ServerSettings) -> None:
    app, _ = await build_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            lifespan="on", access_log=False)
    await uvicorn.Server(config).serve()
