"""Where credentials may go: the origin (scheme, host, port) of a URL.

A registry's Authorization (Basic, or its Bearer token) is sent only to URLs of the
registry's own origin. A redirect or a page link to another origin (blob storage, a
CDN, or a hostile registry pointing at someone else's server) is reached without it,
as Docker and containerd do. The port is made explicit (`https://h` and `https://h:443`
are one origin); host names compare case-insensitively.
"""

from __future__ import annotations

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> str:
    """`scheme://host:port` of `url`, normalised."""
    u = httpx.URL(url) if isinstance(url, str) else url
    port = u.port or _DEFAULT_PORTS.get(u.scheme, 0)
    host = u.host.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{u.scheme}://{host}:{port}"
