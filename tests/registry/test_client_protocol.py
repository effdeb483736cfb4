"""Registry behaviours the stack's registry does not show, against small protocol peers
on 127.0.0.1: tag pages (distribution 3 pages tags/list, 2.8 does not), 429 with
Retry-After, 5xx, odd challenges, corrupt content."""

from __future__ import annotations

import hashlib
import json

import pytest
from aiohttp import web

from headwater.registry import (
    AuthError,
    RateLimited,
    RegistryClient,
    RegistryError,
)
from headwater.registry.push import OCI_MANIFEST
from tests.registry.helpers import Handler, PeerFactory


def _tags_pages(tags: list[str]) -> Handler:
    """tags/list as distribution 3 pages it: sorted, `n` per page, `last` to resume,
    `Link: <...>; rel="next"` while more remain."""
    def handler(request: web.Request, _: int) -> web.Response:
        n = int(request.query.get("n", "0")) or len(tags)
        after = [t for t in sorted(tags) if t > request.query.get("last", "")]
        page = after[:n]
        headers = {}
        if len(after) > n:
            headers["Link"] = f'</v2/app/tags/list?last={page[-1]}&n={n}>; rel="next"'
        return web.json_response({"name": "app", "tags": page}, headers=headers)
    return handler


async def test_tag_pages_are_followed_through_link_headers(peer_with: PeerFactory) -> None:
    peer = await peer_with(_tags_pages(["1.0.4", "1.0.0", "1.0.2", "1.0.3", "1.0.1"]))
    async with RegistryClient() as client:
        tags = await client.tags(peer.repo(), page_size=2)
    assert tags == ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]
    assert peer.seen == ["/v2/app/tags/list?n=2", "/v2/app/tags/list?last=1.0.1&n=2",
                         "/v2/app/tags/list?last=1.0.3&n=2"]
    assert client.requests == {"tags": 3}


async def test_a_link_loop_is_not_followed_forever(peer_with: PeerFactory) -> None:
    def handler(_: web.Request, __: int) -> web.Response:
        return web.json_response({"tags": ["a"]},
                                 headers={"Link": '</v2/app/tags/list?last=a>; rel="next"'})
    peer = await peer_with(handler)
    async with RegistryClient() as client:
        assert await client.tags(peer.repo()) == ["a", "a"]
    assert len(peer.seen) == 2


def _busy(times: int, status: int, retry_after: str | None) -> Handler:
    def handler(_: web.Request, n: int) -> web.Response:
        if n <= times:
            headers = {"Retry-After": retry_after} if retry_after else {}
            return web.json_response({"errors": [{"code": "TOOMANYREQUESTS"}]},
                                     status=status, headers=headers)
        return web.json_response({"name": "app", "tags": ["1"]})
    return handler


async def test_429_waits_as_long_as_retry_after_says(peer_with: PeerFactory) -> None:
    peer = await peer_with(_busy(1, 429, "1"))
    async with RegistryClient() as client:
        assert await client.tags(peer.repo()) == ["1"]
    assert client.requests == {"tags": 2}
    assert peer.times[1] - peer.times[0] >= 0.99


async def test_5xx_is_retried_with_backoff(peer_with: PeerFactory) -> None:
    peer = await peer_with(_busy(2, 503, None))
    async with RegistryClient(backoff_base=0.05) as client:
        assert await client.tags(peer.repo()) == ["1"]
    assert client.requests == {"tags": 3}
    # Jittered: the first wait is in [0.025, 0.05], the second in [0.05, 0.1].
    assert peer.times[1] - peer.times[0] >= 0.025
    assert peer.times[2] - peer.times[1] >= 0.05


async def test_a_429_that_lasts_is_rate_limited_after_bounded_attempts(
    peer_with: PeerFactory,
) -> None:
    peer = await peer_with(_busy(100, 429, None))
    async with RegistryClient(max_attempts=3, backoff_base=0.01) as client:
        with pytest.raises(RateLimited) as limited:
            await client.tags(peer.repo())
    assert client.requests == {"tags": 3}
    message = str(limited.value)
    assert peer.host in message and "app" in message and "--registry-rps" in message
    assert limited.value.retry_after is None


async def test_a_retry_after_beyond_max_wait_is_not_slept_through(peer_with: PeerFactory) -> None:
    peer = await peer_with(_busy(100, 429, "3600"))
    async with RegistryClient(max_wait=60) as client:
        with pytest.raises(RateLimited) as limited:
            await client.tags(peer.repo())
    assert client.requests == {"tags": 1}
    assert limited.value.retry_after == 3600
    assert "Retry-After 3600s" in str(limited.value)


async def test_a_5xx_that_lasts_is_a_registry_error_with_its_status(peer_with: PeerFactory) -> None:
    peer = await peer_with(_busy(100, 500, "0"))
    async with RegistryClient(max_attempts=2) as client:
        with pytest.raises(RegistryError) as failed:
            await client.tags(peer.repo())
    assert failed.value.status == 500
    assert "answered 500" in str(failed.value) and "TOOMANYREQUESTS" in str(failed.value)
    assert client.requests == {"tags": 2}


async def test_401_without_challenge_is_an_auth_error(peer_with: PeerFactory) -> None:
    peer = await peer_with(lambda _, __: web.Response(status=401))
    async with RegistryClient() as client:
        with pytest.raises(AuthError, match="without a WWW-Authenticate challenge"):
            await client.tags(peer.repo())


async def test_credentials_are_not_sent_to_a_plain_http_token_realm(peer_with: PeerFactory) -> None:
    def handler(_: web.Request, __: int) -> web.Response:
        return web.Response(status=401, headers={
            "WWW-Authenticate": 'Bearer realm="http://auth.example.com/token",service="x"'})
    peer = await peer_with(handler)
    async with RegistryClient() as client:
        with pytest.raises(AuthError, match=r"token server http://auth\.example\.com/token"):
            await client.tags(peer.repo())
    assert client.requests == {"tags": 1}


async def test_an_unknown_auth_scheme_is_an_auth_error(peer_with: PeerFactory) -> None:
    peer = await peer_with(lambda _, __: web.Response(
        status=401, headers={"WWW-Authenticate": 'Negotiate realm="x"'}))
    async with RegistryClient() as client:
        with pytest.raises(AuthError, match="negotiate auth, which headwater does not speak"):
            await client.tags(peer.repo())


async def test_content_that_does_not_match_its_digest_is_refused(peer_with: PeerFactory) -> None:
    real = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64}}).encode()
    digest = "sha256:" + hashlib.sha256(real).hexdigest()
    tampered = real.replace(b"0000", b"1111", 1)
    peer = await peer_with(lambda _, __: web.Response(body=tampered, content_type=OCI_MANIFEST))
    async with RegistryClient() as client:
        with pytest.raises(RegistryError, match="does not match its digest"):
            await client.manifest(peer.repo(), digest)
        with pytest.raises(RegistryError, match="does not match its digest"):
            await client.blob(peer.repo(), digest)


async def test_head_without_digest_header_hashes_the_manifest(peer_with: PeerFactory) -> None:
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"digest": "sha256:x"}}).encode()
    peer = await peer_with(lambda _, __: web.Response(body=body, content_type=OCI_MANIFEST))
    async with RegistryClient() as client:
        head = await client.head_manifest(peer.repo(), "1.0")
    assert head.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert head.size == len(body)
    assert client.requests == {"manifest-head": 1, "manifest": 1}
