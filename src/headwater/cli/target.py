"""Named targets, as `fly -t`: which server a CI verb talks to, and with which token.

`headwater -t local login -c http://127.0.0.1:8080` (the token from a prompt,
`--token-stdin` or `$HEADWATER_TOKEN`) saves the target in
`targets.yml` under the config dir (`$HEADWATER_CONFIG_DIR`, else
`$XDG_CONFIG_HOME/headwater`, else `~/.config/headwater`), written 0600 because it
holds tokens. Every other CI verb loads the target named by `-t` (or the only one
saved) and calls the server's REST API with `Api`, a thin httpx client that turns
HTTP errors into `RequestFailed` with the server's message. httpx is imported when an
`Api` is made, not with this module: `--help` and the local verbs do not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from headwater.cli.paths import config_dir
from headwater.errors import HeadwaterError, UserError

if TYPE_CHECKING:
    import httpx

TEAM = "main"


class TargetError(UserError):
    """No usable target: the message says which `login` to run."""


class RequestFailed(HeadwaterError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    token: str | None = None


def _targets_file() -> Path:
    return config_dir() / "targets.yml"


def _load_all() -> dict[str, dict[str, Any]]:
    path = _targets_file()
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, dict):
        raise TargetError(f"{path}: expected a `targets:` map; fix or remove the file")
    return targets


def save(target: Target) -> Path:
    targets = _load_all()
    targets[target.name] = {"api": target.url, "token": target.token}
    path = _targets_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump({"targets": targets}, f, sort_keys=True)
    tmp.replace(path)
    return path


def load(name: str | None) -> Target:
    targets = _load_all()
    if name is None:
        if len(targets) != 1:
            raise TargetError(
                "no target given: use -t NAME (one of: "
                f"{', '.join(sorted(targets)) or 'none saved'}); "
                "save one with `headwater -t NAME login -c URL`")
        name = next(iter(targets))
    entry = targets.get(name)
    if entry is None:
        raise TargetError(f"unknown target {name!r}: run `headwater -t {name} login -c URL`")
    return Target(name=name, url=str(entry["api"]).rstrip("/"), token=entry.get("token"))


class Api:
    """The server's REST API under /api/v1, with the target's bearer token."""

    def __init__(self, target: Target, *, timeout: float = 30.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self.target = target
        self._http = httpx.Client(base_url=target.url + "/api/v1", headers=headers,
                                  timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def team(self, path: str) -> str:
        return f"/teams/{TEAM}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise RequestFailed(0, f"cannot reach {self.target.url}: {e}") from e
        _raise_for(resp, self.target)
        if resp.status_code == 204 or not resp.content:
            return None
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.content

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        import httpx

        try:
            with self._http.stream("GET", path, timeout=None, **kwargs) as resp:
                if resp.status_code >= 400:
                    resp.read()
                _raise_for(resp, self.target)
                yield resp
        except httpx.HTTPError as e:
            raise RequestFailed(0, f"lost the connection to {self.target.url}: {e}") from e


def _raise_for(resp: httpx.Response, target: Target) -> None:
    if resp.status_code < 400:
        return
    if resp.status_code == 401:
        raise RequestFailed(401, f"not authorized: run `headwater -t {target.name} login -c "
                            f"{target.url}` and give it a token of the server (its admin "
                            "token, or one from `create-token`)")
    try:
        detail = resp.json().get("detail", resp.text)
    except ValueError:
        detail = resp.text
    raise RequestFailed(resp.status_code, detail if isinstance(detail, str) else str(detail))
