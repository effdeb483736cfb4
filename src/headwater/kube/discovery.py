"""Which kinds the API server serves, learnt in two requests.

Aggregated discovery (`apidiscovery.k8s.io/v2`, GA since Kubernetes 1.30) returns
every group, version and resource from `/api` and `/apis` at once; older servers
fall back to one request per group version. `refresh()` again after CRDs are applied.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from headwater.kube.client import Kube
from headwater.kube.errors import UnknownKind

_AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
               "application/json")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        """The REST path of the collection, or of one object when `name` is given."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class Discovery:
    def __init__(self) -> None:
        self._types: dict[tuple[str, str], ResourceType] = {}

    async def refresh(self, kube: Kube) -> None:
        types: dict[tuple[str, str], ResourceType] = {}
        for root in ("/api", "/apis"):
            doc = await kube.request("GET", root, accept=_AGGREGATED)
            if doc.get("kind") == "APIGroupDiscoveryList":
                _read_aggregated(doc, types)
            else:
                await _read_legacy(kube, root, doc, types)
        self._types = types

    def lookup(self, api_version: str, kind: str) -> ResourceType:
        try:
            return self._types[(api_version, kind)]
        except KeyError:
            raise UnknownKind(api_version, kind) from None

    def knows(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._types

    def by_group_kind(self, group: str, kind: str) -> ResourceType:
        """The served version of a kind known only by group (as inventories record it)."""
        for rt in self._types.values():  # aggregated discovery lists preferred versions first
            if rt.group == group and rt.kind == kind:
                return rt
        raise UnknownKind(group or "v1", kind)


def _read_aggregated(doc: dict[str, Any], out: dict[tuple[str, str], ResourceType]) -> None:
    for group in doc.get("items") or []:
        gname = (group.get("metadata") or {}).get("name", "")
        for version in group.get("versions") or []:
            v = version["version"]
            for res in version.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind")
                if not kind:
                    continue
                rt = ResourceType(gname, v, kind, res["resource"], res.get("scope") == "Namespaced",
                                  tuple(res.get("verbs") or ()))
                out.setdefault((rt.api_version, kind), rt)


async def _read_legacy(kube: Kube, root: str, doc: dict[str, Any],
                       out: dict[tuple[str, str], ResourceType]) -> None:
    if root == "/api":
        versions = [("", v) for v in doc.get("versions") or []]
    else:
        versions = [(g["name"], v["version"]) for g in doc.get("groups") or []
                    for v in g.get("versions") or []]

    async def one(group: str, version: str) -> None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = await kube.request("GET", path)
        for res in listing.get("resources") or []:
            if "/" in res["name"]:  # subresources
                continue
            rt = ResourceType(group, version, res["kind"], res["name"], res["namespaced"],
                              tuple(res.get("verbs") or ()))
            out.setdefault((rt.api_version, rt.kind), rt)

    await asyncio.gather(*(one(g, v) for g, v in versions))
