"""A loopback proxy in front of the stack's real API server, for faults at chosen requests.

Every request is forwarded to the real API server as is, except the DELETEs of objects
in one namespace: `hold` keeps them unanswered (the controller is then killed in the
middle of its prune, before anything was deleted) and `fail` answers them 500 as an
API server that lost etcd would. The proxy has its own kubeconfig (plain http on
127.0.0.1, the stack's token), for `headwater cd --kubeconfig` or `Kube.connect`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiohttp
import yaml
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class ApiProxy:
    kubeconfig: Path
    deletes: list[str] = field(default_factory=list)  # paths of the DELETEs intercepted
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # a DELETE is held


@asynccontextmanager
async def api_proxy(kubeconfig: Path, workdir: Path, *, namespace: str,
                    on_delete: Literal["hold", "fail"]) -> AsyncIterator[ApiProxy]:
    upstream, ca, token = _cluster(kubeconfig)
    tls = ssl.create_default_context(cafile=ca)
    release = asyncio.Event()
    proxy = ApiProxy(workdir / "kubeconfig")

    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.StreamResponse:
            if request.method == "DELETE" and request.path.startswith(
                    f"/api/v1/namespaces/{namespace}/"):
                proxy.deletes.append(request.path)
                if on_delete == "fail":
                    return web.json_response({
                        "kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "injected fault: etcdserver: request timed out",
                        "reason": "InternalError", "code": 500}, status=500)
                proxy.holding.set()
                await release.wait()  # never answered while the test runs
                return web.Response(status=503)
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in _HOP_BY_HOP}
            body = await request.read()
            async with session.request(request.method, upstream + request.path_qs,
                                       headers=headers, data=body or None, ssl=tls) as r:
                answer = await r.read()
                return web.Response(status=r.status, body=answer, headers={
                    "Content-Type": r.headers.get("Content-Type", "application/json")})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        _write_kubeconfig(proxy.kubeconfig, f"http://127.0.0.1:{port}", token)
        try:
            yield proxy
        finally:
            release.set()
            await runner.cleanup()


def _cluster(kubeconfig: Path) -> tuple[str, str, str]:
    """The API server's URL, its CA file and the token of a kubeconfig."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    return (cluster["server"].rstrip("/"), cluster["certificate-authority"],
            config["users"][0]["user"]["token"])


def _write_kubeconfig(path: Path, server: str, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "proxy", "cluster": {"server": server}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "admin"}}],
        "current-context": "proxy"}))
