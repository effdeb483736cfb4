"""headwater's registry scan against Flux v1's scheme, in the same run (DESIGN.md §8).

    .venv/bin/python bench/scan.py [--repos 100] [--tags 100] [--state-dir DIR]

Fills the stack's registry with R repositories x T tags (one shared layer, one config
blob per tag with its own `created` time; timed apart, not part of the measurement),
then scans all R repositories with one `RegistryClient`, phase by phase:

- first scan (empty cache);
- rescan with nothing new, right after;
- rescan after one new tag was pushed to one repository;
- rescan an hour and a bit later (a clock moved forward by 1.2 h), when every tag
  read by the first scan has passed its first refresh deadline.

Each phase runs twice: headwater's `Scanner`, and Flux v1.25.4's warmer scheme
performed with the same client (`pkg/registry/cache/warming.go`,
`repocachemanager.go`): the tag list of every repository on every pass, then for each
tag that is new or past its deadline one manifest GET and one config-blob GET
(`Remote.Manifest`), 8 tags at a time per repository, deadlines 1 h after the first
read (no jitter). Both contenders scan 4 repositories at a time, so time differences
come from requests, not from parallelism. The issue's "one manifest fetch per tag"
with no cache at all is the Flux first-scan row on every pass.

Prints one table (seconds, requests by kind, requests as a share of Flux's) and the
issue's goal with PASS/FAIL (exit status 1 when it fails). Starts a stack without
Kubernetes (git + registry) in a temporary directory and removes it at the end, or
uses the running stack of `--state-dir` and leaves it running (its registry keeps the
images; a second fill there only pushes manifests).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
from _report import table
from _stack import stack

from headwater import devstack
from headwater import log as hwlog
from headwater.registry import Credentials, RegistryClient, Scanner
from headwater.registry.cache import INITIAL_REFRESH
from headwater.registry.push import Blob, image_config, image_manifest, layer_from_bytes

PREFIX = "bench-scan"
FILL_CONCURRENCY = 32
REPO_CONCURRENCY = 4  # headwater's Scanner default; the Flux scheme gets the same
TAG_CONCURRENCY = 8  # Scanner's tag_concurrency; the brief's concurrency for Flux
LATER = 1.2 * INITIAL_REFRESH  # past every first deadline (1 h, +10% jitter at most)
BASE_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FIRST, NOOP, NEWTAG, LATE = ("first scan", "rescan, nothing new", "rescan, 1 new tag",
                             "rescan 1.2 h later")
PHASES = (FIRST, NOOP, NEWTAG, LATE)
HEADWATER, FLUX = "headwater", "Flux v1 scheme"
KINDS = ("tags", "manifest-head", "manifest", "blob")


# --- filling the registry --------------------------------------------------------------

def tag_name(t: int) -> str:
    return f"1.0.{t}"


def created(r: int, t: int) -> str:
    """Distinct per repository and tag, increasing with t."""
    at = BASE_TIME + dt.timedelta(hours=t, seconds=r)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Pusher:
    """Concurrent monolithic uploads over one httpx client; a HEAD skips blobs the
    repository has."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None, concurrency: int) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60,
                                      limits=httpx.Limits(max_connections=concurrency))
        self.gate = asyncio.Semaphore(concurrency)
        self.requests = 0
        self.layer_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, url: str | httpx.URL, **kw: object) -> httpx.Response:
        async with self.gate:
            self.requests += 1
            return await self.http.request(method, url, **kw)  # type: ignore[arg-type]

    async def blob(self, repo: str, blob: Blob) -> None:
        if (await self._send("HEAD", f"/v2/{repo}/blobs/{blob.digest}")).status_code == 200:
            return
        start = await self._send("POST", f"/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = httpx.URL(start.headers["Location"]).copy_merge_params(
            {"digest": blob.digest})
        done = await self._send("PUT", location, content=blob.data,
                                headers={"Content-Type": "application/octet-stream"})
        done.raise_for_status()

    async def image(self, repo: str, tag: str, config: Blob, layer: Blob) -> None:
        # The shared layer once per repository, before any manifest refers to it.
        async with self.layer_locks.setdefault(repo, asyncio.Lock()):
            await self.blob(repo, layer)
        await self.blob(repo, config)
        manifest = image_manifest(config, [layer])
        r = await self._send("PUT", f"/v2/{repo}/manifests/{tag}", content=manifest.data,
                             headers={"Content-Type": manifest.media_type})
        r.raise_for_status()


