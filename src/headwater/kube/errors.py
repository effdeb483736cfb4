"""Errors from the API server, with its own message kept for people to read."""

from __future__ import annotations

import json

from headwater.errors import HeadwaterError, UserError


class ApiError(HeadwaterError):
    """A request the API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, *, method: str, path: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.method = method
        self.path = path
        super().__init__(f"{message} ({status} {reason})")

    @classmethod
    def from_response(cls, status: int, body: bytes, *, method: str, path: str) -> ApiError:
        reason, message = "", body.decode(errors="replace").strip()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            reason = str(doc.get("reason", ""))
            message = str(doc.get("message", message))
        return cls(status, reason, message, method=method, path=path)

    @property
    def not_found(self) -> bool:
        return self.status == 404


class UnknownKind(UserError):
    """An apiVersion/kind the API server does not serve."""

    def __init__(self, api_version: str, kind: str) -> None:
        self.api_version, self.kind = api_version, kind
        super().__init__(
            f"the API server has no kind {kind!r} in {api_version!r}: check apiVersion and kind, "
            "or apply the CustomResourceDefinition that defines it"
        )
