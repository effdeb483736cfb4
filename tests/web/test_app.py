"""The one app's assembly, without a stack: what needs a token in each mode (the OpenAPI
document too, but in loopback dev mode), the interactive docs only in dev mode, and one
metrics registry per app so several apps live in one process."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from headwater.cd.controller import Controller
from headwater.cd.metrics import SyncMetrics
from headwater.web.app import make_app
from headwater.web.deps import Services, static_token
from tests.web.served import served


def _cd_app(token: str | None) -> tuple[Services, SyncMetrics]:
    registry = CollectorRegistry()
    metrics = SyncMetrics(registry)
    return Services(cd=Controller([], metrics), registry=registry,
                    check_token=static_token(token) if token else None), metrics


async def test_in_dev_mode_the_openapi_document_and_docs_need_no_token() -> None:
    services, _ = _cd_app(None)
    async with served(make_app(services)) as url, httpx.AsyncClient(base_url=url) as http:
        doc = await http.get("/api/v1/openapi.json")
        assert doc.status_code == 200
        assert "/api/v1/cd/sync" in doc.json()["paths"]
        assert "/api/v1/teams/{team}/pipelines" not in doc.json()["paths"]  # CD only
        docs = await http.get("/api/v1/docs")
        assert docs.status_code == 200
        assert "/api/v1/openapi.json" in docs.text


async def test_with_a_token_the_openapi_document_needs_it_and_docs_are_not_served() -> None:
    services, _ = _cd_app("s3cret-token")
    async with served(make_app(services)) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/api/v1/openapi.json")).status_code == 401
        good = await http.get("/api/v1/openapi.json",
                              headers={"Authorization": "Bearer s3cret-token"})
        assert good.status_code == 200
        assert (await http.get("/api/v1/docs")).status_code == 404
        assert (await http.get("/api/v1/cd/status")).status_code == 401
        assert (await http.post("/api/v1/cd/sync")).status_code == 401
        assert (await http.get("/metrics")).status_code == 401


async def test_two_apps_in_one_process_keep_their_own_metrics() -> None:
    (one, one_metrics), (two, _) = _cd_app(None), _cd_app(None)
    one_metrics.released("src")  # only the first app's registry sees it
    async with served(make_app(one)) as url_one, served(make_app(two)) as url_two, \
            httpx.AsyncClient() as http:
        first = (await http.get(f"{url_one}/metrics")).text
        second = (await http.get(f"{url_two}/metrics")).text
    assert 'headwater_automation_releases_total{source="src"} 1.0' in first
    assert "headwater_automation_releases_total{" not in second


async def test_an_unknown_source_is_a_404_naming_it() -> None:
    services, _ = _cd_app(None)
    async with served(make_app(services)) as url, httpx.AsyncClient(base_url=url) as http:
        for wait in ("true", "false"):
            r = await http.post("/api/v1/cd/sync", params={"source": "nope", "wait": wait})
            assert r.status_code == 404
            assert r.json()["detail"] == "no source 'nope'; sources: none"
        assert (await http.get("/api/v1/cd/status")).json() == {"sources": []}
        assert (await http.get("/api/v1/cd/workloads")).json() == {"sources": []}
        unknown = await http.get("/api/v1/cd/workloads", params={"source": "nope"})
        assert unknown.status_code == 404
        accepted = await http.post("/api/v1/sync")
        assert (accepted.status_code, accepted.json()) == (202, {"accepted": True})