def config_blob(r: int, t: int, diff_id: str) -> Blob:
    return image_config([diff_id], entrypoint=["/hello"], created=created(r, t))


async def fill(pusher: Pusher, repos: list[str], tags: int, layer: Blob, diff_id: str) -> None:
    async with asyncio.TaskGroup() as group:
        for r, repo in enumerate(repos):
            for t in range(tags):
                group.create_task(
                    pusher.image(repo, tag_name(t), config_blob(r, t, diff_id), layer))


# --- the Flux v1 scheme ----------------------------------------------------------------

class FluxScheme:
    """Flux v1's warmer, reduced to its requests: every pass lists each repository's
    tags; a tag is fetched (manifest, then config blob) when it is not cached or its
    deadline has passed. Deadlines: an hour after the first read; after a re-read
    twice the interval if the digest is unchanged, half if it moved (clipped to
    [5 min, 7 days]); a tag gone from the list leaves the cache."""

    def __init__(self, client: RegistryClient, clock: Callable[[], float]) -> None:
        self.client = client
        self.clock = clock
        # repo -> tag -> (digest, fetched at, refresh interval)
        self.cache: dict[str, dict[str, tuple[str, float, float]]] = {}

    async def scan(self, repos: Iterable[str]) -> int:
        """One pass over `repos`; returns how many tags it fetched."""
        gate = asyncio.Semaphore(REPO_CONCURRENCY)

        async def bounded(repo: str) -> int:
            async with gate:
                return await self.warm(repo)

        return sum(await asyncio.gather(*(bounded(r) for r in repos)))

    async def warm(self, repo: str) -> int:
        tags = await self.client.tags(repo)
        now = self.clock()
        known = self.cache.get(repo, {})
        todo = [t for t in tags if t not in known or now > known[t][1] + known[t][2]]
        fetchers = asyncio.Semaphore(TAG_CONCURRENCY)
        fetched: dict[str, tuple[str, float, float]] = {}

        async def update(tag: str) -> None:
            async with fetchers:
                info = await self.client.image_info(repo, tag)  # manifest GET + config GET
            previous = known.get(tag)
            if previous is None:
                refresh = INITIAL_REFRESH
            elif previous[0] == info.digest:
                refresh = min(7 * 86400.0, previous[2] * 2)
            else:
                refresh = max(300.0, previous[2] / 2)
            fetched[tag] = (info.digest, now, refresh)

        async with asyncio.TaskGroup() as group:
            for tag in todo:
                group.create_task(update(tag))
        self.cache[repo] = {t: fetched.get(t) or known[t] for t in tags}
        return len(fetched)


# --- measuring -------------------------------------------------------------------------

@dataclass
class Measure:
    seconds: float
    cpu: float  # this process (the client), seconds
    requests: Counter[str]
    fetched: int

    @property
    def total(self) -> int:
        return sum(self.requests.values())


async def measure(client: RegistryClient, run: Callable[[], Awaitable[int]]) -> Measure:
    before = Counter(client.requests)
    start, cpu = time.perf_counter(), time.process_time()
    fetched = await run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = Counter(client.requests)
    after.subtract(before)
    return Measure(seconds, cpu, +after, fetched)


def by_kind(c: Counter[str]) -> str:
    order = [k for k in KINDS if c[k]] + sorted(k for k in c if k not in KINDS)
    return ", ".join(f"{k} {c[k]}" for k in order) or "-"


