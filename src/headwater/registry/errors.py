"""What goes wrong at the registry edge, said so a person can act on it.

Every error names the registry host and, where there is one, the repository; the
message ends with what to do. Messages never carry a password or a token: they are
built from hosts, repository names, status codes and the registry's own error codes.
"""

from __future__ import annotations

from headwater.errors import HeadwaterError, UserError


class RegistryError(HeadwaterError):
    """A registry could not be read; `registry`, `repository` and `status` say where."""

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.registry = registry
        self.repository = repository
        self.status = status


class AuthError(RegistryError):
    """The registry (or its token server) refused us: no credentials, or wrong ones."""


class NotOnRegistry(RegistryError):
    """The repository, tag, manifest or blob does not exist on the registry."""


class RateLimited(RegistryError):
    """The registry kept answering 429; `retry_after` (seconds) is its last hint, if any."""

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, registry=registry, repository=repository, status=429)
        self.retry_after = retry_after


class BlobTooLarge(RegistryError):
    """A blob is larger than the limit the caller set (`limit`, in bytes)."""

    def __init__(self, message: str, *, registry: str, repository: str, digest: str,
                 limit: int) -> None:
        super().__init__(message, registry=registry, repository=repository)
        self.digest = digest
        self.limit = limit


class NoSuitableManifest(RegistryError):
    """An image index has no manifest for the platform we run (linux/amd64); `digest`
    and `media_type` are the index's."""

    def __init__(
        self, message: str, *, registry: str, repository: str, digest: str, media_type: str
    ) -> None:
        super().__init__(message, registry=registry, repository=repository)
        self.digest = digest
        self.media_type = media_type


class InvalidCredentials(UserError, ValueError):
    """A Docker config file or pull secret cannot be read; names the source, never a secret."""
