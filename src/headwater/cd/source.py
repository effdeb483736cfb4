"""A sync source: one Git branch and paths, with fluxd's flag names and defaults.

Sources come from `headwater cd` flags (one source) or from a YAML file listing
several, whose keys are the same flag names without dashes' prefix:

    sources:
      - name: app
        git-url: ssh://git@example.com/app.git
        git-path: [deploy]
        sync-garbage-collection: true
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from headwater import yamlload
from headwater.durations import parse_duration
from headwater.errors import UserError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


TEMPLATE_FIELDS = ("image", "images", "count")


def check_template(template: str) -> None:
    """ValueError naming the field when `template` uses one that does not exist."""
    try:
        template.format(image="", images="", count=0)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"release message template {template!r}: unknown field {e}; "
                         f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}") from None


class SourceError(UserError):
    """A bad source definition; the message names the file, the source and the key."""


def _seconds(value: str | int | float) -> float:
    """A duration key's value: a Go duration as fluxd's flags take it, or seconds (YAML)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected a duration such as 30s, 5m or 1h, not {value!r}")
    return float(value) if isinstance(value, int | float) else parse_duration(value)


@dataclass(frozen=True)
class Source:
    git_url: str
    name: str = "default"
    git_branch: str = "master"
    git_path: tuple[str, ...] = ()
    git_poll_interval: float = 300.0
    git_timeout: float = 20.0
    sync_interval: float = 300.0
    sync_garbage_collection: bool = False
    sync_garbage_collection_dry: bool = False
    git_sync_tag: str = "headwater-sync"
    git_readonly: bool = False
    git_user: str = "headwater"
    git_email: str = "headwater@localhost"
    k8s_allow_namespace: tuple[str, ...] = ()
    git_ssh_key: Path | None = None
    git_known_hosts: Path | None = None
    git_token: str | None = field(default=None, repr=False)
    git_ca_file: Path | None = None  # CA bundle of an https server (Flux v2's --ca-file)
    wait: bool = False
    wait_timeout: float = 300.0
    git_ci_skip: bool = False
    git_ci_skip_message: str = "[ci skip]"
    registry_poll_interval: float = 300.0
    registry_disable_scanning: bool = False
    image_policies: Path | None = None  # Flux v2 setter markers' policies
    git_release_template: str = ""       # automation's commit message, {image} etc.

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SourceError(f"source name {self.name!r}: use lowercase letters, digits and "
                              "dashes (at most 40), as it names a ConfigMap and a label value")
        if not self.git_url:
            raise SourceError(f"source {self.name!r}: git-url is required")
        try:
            check_template(self.git_release_template)
        except ValueError as e:
            raise SourceError(f"source {self.name!r}: git-release-template: {e}") from None
        for f in fields(self):
            if f.name.endswith(("interval", "timeout")) and getattr(self, f.name) < 0:
                # Go's parser takes "-5m"; a negative wait would spin the loop.
                raise SourceError(f"source {self.name!r}: {f.name.replace('_', '-')} is "
                                  f"negative: give a duration such as 30s or 5m")

    @property
    def paths(self) -> tuple[str, ...]:
        return self.git_path or (".",)


_KEYS = {f.name.replace("_", "-"): f for f in fields(Source)}


def _convert(name: str, kind: object, value: Any) -> Any:
    if kind in ("str", "str | None") and not isinstance(value, str):
        raise ValueError(f"expected a string, not {value!r} (quote it in YAML)")
    if name.endswith(("interval", "timeout")):
        return _seconds(value)
    if name in ("git_path", "k8s_allow_namespace"):
        return tuple([value] if isinstance(value, str) else value)
    if name in ("git_ssh_key", "git_known_hosts", "git_ca_file", "image_policies"):
        return Path(value).expanduser()
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"expected true or false, not {value!r}")
    return value


def from_mapping(data: dict[str, Any], *, where: str) -> Source:
    values: dict[str, Any] = {}
    for key, value in data.items():
        f = _KEYS.get(str(key))
        if f is None:
            raise SourceError(f"{where}: unknown key {key!r}; known keys: "
                              + ", ".join(sorted(_KEYS)))
        try:
            values[f.name] = _convert(f.name, f.type, value)
        except (ValueError, TypeError) as e:
            raise SourceError(f"{where}: {key}: {e}") from None
    if "git_url" not in values:
        raise SourceError(f"{where}: git-url is required")
    try:
        return Source(**values)
    except TypeError as e:
        raise SourceError(f"{where}: {e}") from None


def load_file(path: Path) -> list[Source]:
    try:
        doc = yamlload.load(yamlload.read_text(path), filename=str(path))
    except yamlload.YamlLimitError as e:
        raise SourceError(str(e)) from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise SourceError(f"{path}{line}: not valid YAML: {e}") from None
    except OSError as e:
        raise SourceError(f"{path}: {e.strerror}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise SourceError(f"{path}: expected a mapping with a `sources:` list")
    sources = [from_mapping(s if isinstance(s, dict) else {}, where=f"{path}: sources[{i}]")
               for i, s in enumerate(doc["sources"])]
    names = [s.name for s in sources]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise SourceError(f"{path}: source names must be unique: {', '.join(dupes)}")
    return sources
