"""Image references, normalised as Docker (and so Flux and Kubernetes) normalise them.

`parse` is pure: `nginx` is `docker.io/library/nginx`, `index.docker.io` is `docker.io`,
and the first path component names a registry only if it is `localhost`, holds a `.`
or a `:` (a port), or has capitals (docker/distribution's `splitDockerDomain`).
`str()` of a reference is its canonical form, and `parse(str(r)) == r`.
Docker Hub is named `docker.io` but served from `registry-1.docker.io` (`api_host`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from headwater.errors import UserError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_LEGACY_DOCKER_HUB = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

# The productions of docker/distribution's reference grammar (reference/regexp.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_NAME_MAX = 255


class InvalidReference(UserError, ValueError):
    """Not an image reference; the message quotes it and says which part is wrong."""


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The canonical repository name, `registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host:port that serves the distribution API for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def version(self) -> str | None:
        """What to ask the registry for: the digest if there is one, else the tag."""
        return self.digest or self.tag

    def with_tag(self, tag: str) -> Reference:
        if not _TAG.fullmatch(tag):
            raise InvalidReference(f"invalid tag {tag!r} for {self.name}: a tag is up to 128 "
                                   "letters, digits, '_', '.' or '-', not starting with '.' or '-'")
        return replace(self, tag=tag, digest=None)

    def repo(self) -> Reference:
        """This reference without tag or digest: the repository itself."""
        return Reference(self.registry, self.repository)

    def familiar(self) -> str:
        """The short form Docker prints: `nginx:1.0` for `docker.io/library/nginx:1.0`."""
        name = self.name
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix(_OFFICIAL_PREFIX)
        return name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse(text: str) -> Reference:
    """`text` as a canonical reference, or `InvalidReference` naming what is wrong."""
    if not text or text != text.strip():
        raise InvalidReference(f"invalid image reference {text!r}: empty or has spaces")
    name, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise InvalidReference(
            f"invalid image reference {text!r}: the digest must be algorithm:hex, "
            "like sha256:<64 hex digits>")
    registry, remainder = _split_domain(name)
    path, tag = remainder, None
    if ":" in remainder:
        path, _, tag = remainder.rpartition(":")
        if not _TAG.fullmatch(tag):
            raise InvalidReference(
                f"invalid image reference {text!r}: bad tag {tag!r} (up to 128 letters, "
                "digits, '_', '.' or '-', not starting with '.' or '-')")
    if not _DOMAIN.fullmatch(registry):
        raise InvalidReference(f"invalid image reference {text!r}: bad registry {registry!r}")
    if registry == DOCKER_HUB and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    if not _PATH.fullmatch(path):
        raise InvalidReference(
            f"invalid image reference {text!r}: the repository {path!r} must be lowercase "
            "letters and digits, separated by '/', '.', '_', '__' or '-'")
    if len(registry) + 1 + len(path) > _NAME_MAX:
        raise InvalidReference(f"invalid image reference {text!r}: name longer than 255")
    return Reference(registry, path, tag, digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_domain = slash and (
        any(c in first for c in ".:") or first == "localhost" or first.lower() != first)
    if not is_domain:
        return DOCKER_HUB, name
    return (DOCKER_HUB if first == _LEGACY_DOCKER_HUB else first), rest


def registry_host(key: str) -> str:
    """A registry named as users write it in Docker config files and flags, as a host.

    `https://index.docker.io/v1/`, `index.docker.io`, `registry-1.docker.io` and
    `registry.hub.docker.com` all name Docker Hub: `docker.io`. Scheme and path are
    dropped (`http://127.0.0.1:5000/v2/` is `127.0.0.1:5000`); the host is lowercased.
    """
    host = key.strip()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].lower()
    if host in (_LEGACY_DOCKER_HUB, DOCKER_HUB_API, "registry.hub.docker.com"):
        return DOCKER_HUB
    return host
