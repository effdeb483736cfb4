"""A small async client for the Kubernetes API: raw JSON over one aiohttp session.

Credentials come from a kubeconfig (or the in-cluster service account) through
kubernetes-asyncio's loaders, so every auth mode they know works (tokens, client
certificates, exec plugins with refresh). Requests are counted per verb: benchmarks
and tests read `counts` to prove what a sync cost.
"""

from __future__ import annotations

import json
import os
import ssl
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import Configuration

from headwater.kube.errors import ApiError

JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
# Ask for the object's metadata only (any kind, CRs included), JSON as a fallback: for a
# write whose answer is not read, the API server encodes less and we read less. Errors
# still come back as a JSON Status (a protobuf answer would bring them in protobuf).
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


class Kube:
    def __init__(self, configuration: Any, *, concurrency: int = 16) -> None:
        self._cfg = configuration
        ctx = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            ctx.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
        if not configuration.verify_ssl:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.host: str = configuration.host.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, ssl=ctx),
            read_bufsize=2**21,
        )
        self.counts: Counter[str] = Counter()

    @classmethod
    async def connect(
        cls, kubeconfig: str | Path | None = None, *, context: str | None = None,
        concurrency: int = 16,
    ) -> Kube:
        """From `kubeconfig` (else $KUBECONFIG, else ~/.kube/config), or in-cluster."""
        cfg = Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
        default = Path.home() / ".kube" / "config"
        if path or default.exists():
            await kube_config.load_kube_config(config_file=str(path or default), context=context,
                                               client_configuration=cfg)
        else:
            kube_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cls(cfg, concurrency=concurrency)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        answer: bool = True,
    ) -> Any:
        """Send one request; the decoded JSON answer (None with `answer=False`: the
        caller needs only the status), or ApiError with the server's message."""
        headers = {"Accept": accept}
        token = await self._cfg.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":")).encode()
        self.counts[method] += 1
        async with self._session.request(method, self.host + path, params=params, data=data,
                                         headers=headers) as r:
            raw = await r.read()
            if r.status >= 400:
                raise ApiError.from_response(r.status, raw, method=method, path=path)
        return json.loads(raw) if raw and answer else None
