"""The dev mode's guard on the real servers: `headwater server --dev` and the CD API of
`headwater cd` without a token (the same app, CD routes only), attacked over loopback
the way a browser would: a page of a rebound name (forged `Host`), and a page of another
origin changing state (CSRF)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from headwater.cd.controller import Controller
from headwater.cd.metrics import SyncMetrics
from headwater.devstack.ports import pick
from headwater.web.app import make_app
from headwater.web.deps import Services, static_token
from tests.ci.server.conftest import Server
from tests.web.served import served

PIPELINE = """\
jobs:
- name: hello
  plan:
  - task: say
    config:
      platform: linux
      run: {path: echo, args: [hi]}
"""
FOREIGN = {"Origin": "https://evil.example"}


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()), dev=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _pipelines(http: httpx.Client) -> list[str]:
    return [p["name"] for p in http.get("/teams/main/pipelines").json()]


def test_the_dev_server_refuses_a_rebound_host_name(dev_server: Server) -> None:
    rebound = {"Host": f"evil.example:{dev_server.port}"}
    with httpx.Client(base_url=dev_server.url + "/api/v1", timeout=30) as http:
        refused = http.get("/teams/main/pipelines", headers=rebound)
        assert refused.status_code == 421
        assert "DNS rebinding" in refused.json()["detail"]
        put = http.put("/teams/main/pipelines/p/config", json={"config": PIPELINE},
                       headers=rebound)
        assert put.status_code == 421
        assert _pipelines(http) == []  # by its own name it answers, and nothing was set
        assert http.get("/teams/main/pipelines",
                        headers={"Host": f"localhost:{dev_server.port}"}).status_code == 200


def test_the_dev_server_refuses_writes_from_another_origin(dev_server: Server) -> None:
    own = {"Origin": dev_server.url}
    with httpx.Client(base_url=dev_server.url + "/api/v1", timeout=30) as http:
        for attack in ({"Origin": "https://evil.example"},
                       {"Origin": f"http://localhost:{dev_server.port + 1}"},
                       {"Sec-Fetch-Site": "cross-site"},
                       {"Referer": "https://evil.example/page.html"}):
            put = http.put("/teams/main/pipelines/p/config", json={"config": PIPELINE},
                           headers=attack)
            assert put.status_code == 403, attack
            assert "cross-site request (CSRF)" in put.json()["detail"]
        assert _pipelines(http) == []
        # A form POST needs no preflight: the trigger of a job is refused too.
        assert http.put("/teams/main/pipelines/p/config", json={"config": PIPELINE},
                        headers=own).status_code == 200
        assert http.put("/teams/main/pipelines/p/unpause").status_code == 200  # a program
        trigger = http.post("/teams/main/pipelines/p/jobs/hello/builds",
                            headers={**FOREIGN, "Content-Type": "text/plain"})
        assert trigger.status_code == 403
        assert http.get("/teams/main/pipelines/p/jobs/hello/builds").json() == []
        # Reading stays open to any origin: the browser hides the answer from the page.
        assert http.get("/teams/main/pipelines", headers=FOREIGN).status_code == 200
        assert http.delete("/teams/main/pipelines/p", headers=own).status_code in (200, 204)
        assert _pipelines(http) == []


@contextlib.asynccontextmanager
async def _cd_api(token: str | None) -> AsyncIterator[str]:
    registry = CollectorRegistry()
    app = make_app(Services(cd=Controller([], SyncMetrics(registry)), registry=registry,
                            check_token=static_token(token) if token else None))
    async with served(app) as url:
        yield url


async def test_the_cd_api_without_a_token_refuses_rebound_hosts_and_foreign_origins() -> None:
    async with _cd_api(None) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        port = url.rsplit(":", 1)[1]
        rebound = await http.get("/api/v1/status", headers={"Host": f"evil.example:{port}"})
        assert rebound.status_code == 421
        assert "DNS rebinding" in rebound.json()["detail"]
        csrf = await http.post("/api/v1/sync?wait=true", headers=FOREIGN)
        assert csrf.status_code == 403
        assert "cross-site request (CSRF)" in csrf.json()["detail"]
        same = await http.post("/api/v1/sync?wait=true", headers={"Origin": url})
        assert same.status_code == 200
        assert same.json() == {"results": []}
        assert (await http.post("/api/v1/sync?wait=true")).status_code == 200  # `headwater sync`


async def test_the_cd_api_with_a_token_is_not_limited_to_loopback_names() -> None:
    async with _cd_api("s3cret") as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        auth = {"Authorization": "Bearer s3cret"}
        r = await http.get("/api/v1/status", headers={**auth, "Host": "cd.example.org"})
        assert r.status_code == 200
