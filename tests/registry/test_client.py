"""The registry client against the stack's real registry (Debian docker-registry 2.8)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
import pytest

from headwater.devstack import StackInfo
from headwater.registry import (
    NoSuitableManifest,
    NotOnRegistry,
    Reference,
    RegistryClient,
    RegistryError,
)
from headwater.registry.push import MANIFEST_LIST_V2, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST
from tests.registry.helpers import T1, T2, T3, push_image, push_index


@pytest.fixture
def repo(stack: StackInfo, registry_repo: str) -> Reference:
    return Reference(stack.registry.host, registry_repo)


async def test_head_gives_digest_and_media_type_of_a_docker_image(
    stack: StackInfo, repo: Reference
) -> None:
    digest = push_image(stack.registry.url, repo.repository, "1.0.0")
    async with RegistryClient() as client:
        head = await client.head_manifest(repo, "1.0.0")
        by_string = await client.head_manifest(repo.name, "1.0.0")
        by_digest = await client.head_manifest(repo, digest)
    assert head.digest == digest
    assert head.media_type == MANIFEST_V2
    assert head.size is not None and head.size > 0
    assert by_string == head == by_digest
    assert client.requests == {"manifest-head": 3}


@pytest.mark.parametrize(("labels", "created"), [
    (None, T1),
    ({"org.opencontainers.image.created": "2024-02-02T00:00:00Z"}, T2),
    ({"org.label-schema.build-date": "2024-03-03T00:00:00Z"}, T3),
    ({"org.label-schema.build-date": "2024-03-03T00:00:00Z",
      "org.opencontainers.image.created": "2024-02-02T00:00:00Z"}, T2),
    ({"org.opencontainers.image.created": "not a time"}, T1),
])
async def test_created_comes_from_the_config_blob_and_labels_win(
    stack: StackInfo, repo: Reference, labels: dict[str, str] | None, created: datetime
) -> None:
    push_image(stack.registry.url, repo.repository, "v1", created="2024-01-01T00:00:00Z",
               labels=labels)
    async with RegistryClient() as client:
        assert await client.created(repo, "v1") == created
    assert client.requests == {"manifest": 1, "blob": 1}


async def test_an_image_without_created_has_no_creation_time(
    stack: StackInfo, repo: Reference
) -> None:
    push_image(stack.registry.url, repo.repository, "v1", created=None)
    async with RegistryClient() as client:
        assert await client.created(repo, "v1") is None


async def test_oci_image_manifest_is_read(stack: StackInfo, repo: Reference) -> None:
    digest = push_image(stack.registry.url, repo.repository, "oci", oci=True,
                        created="2024-02-02T00:00:00Z")
    async with RegistryClient() as client:
        info = await client.image_info(repo, "oci")
        head = await client.head_manifest(repo, "oci")
    assert (info.digest, info.media_type, info.created) == (digest, OCI_MANIFEST, T2)
    assert head.media_type == OCI_MANIFEST


@pytest.mark.parametrize(("oci", "media_type"), [(True, OCI_INDEX), (False, MANIFEST_LIST_V2)])
async def test_from_an_index_linux_amd64_is_chosen(
    stack: StackInfo, repo: Reference, oci: bool, media_type: str
) -> None:
    index, by_platform = push_index(stack.registry.url, repo.repository, "multi", {
        "linux/arm64": "2024-01-01T00:00:00Z", "linux/amd64": "2024-02-02T00:00:00Z"}, oci=oci)
    async with RegistryClient() as client:
        manifest = await client.manifest(repo, "multi")
        info = await client.image_info(repo, "multi")
        head = await client.head_manifest(repo, "multi")
    assert (manifest.digest, manifest.media_type) == (index, media_type)
    assert manifest.image_digest == by_platform["linux/amd64"]
    assert manifest.config_digest is not None
    # The tag's digest is the index's (what HEAD says); the time is amd64's.
    assert (info.digest, info.created, info.excluded) == (index, T2, None)
    assert (head.digest, head.media_type) == (index, media_type)


async def test_an_index_without_linux_amd64_is_excluded(
    stack: StackInfo, repo: Reference
) -> None:
    index, _ = push_index(stack.registry.url, repo.repository, "arm",
                          {"linux/arm64": "2024-01-01T00:00:00Z"})
    async with RegistryClient() as client:
        with pytest.raises(NoSuitableManifest, match=r"no suitable manifest \(linux amd64\)"):
            await client.manifest(repo, "arm")
        info = await client.image_info(repo, "arm")
        arm = await client.manifest(repo, "arm", platform="linux/arm64")
    assert info.digest == index
    assert info.created is None
    assert info.excluded is not None and repo.repository in info.excluded
    assert arm.digest == index


async def test_tags_list_every_tag(stack: StackInfo, repo: Reference) -> None:
    for i in range(5):
        push_image(stack.registry.url, repo.repository, f"1.0.{i}", payload=b"same")
    async with RegistryClient() as client:
        tags = await client.tags(repo)
    assert sorted(tags) == [f"1.0.{i}" for i in range(5)]
    assert client.requests == {"tags": 1}


async def test_catalog_pages_follow_the_registry_link_headers(
    stack: StackInfo, repo: Reference
) -> None:
    # distribution 2.8 pages its catalog with `n` and `Link` (its tag lists are not paged:
    # tag pages are checked against a peer speaking distribution 3's paging).
    push_image(stack.registry.url, repo.repository, "1")
    async with RegistryClient() as client:
        paged = await client.catalog(repo.registry, page_size=1)
    assert repo.repository in paged
    assert paged == sorted(set(paged))
    assert client.requests["catalog"] == len(paged)


async def test_unknown_repository_and_tag_are_not_found_with_what_to_check(
    stack: StackInfo, repo: Reference
) -> None:
    async with RegistryClient() as client:
        with pytest.raises(NotOnRegistry) as missing_repo:
            await client.tags(repo)
        push_image(stack.registry.url, repo.repository, "1")
        with pytest.raises(NotOnRegistry) as missing_tag:
            await client.image_info(repo, "2")
        with pytest.raises(NotOnRegistry):
            await client.head_manifest(repo, "2")
    message = str(missing_repo.value)
    assert repo.registry in message and repo.repository in message
    assert "NAME_UNKNOWN" in message and "check the image name" in message
    assert missing_tag.value.status == 404
    assert "MANIFEST_UNKNOWN" in str(missing_tag.value)


async def test_rate_limit_spaces_requests_shared_by_all_callers(
    stack: StackInfo, repo: Reference
) -> None:
    push_image(stack.registry.url, repo.repository, "1")
    async with RegistryClient(rps=20, burst=2) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.head_manifest(repo, "1") for _ in range(8)))
        elapsed = time.monotonic() - started
    # Two go at once, the six others 1/20 s apart.
    assert elapsed >= 6 / 20 - 0.01
    assert client.request_count == 8


async def test_plain_http_only_for_insecure_hosts(stack: StackInfo, repo: Reference) -> None:
    async with RegistryClient(insecure_hosts=(), max_attempts=1) as client:
        with pytest.raises(RegistryError, match=r"cannot reach registry.*https or http"):
            await client.tags(repo)
    async with RegistryClient(insecure_hosts={"127.0.0.1:*"}) as client:
        with pytest.raises(NotOnRegistry):
            await client.tags(repo)


async def test_manifest_by_digest_and_config_blob_are_read(
    stack: StackInfo, repo: Reference
) -> None:
    digest = push_image(stack.registry.url, repo.repository, "1")
    async with RegistryClient() as client:
        manifest = await client.manifest(repo, digest)
        assert manifest.digest == digest
        config = manifest.config_digest
        assert config is not None
        blob = await client.blob(repo, config)
    assert httpx.Response(200, content=blob).json()["architecture"] == "amd64"
