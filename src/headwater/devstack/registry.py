"""The stack's OCI registry: Debian's `docker-registry` (CNCF distribution) on loopback.

Storage is a directory of the stack; deletes are enabled so tests can clean up.
With `auth=True` an htpasswd file (bcrypt, via `htpasswd -B`) guards every request.
With `notifications`, it POSTs each push to headwater (devstack/hooks.py).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from headwater.devstack import probe, process
from headwater.devstack.layout import Layout
from headwater.devstack.pki import write_private


@dataclass(frozen=True)
class Registry:
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.username and self.password else None


def prepare(directory: Path, *, port: int, auth: bool,
            notifications: dict[str, Any] | None = None,
            username: str = "headwater") -> Registry:
    """The registry's config under `directory`; with `auth`, `username` and a password of
    its own (kept in `directory/password`) are the only credentials it accepts;
    `notifications`: distribution's section of that name (hooks.registry_notifications),
    so each push is POSTed to headwater."""
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    user = password = None
    if auth:
        user = username
        pw_file = directory / "password"
        if not pw_file.exists():
            write_private(pw_file, secrets.token_urlsafe(18).encode())
        password = pw_file.read_text()
        line = subprocess.run(  # the password on stdin (-i), never in argv
            ["htpasswd", "-niB", user], input=password, check=True, capture_output=True,
            text=True).stdout.strip()
        write_private(directory / "htpasswd", (line + "\n").encode())
        config["auth"] = {"htpasswd": {"realm": "headwater", "path": str(directory / "htpasswd")}}
    if notifications:
        config["notifications"] = notifications
    write_private(directory / "config.yml", yaml.safe_dump(config).encode())
    return Registry(port=port, username=user, password=password)


def healthy(registry: Registry) -> bool:
    return probe.status(f"{registry.url}/v2/") in (200, 401)


def start(directory: Path, registry: Registry, *, name: str, layout: Layout) -> process.Proc:
    proc = process.start(
        name, ["docker-registry", "serve", str(directory / "config.yml")], layout=layout
    )
    process.wait_until(proc, lambda: healthy(registry), what="answering on /v2/", timeout=15)
    return proc
