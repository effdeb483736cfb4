"""Where the server's own resource code may connect for a pipeline.

Concourse runs every resource in a container: a `uri` of `file:///etc` or
`http://127.0.0.1:2379` names the container, not the web node. headwater's built-in
types (`git`, `semver`, `registry-image`, `docker-image`) and the pulls of task and
resource-type images run in the server process, so a pipeline author could make the
server read a repository on its disk or talk to the host's loopback services (the
CI API, etcd, the kubelet, the database): server-side request forgery.

`Reach.check(url)` is asked before each connection. It refuses, with a message naming
the resource and what to do:

- local paths and `file://` URLs, unless the server allows them (`local_paths`: only
  tests and a single-user dev server want that);
- any host that resolves to a loopback, unspecified or link-local address (the
  cloud metadata service is 169.254.169.254), unless that address and port is in the
  same allow-list tasks with network get (`--task-allow HOST:PORT`, `--stack`).

Names are resolved here and every address is checked, so `localhost.example` with
an A record of 127.0.0.1 is refused too. What stays open (docs/security.md): a name
that resolves differently a moment later (DNS rebinding) and a remote HTTP server's
redirect to loopback — git is told not to follow redirects off its first request,
the registry client sends credentials only to the registry's own origin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.netns import Allowed

_DEFAULT_PORTS = {"ssh": 22, "git+ssh": 22, "ssh+git": 22, "git": 9418, "http": 80,
                  "https": 443}
_RESOLVE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Target:
    """Where a URL leads: a host and port, or a path on this machine."""

    host: str | None
    port: int | None
    local: bool = False


def target(url: str, *, default_port: int | None = None) -> Target:
    """The host and port `url` connects to, as git reads URLs: a scheme URL, the
    scp-like `user@host:path`, or a local path."""
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return Target(None, None, local=True)
        try:
            port = parts.port
        except ValueError:
            raise ResourceError(f"{url!r} has a bad port") from None
        return Target(parts.hostname or "", port or _DEFAULT_PORTS.get(scheme, default_port))
    head, colon, _ = text.partition(":")
    if colon and "/" not in head and not head.startswith("["):
        return Target(head.rpartition("@")[2], default_port or 22)  # scp-like ssh
    return Target(None, None, local=True)


def registry_target(host: str) -> Target:
    """Where a registry named `host[:port]` (as in an image reference) is reached."""
    parts = urlsplit(f"//{host}")
    try:
        port = parts.port
    except ValueError:
        raise ResourceError(f"registry {host!r} has a bad port") from None
    return Target(parts.hostname or "", port or 443)


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified or address.is_link_local


@dataclass(frozen=True)
class Reach:
    """What `check` lets through: the `allow` list of loopback HOST:PORTs, and local
    paths only when `local_paths`."""

    allow: tuple[Allowed, ...] = ()
    local_paths: bool = False
    unchecked: bool = False

    @classmethod
    def anything(cls) -> Reach:
        """No check at all: for code that is not given a pipeline's URLs (tests)."""
        return cls(local_paths=True, unchecked=True)

    async def check(self, url: str, *, what: str) -> None:
        """Raise ResourceError naming `what` when the Git URL `url` leads somewhere
        refused."""
        if not self.unchecked:
            await self._check(target(url), url, what=what)

    async def check_registry(self, host: str, *, what: str) -> None:
        """The same for a registry `host[:port]` (plain HTTP ones on port 80 too)."""
        if not self.unchecked:
            where = registry_target(host)
            await self._check(where, host, what=what)
            if ":" not in host.rpartition("]")[2]:
                await self._check(Target(where.host, 80), host, what=what)

    def guard(self, what: str) -> Callable[[httpx.URL], Awaitable[None]] | None:
        """A `RegistryClient` guard: every request it sends (token realms and blob
        redirects too) is checked as a URL; None when nothing is checked."""
        if self.unchecked:
            return None

        async def check(url: httpx.URL) -> None:
            port = url.port or (443 if url.scheme == "https" else 80)
            await self._check(Target(url.host, port), str(url.copy_with(query=None)),
                              what=what)
        return check

    async def _check(self, where: Target, url: str, *, what: str) -> None:
        if where.local:
            if not self.local_paths:
                raise ResourceError(
                    f"{what}: {url!r} is a path on the server's machine, which resources "
                    "may not read; use a URL of a Git server (ssh://, https://, git://)")
            return
        host = where.host or ""
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, where.port,
                                                       type=socket.SOCK_STREAM),
                _RESOLVE_TIMEOUT)
        except (OSError, TimeoutError):
            return  # the connection fails with its own clear error
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not _forbidden(address):
                continue
            if any(ipaddress.ip_address(a.host) == address and a.port == where.port
                   for a in self.allow):
                continue
            raise ResourceError(
                f"{what}: {host}:{where.port} is {address}, an address of the server's own "
                "machine, which resources may reach only when allowed: start the server "
                f"with --task-allow {address}:{where.port} (or --stack for the local stack)")
