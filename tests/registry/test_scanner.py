"""Scanning repositories into the tag cache, counted request by request.

Against the stack's real registry, except the 429 case (a protocol peer). The clock
is a plain number the test moves; jitter is off so intervals are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
from aiohttp import web

from headwater.devstack import StackInfo
from headwater.registry import RegistryClient, Scanner
from headwater.registry.cache import INITIAL_REFRESH
from tests.registry.helpers import PeerFactory, push_image


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _scanner(
    client: RegistryClient,
    clock: Clock,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tag_concurrency: int = 8,
) -> Scanner:
    return Scanner(client, clock=clock, jitter=lambda: 0.0, include=include, exclude=exclude,
                   tag_concurrency=tag_concurrency)


def _push_repos(stack: StackInfo, make: Callable[[], str], repos: int, tags: int) -> list[str]:
    names = []
    for r in range(repos):
        name = make()
        for t in range(tags):
            push_image(stack.registry.url, name, f"1.0.{t}", payload=f"{r}-{t}".encode(),
                       created=f"2024-01-0{t + 1}T00:00:00Z")
        names.append(f"{stack.registry.host}/{name}")
    return names


async def test_a_rescan_with_nothing_new_costs_one_request_per_repository(
    stack: StackInfo, registry_repos: Callable[[], str]
) -> None:
    repos = _push_repos(stack, registry_repos, repos=4, tags=3)
    clock = Clock()
    async with RegistryClient() as client:
        scanner = _scanner(client, clock)
        first = await scanner.scan(repos)
        # The tag list, then manifest and config of each tag.
        assert client.requests == {"tags": 4, "manifest": 12, "blob": 12}
        assert set(first) == set(repos)
        for scan in first.values():
            assert (scan.fetched, scan.error) == (3, None)
            assert set(scan.new_tags) == {"1.0.0", "1.0.1", "1.0.2"}
            assert scan.images["1.0.2"].info.created == datetime(2024, 1, 3, tzinfo=UTC)

        clock.now += INITIAL_REFRESH / 2
        before = client.request_count
        again = await scanner.scan(repos)
        assert client.request_count - before == len(repos)
        assert client.requests["tags"] == 8
        for name, scan in again.items():
            assert (scan.fetched, scan.new_tags, scan.error) == (0, (), None)
            assert scan.images == first[name].images


async def test_a_new_tag_costs_its_manifest_and_config(
    stack: StackInfo, registry_repos: Callable[[], str]
) -> None:
    repos = _push_repos(stack, registry_repos, repos=2, tags=2)
    clock = Clock()
    async with RegistryClient() as client:
        scanner = _scanner(client, clock)
        await scanner.scan(repos)
        name = repos[0]
        push_image(stack.registry.url, name.split("/", 1)[1], "2.0.0", payload=b"new")
        before = dict(client.requests)
        result = await scanner.scan(repos)
    assert client.requests["tags"] - before["tags"] == 2
    assert client.requests["manifest"] - before["manifest"] == 1
    assert client.requests["blob"] - before["blob"] == 1
    assert result[name].new_tags == ("2.0.0",)
    assert result[name].fetched == 1
    assert set(result[name].images) == {"1.0.0", "1.0.1", "2.0.0"}


async def test_due_tags_are_rechecked_by_digest_and_read_again_only_when_moved(
    stack: StackInfo, registry_repo: str
) -> None:
    url = stack.registry.url
    push_image(url, registry_repo, "stable", payload=b"s", created="2024-01-01T00:00:00Z")
    push_image(url, registry_repo, "moving", payload=b"m1", created="2024-01-01T00:00:00Z")
    repo = f"{stack.registry.host}/{registry_repo}"
    clock = Clock()
    async with RegistryClient() as client:
        scanner = _scanner(client, clock)
        first = (await scanner.scan_repo(repo)).images
        moved = push_image(url, registry_repo, "moving", payload=b"m2",
                           created="2024-06-01T00:00:00Z")
        clock.now += INITIAL_REFRESH + 1
        before = dict(client.requests)
        scan = await scanner.scan_repo(repo)
    spent = {k: v - before.get(k, 0) for k, v in client.requests.items()}
    assert spent == {"tags": 1, "manifest-head": 2, "manifest": 1, "blob": 1}
    assert scan.fetched == 2
    stable, moving = scan.images["stable"], scan.images["moving"]
    assert stable.info == first["stable"].info
    assert stable.refresh == 2 * INITIAL_REFRESH  # same digest: wait twice as long
    assert moving.info.digest == moved != first["moving"].info.digest
    assert moving.info.created == datetime(2024, 6, 1, tzinfo=UTC)
    assert moving.refresh == INITIAL_REFRESH / 2  # moved: look twice as often
    assert moving.fetched == clock.now


async def test_tags_gone_from_the_registry_leave_the_cache(
    stack: StackInfo, registry_repo: str
) -> None:
    url = stack.registry.url
    push_image(url, registry_repo, "keep", payload=b"k")
    gone = push_image(url, registry_repo, "gone", payload=b"g")
    repo = f"{stack.registry.host}/{registry_repo}"
    async with RegistryClient() as client:
        scanner = _scanner(client, Clock())
        assert set((await scanner.scan_repo(repo)).images) == {"keep", "gone"}
        async with httpx.AsyncClient() as http:
            (await http.delete(f"{url}/v2/{registry_repo}/manifests/{gone}")).raise_for_status()
        scan = await scanner.scan_repo(repo)
    assert scan.entry.tags == ("keep",)
    assert set(scan.images) == {"keep"}
    cached = scanner.cache.get(repo)
    assert cached is not None and set(cached.images) == {"keep"}


async def test_include_and_exclude_globs_choose_what_is_scanned(
    stack: StackInfo, registry_repos: Callable[[], str]
) -> None:
    repos = _push_repos(stack, registry_repos, repos=2, tags=1)
    async with RegistryClient() as client:
        scanner = _scanner(client, Clock(), exclude=[repos[1]],
                           include=[f"{stack.registry.host}/test/*"])
        result = await scanner.scan([*repos, "nginx:1.25", repos[0] + ":1.0.0"])
    assert list(result) == [repos[0]]  # repos[0] once, whatever its tags; nginx not included
    assert client.requests == {"tags": 1, "manifest": 1, "blob": 1}


async def test_a_repository_that_cannot_be_listed_is_reported_and_others_still_scan(
    stack: StackInfo, registry_repos: Callable[[], str]
) -> None:
    repos = _push_repos(stack, registry_repos, repos=1, tags=1)
    missing = f"{stack.registry.host}/test/never-pushed-{registry_repos().split('-')[-1]}"
    async with RegistryClient() as client:
        result = await _scanner(client, Clock()).scan([missing, *repos])
    assert result[repos[0]].error is None
    error = result[missing].error
    assert error is not None and "not found" in error and missing.split("/", 1)[1] in error
    assert result[missing].entry.last_error == error


async def test_a_rate_limited_repository_stops_fetching_and_keeps_what_it_read(
    peer_with: PeerFactory,
) -> None:
    def handler(request: web.Request, _: int) -> web.Response:
        if request.path.endswith("/tags/list"):
            return web.json_response({"name": "app", "tags": ["1", "2", "3", "4"]})
        return web.Response(status=429, headers={"Retry-After": "3600"})

    peer = await peer_with(handler)
    async with RegistryClient() as client:
        scanner = _scanner(client, Clock(), tag_concurrency=1)
        scan = await scanner.scan_repo(peer.repo())
    assert scan.error is not None and "429" in scan.error
    assert scan.fetched == 0
    assert scan.entry.tags == ("1", "2", "3", "4")
    # The first 429 (Retry-After beyond max_wait) stopped the other fetches at once.
    assert client.requests == {"tags": 1, "manifest": 1}
