"""The source of a `registry-image` or `docker-image` resource, read as Concourse reads it.

Both types name an image by `repository` (`host:port/path`, Docker Hub without a
host) and `tag`, and log in with `username`/`password`. They differ in a few keys,
each kept under its own name so pipelines come unchanged:

- registry-image: `insecure: true` (its registry over plain http), `ca_certs` a list
  of PEM certificates, `tag_regex` (check: every tag matching it); without `tag` nor
  `tag_regex` its check follows semver tags (`variant`, `pre_releases`,
  `pre_release_prefixes`, `semver_constraint`: registryimage_semver.py);
- docker-image: `insecure_registries` (a list of `host:port` reached over plain
  http), `ca_certs` a list of `{domain, cert}` (every one is trusted, for the
  registry and for the base images of a build); `tag` defaults to `latest`.

Registries on loopback are always reached over plain http (as the OCI client and
the local stack do). Unknown keys are errors naming them. The password never
appears in an error, a log line or `repr`.
"""

from __future__ import annotations

import fnmatch
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.registryimage_semver import SemverMode
from headwater.imagepolicy import Constraints, SemverError
from headwater.registry import (
    DEFAULT_INSECURE_HOSTS,
    AuthError,
    Credentials,
    InvalidReference,
    RegistryClient,
    RegistryError,
    parse,
)

REGISTRY_IMAGE = "registry-image"
DOCKER_IMAGE = "docker-image"

_COMMON = {"repository", "tag", "username", "password", "ca_certs", "debug"}
_KEYS = {
    REGISTRY_IMAGE: _COMMON | {"insecure", "tag_regex", "variant", "pre_releases",
                               "pre_release_prefixes", "semver_constraint",
                               "created_at_sort", "platform"},
    DOCKER_IMAGE: _COMMON | {"insecure_registries", "registry_mirror",
                             "max_concurrent_downloads", "max_concurrent_uploads",
                             "startup_timeout"},
}


@dataclass(frozen=True)
class ImageRepo:
    """Where the image lives and how to reach it."""

    kind: str  # registry-image or docker-image
    repository: str  # canonical: host/path
    written: str  # as the pipeline wrote it (the `repository` file of a get)
    registry: str  # host[:port]
    tag: str | None  # None: registry-image's semver / tag_regex mode
    credentials: Credentials | None = field(repr=False)
    insecure_hosts: frozenset[str]
    ca_pem: str = field(default="", repr=False)
    tag_regex: re.Pattern[str] | None = None
    variant: str = ""
    pre_releases: bool = False
    tag_given: bool = False  # `tag` is in the source (registry-image pushes it then)
    semver: SemverMode | None = None  # registry-image without tag nor tag_regex
    # Asked before each request the client sends (reach.py): None checks nothing.
    guard: Callable[[httpx.URL], Awaitable[None]] | None = field(default=None, repr=False,
                                                                 compare=False)

    @property
    def label(self) -> str:
        """How messages name the resource: its type and image."""
        return f"{self.kind} {self.repository}"

    def ref(self, tag: str) -> str:
        return f"{self.repository}:{tag}"

    def client(self) -> RegistryClient:
        """An OCI client with this source's credentials, plain-http hosts and CA."""
        credentials = {self.registry: self.credentials} if self.credentials else {}
        verify: ssl.SSLContext | bool = True
        if self.ca_pem:
            verify = ssl.create_default_context()
            try:
                verify.load_verify_locations(cadata=self.ca_pem)
            except ssl.SSLError as e:
                raise ResourceError(f"{self.label}: ca_certs: not a PEM certificate "
                                    f"({e.reason})") from None
        return RegistryClient(credentials=credentials,
                              insecure_hosts=DEFAULT_INSECURE_HOSTS | self.insecure_hosts,
                              verify=verify, guard=self.guard)

    def plain_http(self, host: str) -> bool:
        """Is `host` reached over plain http (insecure) rather than https?"""
        return any(fnmatch.fnmatchcase(host, p)
                   for p in DEFAULT_INSECURE_HOSTS | self.insecure_hosts)


def registry_failure(repo: ImageRepo, what: str, error: RegistryError) -> ResourceError:
    """A registry error of a check or get, said for a pipeline's author: a refusal
    names the source's user (never the password) and says where to fix it."""
    if isinstance(error, AuthError):
        who = f"the user {repo.credentials.username!r}" if repo.credentials else (
            "anonymous access (the source has no username and password)")
        return ResourceError(f"{repo.label}: {what}: the registry {repo.registry} refused "
                             f"{who}: check the source's username and password, and that "
                             "the user may read this repository")
    return ResourceError(f"{repo.label}: {what}: {error}")


