"""One HTTP probe for every health check of the stack: the status code, 0 if no answer."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx


def verify(ca: Path | None, *, client: tuple[Path, Path] | None = None
           ) -> ssl.SSLContext | bool:
    """Trust the stack's CA, and present `client` (certificate, key) when given (etcd asks
    for one); without a CA (self-signed /healthz on loopback), do not verify."""
    if not ca:
        return False
    context = ssl.create_default_context(cafile=str(ca))
    if client:
        context.load_cert_chain(str(client[0]), str(client[1]))
    return context


def status(url: str, *, ca: Path | None = None, token: str | None = None,
           client: tuple[Path, Path] | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, verify=verify(ca, client=client), headers=headers,
                         timeout=2).status_code
    except httpx.HTTPError:
        return 0