async def bench(info: devstack.StackInfo, args: argparse.Namespace) -> bool:
    reg = info.registry
    repos = [f"{PREFIX}/app{r:03d}" for r in range(args.repos)]
    names = [f"{reg.host}/{repo}" for repo in repos]
    layer, diff_id = layer_from_bytes({"hello": b"hello from bench/scan.py\n"})

    print(f"filling {reg.host}: {args.repos} repositories x {args.tags} tags ...",
          file=sys.stderr)
    pusher = Pusher(reg.url, reg.auth, FILL_CONCURRENCY)
    start = time.perf_counter()
    try:
        await fill(pusher, repos, args.tags, layer, diff_id)
        fill_seconds, fill_requests = time.perf_counter() - start, pusher.requests

        offset = 0.0

        def clock() -> float:
            return time.time() + offset

        credentials = ({reg.host: Credentials(*reg.auth, source="the stack's registry")}
                       if reg.auth else None)
        results: dict[tuple[str, str], Measure] = {}
        async with RegistryClient(credentials=credentials) as client:
            scanner = Scanner(client, clock=clock, concurrency=REPO_CONCURRENCY,
                              tag_concurrency=TAG_CONCURRENCY)
            flux = FluxScheme(client, clock)

            async def hw() -> int:
                scans = await scanner.scan(names)
                errors = [s.error for s in scans.values() if s.error]
                if errors:
                    raise SystemExit(f"headwater's scan failed: {errors[0]}")
                return sum(s.fetched for s in scans.values())

            async def fl() -> int:
                return await flux.scan(names)

            for phase in PHASES:
                if phase == NEWTAG:  # one new tag in the first repository, not timed
                    await pusher.image(repos[0], tag_name(args.tags),
                                       config_blob(0, args.tags, diff_id), layer)
                if phase == LATE:
                    offset = LATER
                print(f"{phase} ...", file=sys.stderr)
                results[(phase, HEADWATER)] = await measure(client, hw)
                results[(phase, FLUX)] = await measure(client, fl)
    finally:
        await pusher.aclose()
    return report(args, results, fill_seconds, fill_requests)


def report(args: argparse.Namespace, results: dict[tuple[str, str], Measure],
           fill_seconds: float, fill_requests: int) -> bool:
    r, t = args.repos, args.tags
    print(f"\n## scan: {r} repositories x {t} tags\n")
    print(f"fill (not measured): {r * t} images in {fill_seconds:.1f} s, "
          f"{fill_requests} requests\n")
    rows = []
    for phase in PHASES:
        flux = results[(phase, FLUX)]
        for who in (HEADWATER, FLUX):
            m = results[(phase, who)]
            share = f"{m.total / flux.total:.3f}x" if flux.total else "-"
            secs = f"{m.seconds / flux.seconds:.3f}x" if flux.seconds else "-"
            rows.append([phase, who, f"{m.seconds:.3f}", secs, f"{m.cpu:.2f}", str(m.total),
                         share, by_kind(m.requests), str(m.fetched)])
    print(table(["phase", "contender", "seconds", "vs Flux s", "client CPU s", "requests",
                 "vs Flux req", "requests by kind", "tags (re)read"], rows))
    noop = results[(NOOP, HEADWATER)]
    limit: int = r  # the 100 for 100 repositories: one request per repository
    ok = noop.total <= limit
    print("\n## goal of issue 5\n")
    print(f"- a rescan of {r} repos x {t} tags with nothing new costs <= {limit} requests "
          f"(the issue: 100 repos x 100 tags, <= 100): headwater {noop.total} "
          f"({by_kind(noop.requests)}) in {noop.seconds:.3f} s -> {'PASS' if ok else 'FAIL'}")
    if (r, t) != (100, 100):
        print("  (not the issue's size: the goal is scaled to one request per repository)")
    naive = {p: results[(p, FLUX)] for p in (NOOP, NEWTAG)}
    print("\nFor scale, the issue's naive scheme (one manifest fetch per tag on every pass, "
          "no cache):")
    for phase, m in naive.items():
        listed = results[(FIRST, FLUX)].fetched + (1 if phase == NEWTAG else 0)
        print(f"- {phase}: {m.requests['tags'] + listed} requests "
              f"(tags {m.requests['tags']}, manifest {listed}); with creation times "
              f"(config blob per tag, as Flux reads them) {m.requests['tags'] + 2 * listed}")
    return ok


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--repos", type=int, default=100)
    p.add_argument("--tags", type=int, default=100, help="tags per repository")
    p.add_argument("--state-dir", type=Path,
                   help="use this running stack (left running) instead of a new one")
    args = p.parse_args(argv)
    if args.repos < 1 or args.tags < 1:
        p.error("--repos and --tags must be at least 1")
    return args


def main() -> int:
    args = parse()
    hwlog.setup(level="warning")
    with stack(args.state_dir, devstack.Options(cluster=False), what="a registry",
               usable=lambda i: "registry" in i.ports) as info:
        ok = asyncio.run(bench(info, args))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
