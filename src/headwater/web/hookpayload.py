"""What a webhook request says, and whether it may say it: pure functions on headers and
the raw body, no I/O.

- `forge`: which sender, from its event header. Gitea (and Forgejo) also send
  `X-GitHub-Event` and `X-Gogs-Event` for compatibility, so they are tried first.
- `verify`: the secret the request proves it holds, or None. Signatures are HMAC-SHA256
  over the raw body, hex: GitHub `X-Hub-Signature-256: sha256=<hex>`, Gitea
  `X-Gitea-Signature: <hex>` (Forgejo's and Gogs' headers of that name, or GitHub's,
  which newer Gitea sends too), the
  generic payload GitHub's header. GitLab signs nothing: it sends the secret itself in
  `X-Gitlab-Token`. Every comparison is `hmac.compare_digest`, against every secret.
- `parse_push`: the repository URLs, the ref and the new revision of a push; None for
  an event that is not a push (GitHub's `ping`, an issue...). A malformed body is a
  `PayloadError` (400) that says what is missing, never echoing the body.
- `parse_registry`: the repositories pushed in a CNCF distribution notification
  envelope (`application/vnd.docker.distribution.events.v1+json`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headwater.errors import UserError

GITHUB, GITLAB, GITEA, GENERIC = "github", "gitlab", "gitea", "generic"
_EVENT_HEADERS = ((GITEA, ("x-gitea-event", "x-forgejo-event", "x-gogs-event")),
                  (GITLAB, ("x-gitlab-event",)), (GITHUB, ("x-github-event",)))
# Each forge's URL fields of its repository object, as their docs show them.
_URL_FIELDS = ("clone_url", "ssh_url", "git_url", "html_url", "url", "svn_url",
               "git_http_url", "git_ssh_url", "http_url", "ssh_url_to_repo",
               "http_url_to_repo", "web_url", "homepage")
_ZERO = "0" * 40
MAX_URLS = 32


class PayloadError(UserError, ValueError):
    """The body is not the push it claims to be (400); the message says what is wrong."""


@dataclass(frozen=True)
class Push:
    forge: str
    urls: tuple[str, ...]  # every URL the sender gave for the repository
    ref: str               # refs/heads/main, refs/tags/v1
    after: str             # the new revision ("" when the sender gave none)

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith(
            "refs/heads/") else None

    @property
    def tag(self) -> str | None:
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith(
            "refs/tags/") else None

    @property
    def deleted(self) -> bool:
        return self.after == _ZERO


def forge(headers: Mapping[str, str]) -> str:
    """github, gitlab, gitea or generic, from the event headers (lower-case names)."""
    for name, keys in _EVENT_HEADERS:
        if any(k in headers for k in keys):
            return name
    return GENERIC


def event(kind: str, headers: Mapping[str, str]) -> str:
    """The event the sender names ("push" for the generic payload)."""
    for name, keys in _EVENT_HEADERS:
        if name == kind:
            return next((headers[k] for k in keys if k in headers), "")
    return "push"


def signature(secret: str, body: bytes) -> str:
    """HMAC-SHA256 of `body` with `secret`, hex: what GitHub and Gitea send."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _proofs(kind: str, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """(scheme, value) pairs the request offers: ("hmac", hex) or ("token", secret)."""
    out: list[tuple[str, str]] = []
    github = headers.get("x-hub-signature-256", "")
    if github.startswith("sha256="):
        out.append(("hmac", github.removeprefix("sha256=")))
    if kind == GITEA:
        out += [("hmac", headers[k]) for k in ("x-gitea-signature", "x-forgejo-signature",
                                              "x-gogs-signature") if headers.get(k)]
    if kind == GITLAB and (token := headers.get("x-gitlab-token")):
        out.append(("token", token))
    return out


def verify(kind: str, headers: Mapping[str, str], body: bytes,
           secrets: Mapping[str, str]) -> str | None:
    """The name of the secret the request proves, or None. Every secret is compared in
    constant time against every proof, whatever matched before."""
    proofs = _proofs(kind, headers)
    matched: str | None = None
    for name, secret in secrets.items():
        digest = signature(secret, body)
        for scheme, value in proofs:
            expected = digest if scheme == "hmac" else secret
            if hmac.compare_digest(value.strip().lower().encode() if scheme == "hmac"
                                   else value.encode(), expected.encode()) and matched is None:
                matched = name
    return matched


def bearer_matches(headers: Mapping[str, str], secrets: Mapping[str, str]) -> str | None:
    """The name of the secret sent as `Authorization: Bearer <secret>` (or in
    `X-Headwater-Token`), compared in constant time with each; None if none."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    offered = [given.strip()] if scheme.lower() == "bearer" else []
    if token := headers.get("x-headwater-token"):
        offered.append(token.strip())
    matched = None
    for name, secret in secrets.items():
        for value in offered:
            if hmac.compare_digest(value.encode(), secret.encode()) and matched is None:
                matched = name
    return matched


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError(f"the body is not JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise PayloadError("the body is not a JSON object")
    return doc


def _urls(*objects: Any) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for obj in objects:
        if isinstance(obj, dict):
            for key in _URL_FIELDS:
                value = obj.get(key)
                if isinstance(value, str) and value:
                    found[value] = None
    return tuple(found)[:MAX_URLS]


def parse_push(kind: str, headers: Mapping[str, str], body: bytes) -> Push | None:
    """The push a verified request announces; None when its event is not a push."""
    name = event(kind, headers).strip().lower()
    if kind in (GITHUB, GITEA) and name != "push":
        return None
    if kind == GITLAB and name not in ("push hook", "tag push hook", "system hook"):
        return None
    doc = _json(body)
    if kind == GITLAB and doc.get("object_kind") not in ("push", "tag_push"):
        return None
    if kind == GENERIC:
        raw = doc.get("urls") or []
        urls = tuple(u for u in ([doc.get("url")] + (raw if isinstance(raw, list) else []))
                     if isinstance(u, str) and u)[:MAX_URLS]
        branch = doc.get("branch")
        ref = doc.get("ref") or (f"refs/heads/{branch}" if isinstance(branch, str) and branch
                                 else "")
    else:
        urls = _urls(doc.get("repository"), doc.get("project"))
        ref = doc.get("ref") or ""
    if not urls:
        raise PayloadError(f"{kind} push: no repository URL in the body"
                           + (" (give `url`)" if kind == GENERIC else ""))
    if not isinstance(ref, str) or not ref.startswith("refs/"):
        raise PayloadError(f"{kind} push: no ref in the body (give `ref`: refs/heads/<branch> "
                           "or `branch`)" if kind == GENERIC else f"{kind} push: no `ref`")
    after = doc.get("after") or doc.get("checkout_sha") or ""
    return Push(kind, urls, ref, after if isinstance(after, str) else "")


@dataclass(frozen=True)
class ImagePush:
    host: str        # request.host: the registry as the pusher named it
    repository: str  # target.repository
    tag: str | None
    digest: str | None

    @property
    def image(self) -> str:
        return f"{self.host}/{self.repository}" if self.host else self.repository


def parse_registry(body: bytes) -> list[ImagePush]:
    """The manifest pushes of a distribution notification envelope (pulls, blob pushes
    and deletes are left out; each repository and tag once)."""
    doc = _json(body)
    events = doc.get("events")
    if not isinstance(events, list):
        raise PayloadError("registry notification: no `events` list")
    found: dict[tuple[str, str, str | None], ImagePush] = {}
    for ev in events:
        if not isinstance(ev, dict) or ev.get("action") != "push":
            continue
        target = ev.get("target") or {}
        request = ev.get("request") or {}
        if not isinstance(target, dict) or not isinstance(request, dict):
            continue
        media = str(target.get("mediaType") or "")
        repo = target.get("repository")
        if not isinstance(repo, str) or not repo or not _is_manifest(media, target):
            continue
        host = request.get("host") if isinstance(request.get("host"), str) else ""
        tag = target.get("tag") if isinstance(target.get("tag"), str) else None
        digest = target.get("digest") if isinstance(target.get("digest"), str) else None
        found.setdefault((str(host), repo, tag), ImagePush(str(host), repo, tag, digest))
    return list(found.values())


def _is_manifest(media: str, target: dict[str, Any]) -> bool:
    """A manifest or index push (an image), not one of its blobs."""
    if "manifest" in media or "image.index" in media:
        return True
    return not media and "/manifests/" in str(target.get("url") or "")
