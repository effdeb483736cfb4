"""Credentials stay with their registry, and blobs are bounded.

Each attack is a registry (a protocol peer on 127.0.0.1) that points the client at a
second peer on another port, standing for someone else's host: a redirect of a blob,
or a tag page link. The second peer records the Authorization it receives: it must
never see the registry's password or token. Blob storage reached by redirect still
serves the blob. A blob over the caller's limit stops the download, announced or not.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from headwater.registry import (
    BlobTooLarge,
    Credentials,
    NotOnRegistry,
    RegistryClient,
    RegistryError,
    push,
)
from headwater.registry.origin import origin
from headwater.registry.push import OCI_MANIFEST
from tests.registry.helpers import Handler, Peer, PeerFactory

USER, PASSWORD = "deploy", "s3cret-pw"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BLOB = b"layer bytes " * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def _creds(peer: Peer) -> dict[str, Credentials]:
    return {peer.host: Credentials(USER, PASSWORD)}


def _basic_registry(answer: Handler) -> Handler:
    """A registry with Basic auth: 401 and a challenge without the password, else
    `answer`."""
    def handler(request: web.Request, n: int) -> web.StreamResponse:
        if request.headers.get("Authorization") != BASIC:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return answer(request, n)
    return handler


def _storage(request: web.Request, _: int) -> web.Response:
    return web.Response(body=BLOB, content_type="application/octet-stream")


@pytest.mark.parametrize("status", [302, 307])
async def test_a_blob_redirected_to_another_host_is_fetched_without_credentials(
        peer_with: PeerFactory, status: int) -> None:
    storage = await peer_with(_storage)
    registry = await peer_with(_basic_registry(lambda _, __: web.Response(
        status=status, headers={"Location": f"{storage.url}/blobs/x?signature=abc"})))
    async with RegistryClient(credentials=_creds(registry)) as client:
        assert await client.blob(registry.repo(), DIGEST) == BLOB
    assert BASIC in registry.authorization
    assert storage.seen == ["/blobs/x?signature=abc"]
    assert storage.authorization == [None]


async def test_a_redirect_on_the_registry_own_host_keeps_the_credentials(
        peer_with: PeerFactory) -> None:
    def answer(request: web.Request, _: int) -> web.Response:
        if request.path.startswith("/storage/"):
            return _storage(request, 0)
        return web.Response(status=307, headers={"Location": "/storage/x"})
    registry = await peer_with(_basic_registry(answer))
    async with RegistryClient(credentials=_creds(registry)) as client:
        assert await client.blob(registry.repo(), DIGEST) == BLOB
    assert registry.seen[-1] == "/storage/x"
    assert registry.authorization[-1] == BASIC


async def test_a_redirect_back_and_forth_gives_credentials_only_to_the_registry(
        peer_with: PeerFactory) -> None:
    hops: list[str] = []
    storage = await peer_with(lambda _, __: web.Response(
        status=302, headers={"Location": hops[0]}))

    def answer(request: web.Request, _: int) -> web.Response:
        if request.path.startswith("/storage/"):
            return _storage(request, 0)
        return web.Response(status=307, headers={"Location": f"{storage.url}/bounce"})
    registry = await peer_with(_basic_registry(answer))
    hops.append(f"{registry.url}/storage/x")
    async with RegistryClient(credentials=_creds(registry)) as client:
        assert await client.blob(registry.repo(), DIGEST) == BLOB
    assert storage.authorization == [None]
    assert registry.authorization[-1] == BASIC


async def test_a_tag_page_link_to_another_host_is_refused_and_gets_nothing(
        peer_with: PeerFactory) -> None:
    attacker = await peer_with(lambda _, __: web.json_response({"tags": ["stolen"]}))
    registry = await peer_with(_basic_registry(lambda _, __: web.json_response(
        {"tags": ["1.0"]},
        headers={"Link": f'<{attacker.url}/v2/app/tags/list?last=1.0>; rel="next"'})))
    async with RegistryClient(credentials=_creds(registry)) as client:
        with pytest.raises(RegistryError, match=r"next page of repository app on another "
                                                r"host \(http://127\.0\.0\.1:\d+\)"):
            await client.tags(registry.repo())
        # A scheme-relative link is another host too.
        with pytest.raises(RegistryError, match="on another host"):
            await _tags_with_link(client, peer_with,
                                  f"//{attacker.host}/v2/app/tags/list?last=1.0")
    assert attacker.seen == []
    assert attacker.authorization == []


async def _tags_with_link(client: RegistryClient, peer_with: PeerFactory, link: str) -> None:
    registry = await peer_with(lambda _, __: web.json_response(
        {"tags": ["1.0"]}, headers={"Link": f'<{link}>; rel="next"'}))
    await client.tags(registry.repo())


async def test_an_absolute_link_on_the_registry_own_host_is_followed_with_credentials(
        peer_with: PeerFactory) -> None:
    here: list[str] = []

    def answer(request: web.Request, _: int) -> web.Response:
        if request.query.get("last"):
            return web.json_response({"tags": ["2.0"]})
        return web.json_response({"tags": ["1.0"]}, headers={
            "Link": f'<{here[0]}/v2/app/tags/list?last=1.0>; rel="next"'})
    registry = await peer_with(_basic_registry(answer))
    here.append(registry.url)
    async with RegistryClient(credentials=_creds(registry)) as client:
        assert await client.tags(registry.repo()) == ["1.0", "2.0"]
    assert registry.authorization[-1] == BASIC


async def test_the_bearer_token_goes_to_the_registry_and_the_password_to_its_token_server(
        peer_with: PeerFactory) -> None:
    token = "registry-token-123"
    token_server = await peer_with(lambda _, __: web.json_response(
        {"token": token, "expires_in": 300}))
    storage = await peer_with(_storage)

    def registry_handler(request: web.Request, _: int) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.Response(status=401, headers={"WWW-Authenticate": (
                f'Bearer realm="{token_server.url}/token",service="reg"')})
        return web.Response(status=307, headers={"Location": f"{storage.url}/blob"})
    registry = await peer_with(registry_handler)
    async with RegistryClient(credentials=_creds(registry)) as client:
        assert await client.blob(registry.repo(), DIGEST) == BLOB
    # The realm (another host, as Docker Hub's auth.docker.io) gets the password, never
    # a token; the registry gets the token, never the password; storage gets neither.
    assert token_server.authorization == [BASIC]
    assert registry.authorization == [None, f"Bearer {token}"]
    assert storage.authorization == [None]


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(100):
        yield b"x" * 1024


@pytest.mark.parametrize("announced", [True, False])
async def test_a_blob_over_the_limit_stops_the_download(
        peer_with: PeerFactory, tmp_path: Path, announced: bool) -> None:
    def handler(_: web.Request, __: int) -> web.Response:
        if announced:
            return web.Response(body=b"x" * 100 * 1024)
        return web.Response(body=_chunks())  # chunked: no Content-Length to trust
    registry = await peer_with(handler)
    dest = tmp_path / "blob"
    async with RegistryClient() as client:
        with pytest.raises(BlobTooLarge, match=r"blob sha256:0+ of 127\.0\.0\.1:\d+/app on "
                                               r".* larger than the limit of 10000 bytes"):
            await client.download(registry.repo(), "sha256:" + "0" * 64, dest,
                                  max_bytes=10_000)
        with pytest.raises(BlobTooLarge):
            await client.blob(registry.repo(), "sha256:" + "0" * 64, max_bytes=10_000)
    assert dest.stat().st_size <= 10_000


async def test_a_download_streams_to_a_file_and_checks_the_digest(
        peer_with: PeerFactory, tmp_path: Path) -> None:
    registry = await peer_with(_storage)
    async with RegistryClient() as client:
        size = await client.download(registry.repo(), DIGEST, tmp_path / "ok",
                                     max_bytes=len(BLOB))
        assert (size, (tmp_path / "ok").read_bytes()) == (len(BLOB), BLOB)
        with pytest.raises(RegistryError, match="does not match its digest"):
            await client.download(registry.repo(), "sha256:" + "1" * 64, tmp_path / "bad",
                                  max_bytes=len(BLOB))


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://r.example/v2/", "https://r.example:443/x", True),
    ("http://r.example/v2/", "http://R.EXAMPLE:80/x", True),
    ("https://r.example/v2/", "http://r.example/v2/", False),
    ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5001/v2/", False),
    ("https://r.example/v2/", "https://r.example.evil.com/v2/", False),
    ("http://[::1]:5000/", "http://[::1]:5000/v2", True),
])
def test_origins_compare_scheme_host_and_port(a: str, b: str, same: bool) -> None:
    assert (origin(a) == origin(b)) is same


async def test_a_push_upload_location_on_another_host_gets_no_credentials(
        peer_with: PeerFactory) -> None:
    storage = await peer_with(lambda _, __: web.Response(status=201))

    def answer(request: web.Request, _: int) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=404)
        return web.Response(status=202, headers={"Location": f"{storage.url}/upload/1?s=x"})
    registry = await peer_with(_basic_registry(answer))
    blob = push.Blob(BLOB, "application/octet-stream")
    await asyncio.to_thread(push.push_blobs, registry.url, "app", [blob],
                            auth=(USER, PASSWORD))
    assert registry.authorization[-1] == BASIC
    assert storage.seen == [f"/upload/1?s=x&digest={DIGEST.replace(':', '%3A')}"]
    assert storage.authorization == [None]



async def test_a_manifest_or_tag_page_over_its_limit_is_refused(peer_with: PeerFactory) -> None:
    def handler(request: web.Request, _: int) -> web.Response:
        size = 17 if "tags" in request.path else 5  # MiB: over 16 and over 4
        body = b'{"tags": [' + b'"x",' * (size * 256 * 1024) + b'"y"]}'
        return web.Response(body=body, content_type="application/json")
    registry = await peer_with(handler)
    async with RegistryClient() as client:
        with pytest.raises(RegistryError, match=r"sent more than 4194304 bytes for manifest "
                                                r"app:1"):
            await client.manifest(registry.repo(), "1")
        with pytest.raises(RegistryError, match=r"sent more than 16777216 bytes for "
                                                r"repository app"):
            await client.tags(registry.repo())


async def test_a_gzip_encoded_manifest_is_read_once_decoded(peer_with: PeerFactory) -> None:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"digest": "sha256:" + "0" * 64}}).encode()
    registry = await peer_with(lambda _, __: web.Response(
        body=gzip.compress(manifest), content_type=OCI_MANIFEST,
        headers={"Content-Encoding": "gzip"}))
    async with RegistryClient() as client:
        got = await client.manifest(registry.repo(), "1")
    assert got.body == json.loads(manifest)
    assert got.digest == "sha256:" + hashlib.sha256(manifest).hexdigest()


async def test_a_huge_error_body_is_not_read_whole(peer_with: PeerFactory) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for n in range(1000):  # 1 GiB, if the client read it all
            sent.append(n)
            yield b"e" * (1024 * 1024)
    registry = await peer_with(lambda _, __: web.Response(status=404, body=endless()))
    async with RegistryClient() as client:
        with pytest.raises(NotOnRegistry, match="not found on registry"):
            await client.blob(registry.repo(), DIGEST)
    assert len(sent) < 100