def parse_source(kind: str, source: Mapping[str, Any]) -> ImageRepo:
    """The source of a resource of type `kind`, validated; `ResourceError` says what is
    wrong and what to write instead."""
    unknown = sorted(set(source) - _KEYS[kind])
    if unknown:
        raise ResourceError(f"{kind}: unknown source keys {unknown}; known: "
                            f"{', '.join(sorted(_KEYS[kind]))}")
    repository = source.get("repository")
    if not isinstance(repository, str) or not repository:
        raise ResourceError(f"{kind}: the source needs `repository`, e.g. "
                            "registry.example.com/team/app")
    try:
        ref = parse(repository)
    except InvalidReference as e:
        raise ResourceError(f"{kind}: source.repository: {e}") from None
    if ref.tag or ref.digest:
        raise ResourceError(f"{kind}: source.repository {repository!r} has a tag or digest: "
                            "write the tag under `tag`")
    label = f"{kind} {ref.name}"
    tag = _tag(kind, source, label)
    credentials = _credentials(source, label)
    insecure = _insecure(kind, source, ref.registry, label)
    regex = None
    if source.get("tag_regex"):
        try:
            regex = re.compile(str(source["tag_regex"]))
        except re.error as e:
            raise ResourceError(f"{label}: tag_regex {source['tag_regex']!r} is not a regular "
                                f"expression: {e}") from None
    semver = _semver(source, label) if kind == REGISTRY_IMAGE and tag is None \
        and regex is None else None
    return ImageRepo(kind=kind, repository=ref.name, written=repository,
                     registry=ref.registry, tag=tag,
                     credentials=credentials, insecure_hosts=insecure,
                     ca_pem=_ca_pem(source, label), tag_regex=regex,
                     variant=str(source.get("variant") or ""),
                     pre_releases=bool(source.get("pre_releases")),
                     tag_given=source.get("tag") not in (None, ""), semver=semver)


def _tag(kind: str, source: Mapping[str, Any], label: str) -> str | None:
    raw = source.get("tag")
    if raw is None or raw == "":
        if kind == DOCKER_IMAGE:
            return "latest"
        return None  # registry-image: semver tags, or tag_regex
    tag = str(raw)  # YAML reads `tag: 1.0` as a number
    if not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        raise ResourceError(f"{label}: source.tag {tag!r} is not a tag (up to 128 letters, "
                            "digits, '_', '.' or '-')")
    return tag


def _semver(source: Mapping[str, Any], label: str) -> SemverMode:
    constraint = None
    if source.get("semver_constraint"):
        try:
            constraint = Constraints.parse(str(source["semver_constraint"]))
        except SemverError as e:
            raise ResourceError(f"{label}: semver_constraint: {e}") from None
    prefixes = source.get("pre_release_prefixes") or []
    if not isinstance(prefixes, list):
        raise ResourceError(f"{label}: `pre_release_prefixes` is a list of strings")
    return SemverMode(variant=str(source.get("variant") or ""),
                      pre_releases=bool(source.get("pre_releases")),
                      pre_release_prefixes=tuple(str(p) for p in prefixes),
                      constraint=constraint)


def _credentials(source: Mapping[str, Any], label: str) -> Credentials | None:
    username, password = source.get("username"), source.get("password")
    if not username and not password:
        return None
    if not isinstance(username, str) or not isinstance(password, str) \
            or not username or not password:
        raise ResourceError(f"{label}: `username` and `password` go together, as strings")
    return Credentials(username, password, source=label)


def _insecure(kind: str, source: Mapping[str, Any], registry: str,
              label: str) -> frozenset[str]:
    if kind == REGISTRY_IMAGE:
        return frozenset({registry}) if source.get("insecure") else frozenset()
    hosts = source.get("insecure_registries") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ResourceError(f"{label}: `insecure_registries` is a list of host:port")
    return frozenset(hosts)


def _ca_pem(source: Mapping[str, Any], label: str) -> str:
    certs = source.get("ca_certs") or []
    if not isinstance(certs, list):
        raise ResourceError(f"{label}: `ca_certs` is a list")
    pems = []
    for entry in certs:
        if isinstance(entry, str):
            pems.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("cert"), str):
            pems.append(str(entry["cert"]))
        else:
            raise ResourceError(f"{label}: each of `ca_certs` is a PEM certificate "
                                "(registry-image) or {domain, cert} (docker-image)")
    return "\n".join(p.strip() + "\n" for p in pems)
