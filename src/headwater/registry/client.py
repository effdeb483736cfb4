"""A small client of the OCI distribution API, over one `httpx.AsyncClient`.

One client talks to any number of registries. Per request, in this order:
- the scheme is https, or plain http for hosts matching `insecure_hosts` (loopback
  by default); Docker Hub (`docker.io`) is served from `registry-1.docker.io`;
- a token bucket (`rps`, `burst`) shared by every request of the client paces it;
- authorization is sent up front once the host has challenged us: Basic with the
  host's credentials, or a Bearer token for `repository:<repo>:pull`, fetched from
  the challenge's realm (with the credentials, if any) and cached per scope until it
  expires. A 401 is answered once (a fresh token for the scope it names, or Basic)
  and the request retried; a second 401 is an `AuthError`;
- 429 and 5xx are retried up to `max_attempts`, waiting what `Retry-After` asks (or
  a jittered exponential backoff); a 429 still there at the end is `RateLimited`.
Credentials stay with their registry (scheme, host and port, see `origin.py`): blob
redirects are followed by hand, and a hop to another origin (the storage a registry
sends blobs from) carries no Authorization, as Docker and containerd do; a tag page's
`Link: rel="next"` to another origin is refused. Blobs are streamed: `download` writes
one to a file with a running count and its digest checked, `blob` reads a small one
(a config) into memory, both bounded by `max_bytes`; manifests (4 MiB, distribution's
own limit) and tag pages (16 MiB) are read with a bound too.
`requests` counts the HTTP requests sent, by kind (`tags`, `manifest-head`,
`manifest`, `blob`, `token`), retries included: what benchmarks and tests count.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import json
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import httpx

from headwater import __version__, log
from headwater.registry import image
from headwater.registry.auth import Credentials, Keychain
from headwater.registry.challenge import Challenge, parse_challenge
from headwater.registry.errors import (
    AuthError,
    BlobTooLarge,
    NoSuitableManifest,
    NotOnRegistry,
    RateLimited,
    RegistryError,
)
from headwater.registry.image import ImageInfo
from headwater.registry.origin import origin
from headwater.registry.reference import Reference, parse
from headwater.registry.throttle import TokenBucket, backoff, retry_after

DEFAULT_INSECURE_HOSTS = frozenset({"127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*",
                                    "[::1]", "[::1]:*"})
_TOKEN_DEFAULT_TTL = 60.0  # the token spec's default when `expires_in` is missing
_TOKEN_MARGIN = 5.0  # renew a little before expiry: a request takes time
_MAX_PAGES = 10_000
_MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# What `blob` reads into memory at most: config blobs are a few KiB.
MAX_BLOB_IN_MEMORY = 16 * 1024 * 1024
# Distribution refuses manifests over 4 MiB; a page of tags is a few KiB per hundred.
MAX_MANIFEST = 4 * 1024 * 1024
MAX_PAGE = 16 * 1024 * 1024

_log = log.get("registry")


@dataclass(frozen=True)
class Descriptor:
    """What a HEAD of a manifest says: its digest, media type and size."""

    digest: str
    media_type: str
    size: int | None = None


@dataclass(frozen=True)
class Manifest:
    """The manifest a reference resolves to, and the image manifest chosen from it.

    `digest`/`media_type` are those of what the tag points at (an index for a
    multi-platform image); `image_digest`/`body` are those of the linux/amd64 image
    manifest (the same as `digest` for a single-platform image).
    """

    digest: str
    media_type: str
    image_digest: str
    image_media_type: str
    body: Mapping[str, Any]

    @property
    def config_digest(self) -> str | None:
        config = self.body.get("config")
        return str(config["digest"]) if isinstance(config, dict) and "digest" in config else None


@dataclass
class _Token:
    value: str
    expires: float  # time.monotonic()


def _guarding(guard: Callable[[httpx.URL], Awaitable[None]]) \
        -> Callable[[httpx.Request], Awaitable[None]]:
    async def hook(request: httpx.Request) -> None:
        await guard(request.url)
    return hook


class RegistryClient:
    """Use as `async with RegistryClient(...) as client:`; see the module docstring.

    `credentials` by registry host (a `Keychain`, or a mapping it normalises);
    `insecure_hosts` are fnmatch patterns of hosts spoken to over plain http; `rps` and
    `burst` set the token bucket (no limit without `rps`); `max_attempts` bounds the
    tries of one request on 429, 5xx and connection errors, `backoff_base` is the first
    backoff (doubling), and `max_wait` the longest wait we accept (a longer
    `Retry-After` fails at once with `RateLimited`); `verify` is httpx's (an SSL
    context trusting a registry's own CA); `guard` is awaited with the URL of every
    request before it is sent (token realms and blob redirects included) and may
    raise to refuse it: the CI server refuses its own machine's services this way.
    """

    def __init__(
        self,
        *,
        credentials: Mapping[str, Credentials] | None = None,
        insecure_hosts: Iterable[str] = DEFAULT_INSECURE_HOSTS,
        rps: float | None = None,
        burst: int = 10,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        max_wait: float = 60.0,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        guard: Callable[[httpx.URL], Awaitable[None]] | None = None,
    ) -> None:
        self._credentials = (credentials if isinstance(credentials, Keychain)
                             else Keychain(credentials))
        self._base_credentials = self._credentials
        self._insecure = frozenset(insecure_hosts)
        self._bucket = TokenBucket(rps, burst, time.monotonic()) if rps else None
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._max_wait = max_wait
        hooks = {"request": [_guarding(guard)]} if guard is not None else {}
        self._http = httpx.AsyncClient(
            timeout=timeout, verify=verify, event_hooks=hooks,
            headers={"User-Agent": f"headwater/{__version__}"})
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._token_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.requests: Counter[str] = Counter()

    def use_credentials(self, more: Mapping[str, Credentials]) -> None:
        """The constructor's credentials overlaid by `more` (workloads' pull secrets),
        from now on; a new call replaces the previous overlay."""
        self._credentials = self._base_credentials.merged(more)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    # -- the API -------------------------------------------------------------------

    async def tags(self, repo: Reference | str, *, page_size: int | None = None) -> list[str]:
        """All tags of `repo`, following `Link: <...>; rel="next"` pages (`?n=page_size`)."""
        ref = _ref(repo)
        return await self._pages("tags", ref, self._url(ref, "tags/list"), "tags",
                                 page_size=page_size, what=f"repository {ref.repository}")

    async def catalog(self, registry: str, *, page_size: int | None = None) -> list[str]:
        """The repositories of `registry` (`_catalog`, paged like tags); most public
        registries refuse it, private ones (distribution) serve it."""
        ref = Reference(registry, "_catalog")
        return await self._pages("catalog", ref, f"{self._base(ref)}/v2/_catalog",
                                 "repositories", page_size=page_size, what="the catalog",
                                 scope="registry:catalog:*")

    async def _pages(
        self,
        kind: str,
        ref: Reference,
        url: str,
        key: str,
        *,
        page_size: int | None,
        what: str,
        scope: str | None = None,
    ) -> list[str]:
        params = {"n": str(page_size)} if page_size else None
        items: list[str] = []
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None and next_url not in seen and len(seen) < _MAX_PAGES:
            seen.add(next_url)
            r = await self._limited(
                await self._request(kind, ref, "GET", next_url, params=params, scope=scope,
                                    stream=True), ref, what, MAX_PAGE)
            self._check(r, ref, what)
            items.extend(str(t) for t in _json(r, ref).get(key) or [])
            following = r.links.get("next", {}).get("url")
            next_url = urljoin(str(r.url), following) if following else None
            if next_url is not None and origin(next_url) != origin(url):
                raise RegistryError(
                    f"registry {ref.registry} sent the next page of {what} on another host "
                    f"({origin(next_url)}): headwater follows pages on the registry's own "
                    "host only, so its credentials go nowhere else; check the registry or "
                    "the proxy in front of it", registry=ref.registry,
                    repository=ref.repository)
            params = None  # the next link carries `n` and `last`
        return items

    async def head_manifest(self, repo: Reference | str, ref: str) -> Descriptor:
        """Digest and media type of `repo:ref` (a tag or digest), with one HEAD."""
        at = _ref(repo)
        r = await self._request("manifest-head", at, "HEAD", self._url(at, f"manifests/{ref}"),
                                headers={"Accept": image.ACCEPT})
        self._check(r, at, f"manifest {at.repository}:{ref}")
        digest = r.headers.get("Docker-Content-Digest")
        content_type = r.headers.get("Content-Type", "")
        if not digest:  # the header is optional: ask for the body and hash it
            got = await self._get_manifest(at, ref)
            return Descriptor(got[0], got[1], len(got[3]))
        size = r.headers.get("Content-Length")
        mtype = content_type.split(";", 1)[0].strip()
        return Descriptor(digest, mtype, int(size) if size and size.isdigit() else None)

    async def manifest(
        self, repo: Reference | str, ref: str, *, platform: str = "linux/amd64"
    ) -> Manifest:
        """The manifest of `repo:ref`; from an index, the one for `platform` (os/arch)."""
        at = _ref(repo)
        digest, mtype, body, _ = await self._get_manifest(at, ref)
        if mtype not in image.INDEX_TYPES:
            return Manifest(digest, mtype, digest, mtype, body)
        os, _, arch = platform.partition("/")
        chosen = image.choose_platform(body, os=os, architecture=arch)
        if chosen is None:
            raise NoSuitableManifest(
                f"no suitable manifest ({os} {arch}) in the index of {at.name}:{ref} on "
                f"{at.registry}: push an image for {platform}, or the tag is left out",
                registry=at.registry, repository=at.repository, digest=digest,
                media_type=mtype)
        child, child_type, child_body, _ = await self._get_manifest(at, str(chosen["digest"]))
        return Manifest(digest, mtype, child, child_type, child_body)

    async def manifest_bytes(self, repo: Reference | str, ref: str) -> tuple[str, str, bytes]:
        """Digest, media type and the exact bytes of the manifest `repo:ref` (an index
        stays an index): what an OCI layout stores."""
        at = _ref(repo)
        digest, mtype, _, raw = await self._get_manifest(at, ref)
        return digest, mtype, raw

    async def blob(self, repo: Reference | str, digest: str, *,
                   max_bytes: int = MAX_BLOB_IN_MEMORY) -> bytes:
        """The content of a small blob (a config), checked against its digest; more
        than `max_bytes` is `BlobTooLarge`."""
        chunks: list[bytes] = []
        await self._stream_blob(_ref(repo), digest, chunks.append, max_bytes=max_bytes)
        return b"".join(chunks)

    async def download(self, repo: Reference | str, digest: str, dest: Path, *,
                       max_bytes: int) -> int:
        """Stream a blob into the file `dest` (created or truncated), never whole in
        memory, checked against its digest; its size. More than `max_bytes` stops the
        download with `BlobTooLarge` (what was written stays for the caller to remove)."""
        with dest.open("wb") as out:
            return await self._stream_blob(_ref(repo), digest, out.write, max_bytes=max_bytes)

    async def _stream_blob(self, at: Reference, digest: str, sink: Callable[[bytes], object],
                           *, max_bytes: int) -> int:
        r = await self._request("blob", at, "GET", self._url(at, f"blobs/{digest}"),
                                follow_redirects=True, stream=True)
        try:
            if r.status_code >= 400:
                self._check(await _head_of(r), at, f"blob {digest} of {at.repository}")
            announced = r.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise self._too_large(at, digest, max_bytes)
            hasher = hashlib.sha256()
            count = 0
            async for chunk in r.aiter_bytes():
                count += len(chunk)
                if count > max_bytes:
                    raise self._too_large(at, digest, max_bytes)
                hasher.update(chunk)
                sink(chunk)
        finally:
            await r.aclose()
        _verify_hash(hasher, digest, at)
        return count

    async def _limited(self, r: httpx.Response, at: Reference, what: str,
                       limit: int) -> httpx.Response:
        """A streamed response read whole, if it is at most `limit` bytes (a hostile or
        broken registry cannot fill our memory); a RegistryError otherwise."""
        chunks: list[bytes] = []
        count = 0
        try:
            async for chunk in r.aiter_bytes():
                count += len(chunk)
                if count > limit:
                    raise RegistryError(
                        f"registry {at.registry} sent more than {limit} bytes for {what}: "
                        "that is not a manifest or tag list headwater reads; check the "
                        "registry", registry=at.registry, repository=at.repository)
                chunks.append(chunk)
        finally:
            await r.aclose()
        headers = r.headers.copy()  # the body is decoded: it must not be decoded again
        headers.pop("Content-Encoding", None)
        return httpx.Response(r.status_code, headers=headers, content=b"".join(chunks),
                              request=r.request)

    def _too_large(self, at: Reference, digest: str, max_bytes: int) -> BlobTooLarge:
        return BlobTooLarge(
            f"blob {digest} of {at.name} on {at.registry} is larger than the limit of "
            f"{max_bytes} bytes: use a smaller image, or raise the limit",
            registry=at.registry, repository=at.repository, digest=digest, limit=max_bytes)

    async def image_info(self, repo: Reference | str, ref: str) -> ImageInfo:
        """Digest and creation times of `repo:ref` (manifest, then config blob)."""
        at = _ref(repo)
        try:
            m = await self.manifest(at, ref)
        except NoSuitableManifest as e:
            return ImageInfo(e.digest, e.media_type, excluded=str(e))
        if m.image_media_type in image.SCHEMA1_TYPES:
            return ImageInfo(m.digest, m.media_type, image.times_from_schema1(m.body))
        config = m.config_digest
        if config is None:
            raise RegistryError(f"manifest {at.name}:{ref} on {at.registry} has no config: "
                                "it is not an image (an artifact?)",
                                registry=at.registry, repository=at.repository)
        return ImageInfo(m.digest, m.media_type,
                         image.times_from_config(await self.blob(at, config)))

    async def created(self, repo: Reference | str, ref: str) -> datetime | None:
        """When the image was built: the OCI then label-schema label, else `created`."""
        return (await self.image_info(repo, ref)).created

    # -- plumbing ------------------------------------------------------------------

    def _base(self, ref: Reference) -> str:
        scheme = "http" if self._insecure_host(ref.registry) else "https"
        return f"{scheme}://{ref.api_host}"

    def _url(self, ref: Reference, path: str) -> str:
        return f"{self._base(ref)}/v2/{ref.repository}/{path}"

    def _insecure_host(self, host: str) -> bool:
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self._insecure)

    async def _get_manifest(
        self, at: Reference, ref: str
    ) -> tuple[str, str, dict[str, Any], bytes]:
        r = await self._limited(
            await self._request("manifest", at, "GET", self._url(at, f"manifests/{ref}"),
                                headers={"Accept": image.ACCEPT}, stream=True),
            at, f"manifest {at.repository}:{ref}", MAX_MANIFEST)
        self._check(r, at, f"manifest {at.repository}:{ref}")
        body = _json(r, at)
        if ref.startswith("sha256:"):
            _verify(r.content, ref, at)
        digest = r.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(r.content).hexdigest())
        return digest, image.media_type(body, r.headers.get("Content-Type")), body, r.content

    async def _request(
        self,
        kind: str,
        ref: Reference,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
        scope: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with authorization, answering one 401 challenge; then, if asked, follow
        redirects with the registry's authorization kept to its own origin. A `stream`
        response is the caller's to close."""
        r, auth = await self._authorized(kind, ref, method, url, headers=headers or {},
                                         params=params, scope=scope, stream=stream)
        if follow_redirects:
            r = await self._follow(kind, ref, method, r, headers=headers or {}, auth=auth,
                                   stream=stream)
        return r

    async def _follow(self, kind: str, ref: Reference, method: str, r: httpx.Response, *,
                      headers: Mapping[str, str], auth: Mapping[str, str],
                      stream: bool) -> httpx.Response:
        home = origin(self._base(ref))
        for _ in range(_MAX_REDIRECTS):
            location = r.headers.get("Location")
            if r.status_code not in _REDIRECTS or not location:
                return r
            target = r.url.join(location)
            await r.aclose()
            # Another origin (blob storage, a CDN) never sees the registry's credentials.
            sent = {**headers, **auth} if origin(str(target)) == home else dict(headers)
            if r.status_code == 303:
                method = "GET"
            r = await self._send(kind, ref, method, str(target), headers=sent, stream=stream)
        await r.aclose()
        raise RegistryError(f"registry {ref.registry} redirected {ref.repository} more than "
                            f"{_MAX_REDIRECTS} times: check the registry's storage settings",
                            registry=ref.registry, repository=ref.repository)

    async def _authorized(
        self,
        kind: str,
        ref: Reference,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        scope: str | None,
        stream: bool,
    ) -> tuple[httpx.Response, dict[str, str]]:
        scope = scope or f"repository:{ref.repository}:pull"
        auth = await self._authorization(ref, self._challenges.get(ref.registry), scope)
        r = await self._send(kind, ref, method, url, headers={**headers, **auth},
                             params=params, stream=stream)
        if r.status_code != 401:
            return r, auth
        await r.aclose()
        challenge = parse_challenge(r.headers.get("WWW-Authenticate"))
        if challenge is None:
            raise AuthError(
                f"registry {ref.registry} answered 401 for {ref.repository} without a "
                "WWW-Authenticate challenge: check the registry's auth configuration",
                registry=ref.registry, repository=ref.repository, status=401)
        previous = self._challenges.get(ref.registry)
        self._challenges[ref.registry] = challenge
        if challenge.scheme == "basic" and previous is not None and previous.scheme == "basic":
            raise self._refused(ref, challenge)  # the password we sent was refused
        if challenge.scheme == "bearer" and challenge.scope:
            scope = challenge.scope
        auth = await self._authorization(ref, challenge, scope, fresh=True)
        r = await self._send(kind, ref, method, url, headers={**headers, **auth},
                             params=params, stream=stream)
        if r.status_code == 401:
            await r.aclose()
            raise self._refused(ref, challenge)
        return r, auth

    def _refused(self, ref: Reference, challenge: Challenge) -> AuthError:
        creds = self._credentials.get(ref.registry)
        who = f"as {creds.username!r} (from {creds.source or 'credentials'})" if creds else (
            "anonymously")
        return AuthError(
            f"registry {ref.registry} refused access to {ref.repository} {who} "
            f"({challenge.scheme} auth): check the user and password in --docker-config or "
            "the workload's imagePullSecrets, and that the user may pull this repository",
            registry=ref.registry, repository=ref.repository, status=401)

    async def _authorization(
        self, ref: Reference, challenge: Challenge | None, scope: str, *, fresh: bool = False
    ) -> dict[str, str]:
        if challenge is None:
            return {}
        creds = self._credentials.get(ref.registry)
        if challenge.scheme == "basic":
            if creds is None:
                raise AuthError(
                    f"registry {ref.registry} asks for a login (Basic auth) to read "
                    f"{ref.repository} and there are no credentials for it: add them to "
                    "--docker-config or the workload's imagePullSecrets",
                    registry=ref.registry, repository=ref.repository, status=401)
            return {"Authorization": _basic(creds)}
        if challenge.scheme != "bearer" or not challenge.realm:
            raise AuthError(
                f"registry {ref.registry} asks for {challenge.scheme} auth, which headwater "
                "does not speak (Basic and Bearer token auth only)",
                registry=ref.registry, repository=ref.repository, status=401)
        key = (ref.registry, scope)
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if fresh or token is None or token.expires <= time.monotonic():
                token = await self._fetch_token(ref, challenge, scope, creds)
                self._tokens[key] = token
        return {"Authorization": f"Bearer {token.value}"}

    async def _fetch_token(
        self, ref: Reference, challenge: Challenge, scope: str, creds: Credentials | None
    ) -> _Token:
        realm = httpx.URL(challenge.realm or "")
        if realm.scheme != "https" and not (
                realm.scheme == "http" and self._insecure_host(realm.netloc.decode())):
            raise AuthError(
                f"registry {ref.registry} sends us to the token server {realm} which is not "
                "https: add its host to the insecure hosts if that is intended",
                registry=ref.registry, repository=ref.repository, status=401)
        params = {"scope": scope, **({"service": challenge.service} if challenge.service else {})}
        headers = {}
        if creds is not None:
            headers["Authorization"] = _basic(creds)
        started = time.monotonic()
        r = await self._send("token", ref, "GET", str(realm), headers=headers, params=params)
        if r.status_code in (401, 403):
            raise AuthError(
                f"the token server of {ref.registry} ({realm.host}) refused "
                f"{'the credentials of ' + repr(creds.username) if creds else 'anonymous'} "
                f"access to {ref.repository}: check --docker-config or the workload's "
                "imagePullSecrets", registry=ref.registry, repository=ref.repository,
                status=r.status_code)
        if r.status_code != 200:
            raise RegistryError(
                f"the token server of {ref.registry} ({realm.host}) answered {r.status_code} "
                f"for {ref.repository}: try again later", registry=ref.registry,
                repository=ref.repository, status=r.status_code)
        body = _json(r, ref)
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"the token server of {ref.registry} ({realm.host}) sent no token",
                            registry=ref.registry, repository=ref.repository)
        ttl = body.get("expires_in")
        ttl = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else _TOKEN_DEFAULT_TTL
        return _Token(value, started + max(ttl - _TOKEN_MARGIN, ttl / 2))

    async def _send(
        self,
        kind: str,
        ref: Reference,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request, paced by the bucket, retried on 429/5xx and connection errors;
        redirects are answered as they come (`_follow` decides). A `stream` response's
        body is left unread, for the caller to read and close."""
        for attempt in range(1, self._max_attempts + 1):
            if self._bucket is not None:
                wait = self._bucket.reserve(time.monotonic())
                if wait > 0:
                    await asyncio.sleep(wait)
            self.requests[kind] += 1
            last = attempt == self._max_attempts
            try:
                request = self._http.build_request(method, url, headers=headers, params=params)
                r = await self._http.send(request, stream=stream)
            except httpx.TransportError as e:
                if last:
                    raise RegistryError(
                        f"cannot reach registry {ref.registry} for {ref.repository} "
                        f"({type(e).__name__}: {e}): check the image's registry host, that it "
                        "is up, and whether it speaks https or http (insecure hosts)",
                        registry=ref.registry, repository=ref.repository) from None
                await asyncio.sleep(self._backoff(attempt))
                continue
            if r.status_code != 429 and (r.status_code < 500 or r.status_code == 501):
                return r
            r = await _head_of(r)  # an error: its first bytes say enough
            hinted = retry_after(r.headers.get("Retry-After"), now=datetime.now(UTC))
            delay = hinted if hinted is not None else self._backoff(attempt)
            if last or delay > self._max_wait:
                if r.status_code == 429:
                    raise RateLimited(
                        f"registry {ref.registry} keeps answering 429 Too Many Requests for "
                        f"{ref.repository} after {attempt} attempts"
                        + (f" (Retry-After {hinted:.0f}s)" if hinted is not None else "")
                        + ": lower --registry-rps, or wait; the next scan tries again",
                        registry=ref.registry, repository=ref.repository, retry_after=hinted)
                return r
            _log.warning("registry busy, retrying", host=ref.registry, repo=ref.repository,
                         status=r.status_code, wait=round(delay, 3), attempt=attempt)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        return backoff(attempt, base=self._backoff_base, cap=self._max_wait)

    def _check(self, r: httpx.Response, ref: Reference, what: str) -> None:
        if r.status_code < 400:
            return
        codes = _error_codes(r)
        detail = f" ({', '.join(codes)})" if codes else ""
        if r.status_code == 404:
            raise NotOnRegistry(f"{what} not found on registry {ref.registry}{detail}: check the "
                           "image name and tag", registry=ref.registry,
                           repository=ref.repository, status=404)
        if r.status_code in (401, 403):
            raise AuthError(f"registry {ref.registry} denies access to {what}{detail}: check "
                            "the credentials and the user's rights on this repository",
                            registry=ref.registry, repository=ref.repository,
                            status=r.status_code)
        raise RegistryError(f"registry {ref.registry} answered {r.status_code} for {what}"
                            f"{detail}: try again later, or check the registry's logs",
                            registry=ref.registry, repository=ref.repository,
                            status=r.status_code)


async def _head_of(r: httpx.Response, limit: int = 64 * 1024) -> httpx.Response:
    """`r` with at most its first `limit` bytes read (an error's body: enough for its
    error codes, never a hostile registry's gigabytes), closed."""
    body = b""
    try:
        async for chunk in r.aiter_bytes():
            body += chunk[:limit - len(body)]
            if len(body) >= limit:
                break
    finally:
        await r.aclose()
    headers = r.headers.copy()
    headers.pop("Content-Encoding", None)
    return httpx.Response(r.status_code, headers=headers, content=body, request=r.request)


def _basic(creds: Credentials) -> str:
    pair = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _ref(repo: Reference | str) -> Reference:
    return repo if isinstance(repo, Reference) else parse(repo)


def _json(r: httpx.Response, ref: Reference) -> dict[str, Any]:
    try:
        body = json.loads(r.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RegistryError(f"registry {ref.registry} sent a body that is not a JSON object "
                            f"for {ref.repository} ({r.request.method} {r.url.path})",
                            registry=ref.registry, repository=ref.repository)
    return body


def _verify(content: bytes, digest: str, ref: Reference) -> None:
    _verify_hash(hashlib.sha256(content), digest, ref)


def _verify_hash(hasher: Any, digest: str, ref: Reference) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256":
        return  # other algorithms are legal and rare: trust the registry
    if hasher.hexdigest() != expected.lower():
        raise RegistryError(f"registry {ref.registry} sent content for {ref.repository} that "
                            f"does not match its digest {digest}: the registry or a proxy is "
                            "corrupting data", registry=ref.registry, repository=ref.repository)


def _error_codes(r: httpx.Response) -> list[str]:
    try:
        doc = json.loads(r.content)
    except ValueError:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    return [str(e.get("code")) for e in errors or [] if isinstance(e, dict) and e.get("code")]
