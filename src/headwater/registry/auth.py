"""Registry credentials, per host, from the files users already have.

- Docker's `config.json` (`--docker-config`): `auths.<key>.auth` is base64 of
  `user:pass`; `username`/`password` are read when there is no `auth`. The key may be
  a URL in any of Docker Hub's spellings (`https://index.docker.io/v1/`, ...): keys
  are reduced to a host with `reference.registry_host`, as Flux's `ParseCredentials`
  does.
- Kubernetes pull secrets (`kubernetes.io/dockerconfigjson` carries a config.json
  under `.dockerconfigjson`; the older `kubernetes.io/dockercfg` carries the bare
  `auths` map under `.dockercfg`): `from_pull_secret` takes the secret's decoded data.

Passwords are kept out of `repr` and error messages and registered with
`headwater.log.redact`, so no log line can print them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater import log
from headwater.registry.errors import InvalidCredentials
from headwater.registry.reference import registry_host

DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
DOCKERCFG = "kubernetes.io/dockercfg"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        log.redact(self.password)


class Keychain(Mapping[str, Credentials]):
    """Credentials by registry host (`docker.io`, `127.0.0.1:5000`); a lookup by any
    spelling of a host (`https://index.docker.io/v1/`) finds them."""

    def __init__(self, entries: Mapping[str, Credentials] | None = None) -> None:
        self._entries = {registry_host(k): v for k, v in (entries or {}).items()}

    def __getitem__(self, host: str) -> Credentials:
        return self._entries[registry_host(host)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Keychain({sorted(self._entries)})"

    def merged(self, other: Mapping[str, Credentials]) -> Keychain:
        """These credentials overlaid by `other`'s (a workload's secrets over the defaults)."""
        return Keychain({**self._entries, **other})


def parse_docker_config(text: str | bytes, *, source: str) -> Keychain:
    """Credentials from a Docker `config.json` (or a legacy `.dockercfg`, which is the
    bare `auths` map). `source` names the file or secret in errors and on credentials."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise InvalidCredentials(f"{source}: not JSON ({e}); expected a Docker config.json "
                                 'like {"auths": {"registry.example.com": {"auth": "..."}}}'
                                 ) from None
    if not isinstance(doc, dict):
        raise InvalidCredentials(f"{source}: expected a JSON object with an \"auths\" map")
    auths = doc.get("auths")
    if auths is None:
        # The legacy format, and Flux's fallback: the map of hosts at the top level.
        auths = {k: v for k, v in doc.items() if isinstance(v, dict)}
    if not isinstance(auths, dict):
        raise InvalidCredentials(f"{source}: \"auths\" must map registry hosts to entries")
    entries: dict[str, Credentials] = {}
    for key, entry in auths.items():
        host = registry_host(str(key))
        if not host:
            raise InvalidCredentials(f"{source}: registry key {key!r} names no host; write it "
                                     "as a host (ghcr.io) or URL (https://index.docker.io/v1/)")
        creds = _entry(entry, source=source, host=host)
        if creds is not None:
            entries[host] = creds
    return Keychain(entries)


def _entry(entry: Any, *, source: str, host: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise InvalidCredentials(f"{source}: the entry for {host} must be an object")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidCredentials(f"{source}: the auth of {host} is not base64 of "
                                     "user:password; regenerate it with docker login") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidCredentials(f"{source}: the auth of {host} decodes to no "
                                     "user:password pair; regenerate it with docker login")
        return Credentials(user, password, source)
    if entry.get("username") or entry.get("password"):
        return Credentials(str(entry.get("username", "")), str(entry.get("password", "")),
                           source)
    # Entries with only a credential helper or an identity token carry nothing we can use.
    return None


def load_docker_config(path: Path) -> Keychain:
    """`parse_docker_config` of a file; a missing file is an error that names it."""
    try:
        text = path.read_bytes()
    except OSError as e:
        raise InvalidCredentials(f"{path}: cannot read the Docker config ({e.strerror}); "
                                 "check --docker-config") from None
    return parse_docker_config(text, source=str(path))


def from_pull_secret(
    secret_type: str, data: Mapping[str, str | bytes], *, source: str = "pull secret"
) -> Keychain:
    """Credentials from an imagePullSecret: its `type` and its data, base64-decoded."""
    key = {DOCKERCONFIGJSON: ".dockerconfigjson", DOCKERCFG: ".dockercfg"}.get(secret_type)
    if key is None:
        raise InvalidCredentials(f"{source}: type {secret_type!r} is not a pull secret; use "
                                 f"{DOCKERCONFIGJSON} (kubectl create secret docker-registry)")
    if key not in data:
        raise InvalidCredentials(f"{source}: a {secret_type} secret must have the key {key}")
    return parse_docker_config(data[key], source=source)
