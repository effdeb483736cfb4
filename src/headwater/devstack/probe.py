"""One HTTP probe for every health check of the stack: the status code, 0 if no answer."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx


def verify(ca: Path | None) -> ssl.SSLContext | bool:
    """Trust the stack's CA; without one (self-signed /healthz on loopback), do not verify."""
    return ssl.create_default_context(cafile=str(ca)) if ca else False


def status(url: str, *, ca: Path | None = None, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return httpx.get(url, verify=verify(ca), headers=headers, timeout=2).status_code
    except httpx.HTTPError:
        return 0
