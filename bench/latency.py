"""A push to running objects and builds: webhooks against polling (issue 14 point 6).

    .venv/bin/python bench/latency.py [--state-dir /tmp/hw-shared] [--runs 20]
                                      [--poll-budget 600] [--only a,b,c] [--no-polling]
                                      [--git-state-dir DIR] [--keep-log FILE]

One `headwater server --stack DIR --cd-config FILE --checker-interval 1m` (CI and CD in
one process; the checker's tick at Concourse's resource default, so a build that starts
in under a minute was not started by polling), on the local stack, measures:

- (a) git push -> applied: a commit changing a ConfigMap, pushed over ssh to the stack's
  Git server, until the ConfigMap in the cluster has the new value. Webhook: the
  repository's post-receive hook POSTs `/api/v1/hooks/git`, the source syncs.
- (b) image push -> release commit -> applied: a new tag pushed to a registry, until the
  release commit is on the branch and until the Deployment in the cluster names the new
  image. Webhook: a registry started by the stack's code with notifications to the
  server (`devstack.registry.prepare(notifications=...)`, as `headwater up` configures
  the stack's own), the notification runs image automation (scan, release commit, push,
  sync).
- (c) git push -> build started: a pipeline of one job with a `git` resource
  (`trigger: true`), until the new build has a `start_time`.

Each next to the same with polling at headwater's defaults, which mirror the anchors'
(fluxd's `--git-poll-interval 5m` and `--registry-poll-interval 5m`, Concourse's
`check_every: 1m`): a repository without the post-receive hook, the stack's own
registry (which notifies nobody). The polling contenders run side by side within
`--poll-budget` seconds in all: each sample waits a random part of its interval
before pushing (so the push lands at a random phase of the poll), and a sample is only
started when the budget leaves room for a whole interval; the expected value
(interval / 2 + the webhook's median) is printed next to what was measured.

Latencies are counted from the moment `git push` (or the image push) returned: the
commit or the image is on the server; the push's own time is shown apart. Every
repository, namespace, inventory, image, registry and server it starts is removed or
stopped (by pid) at the end, also on failure or Ctrl-C. Never run by CI or the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from _report import table
from _stack import stack

from ci import Server, nearest_rank
from ci import _terminate as terminate
from headwater import devstack
from headwater.devstack import gitserver, hooks
from headwater.devstack.pki import write_private
from headwater.kube.client import Kube
from headwater.kube.errors import ApiError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' image pusher and notifying registry
from tests.hookhelpers import notifying_registry, push_image  # noqa: E402

LOOK_EVERY = 0.02        # seconds between two looks at the cluster, the branch, the builds
HOOK_WAIT = 60.0         # at most, per webhook sample
GIT_POLL = REGISTRY_POLL = 300.0  # headwater's defaults (fluxd's 5m)
CHECK_EVERY = CHECKER = 60.0      # Concourse's check_every, and the server's tick here
MARGIN = 60.0            # a polling sample waits its interval plus this, at most
INVENTORY_NS = "headwater-system"
SYNC_TAG = "refs/tags/headwater-sync^{commit}"
GOALS = {"a": ("p50", 1.0), "b": ("p50", 3.0), "b95": ("p95", 5.0), "c": ("p50", 0.5)}


# --- git -------------------------------------------------------------------------------

class Work:
    """A working copy of one of the benchmark's repositories, pushed over ssh."""

    def __init__(self, info: devstack.StackInfo, name: str, directory: Path, *, hook: bool):
        self.info, self.name, self.dir = info, name, directory
        self.bare = gitserver.create_repo(info.git, name)
        if not hook:  # the polling contender: nothing tells the server of a push
            (self.bare / "hooks" / "post-receive").unlink()
        self.url = info.git.ssh_url(name)
        self.env = {**os.environ, "GIT_SSH_COMMAND": info.git.ssh_command(),
                    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
        directory.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=directory, check=True)

    async def git(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "git", *args, cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"git {' '.join(args)}: {err.decode()[-2000:]}")
        return out.decode().strip()

    async def commit(self, files: dict[str, str], message: str) -> str:
        for path, text in files.items():
            (self.dir / path).write_text(text)
        await self.git("add", "-A")
        await self.git("commit", "-q", "-m", message)
        return await self.git("rev-parse", "HEAD")

    async def push(self) -> tuple[float, float]:
        """Push main (rebased on what the server has, for release commits); the time it
        returned, and how long it took."""
        head = await self.server_head()
        if head and head != await self.git("rev-parse", "HEAD~1"):
            await self.git("pull", "-q", "--rebase", self.url, "main")
        t = time.monotonic()
        await self.git("push", "-q", self.url, "HEAD:main")
        end = time.monotonic()
        return end, end - t

    async def server_head(self, ref: str = "refs/heads/main") -> str:
        proc = await asyncio.create_subprocess_exec(
            "git", "--git-dir", str(self.bare), "rev-parse", "-q", "--verify", ref,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out, _ = await proc.communicate()
        return out.decode().strip()

    async def idle(self, limit: float = 30.0) -> None:
        """Until the source's sync tag is on the branch head: its sync is over (the tag
        is pushed after the apply the sample waited for), the next sample does not
        queue behind it."""
        async def tagged() -> bool:
            return await self.server_head(SYNC_TAG) == await self.server_head()

        await until(tagged, limit)


def configmap(name: str, ns: str, value: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": name, "namespace": ns},
                           "data": {"v": value}})


def deployment(name: str, ns: str, image: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          namespace: {ns}
          annotations:
            fluxcd.io/automated: "true"
            fluxcd.io/tag.app: "semver:~1.0"
        spec:
          replicas: 0
          selector:
            matchLabels: {{app: app}}
          template:
            metadata:
              labels: {{app: app}}
            spec:
              containers:
              - name: app
                image: {image}
        """)


def pipeline(uri: str) -> str:
    return textwrap.dedent(f"""\
        resources:
        - name: src
          type: git
          source: {{uri: "{uri}", branch: main}}
        jobs:
        - name: build
          plan:
          - get: src
            trigger: true
          - task: hello
            config:
              platform: linux
              run: {{path: "true"}}
        """)


# --- what a sample waits for -----------------------------------------------------------

async def until(probe: Callable[[], Awaitable[bool]], limit: float) -> float | None:
    """The monotonic time `probe` first held (looked at every 20 ms); None after `limit`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await probe():
            return time.monotonic()
        await asyncio.sleep(LOOK_EVERY)
    return None


async def get(kube: Kube, path: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = await kube.request("GET", path)
    except ApiError as e:
        if e.not_found:
            return None
        raise
    return doc


@dataclass
class Samples:
    case: str            # a, b, c
    trigger: str         # webhook, polling
    values: list[float] = field(default_factory=list)       # seconds; inf: not in time
    release: list[float] = field(default_factory=list)      # (b): to the release commit
    push: list[float] = field(default_factory=list)         # the push's own seconds
    limit: float = HOOK_WAIT

    def add(self, seconds: float | None, push: float, release: float | None = None) -> None:
        self.values.append(math.inf if seconds is None else seconds)
        self.push.append(push)
        if release is not None or self.case == "b":
            self.release.append(math.inf if release is None else release)
        print(f"  ({self.case}) {self.trigger} {len(self.values)}: "
              f"{'-' if seconds is None else f'{seconds:.3f}'} s"
              + (f" (release commit {release:.3f} s)" if release is not None else ""),
              file=sys.stderr)


@dataclass
class Bench:
    info: devstack.StackInfo
    args: argparse.Namespace
    kube: Kube
    server: Server
    http: httpx.AsyncClient
    ns: str
    work: dict[str, Work]
    registries: dict[str, Any]   # b, bp: the devstack Registry each pushes to
    image: str                   # the image repository name (no host)
    results: list[Samples] = field(default_factory=list)

    def check_target(self) -> None:
        """The stack's post-receive hooks tell the server of `server.json`: ours."""
        target = hooks.hooks_dir(self.info.layout.root) / "server.json"
        want = self.server.url + hooks.GIT_HOOK_PATH
        try:
            got = yaml.safe_load(target.read_text()).get("url")
        except OSError:
            got = None
        if got != want:
            raise RuntimeError(f"{target} names {got!r}, not this benchmark's server "
                               f"({want}): another `headwater server --stack` took the "
                               "stack's hooks; stop it or use a stack of your own")

    # (a)
    async def sample_a(self, key: str, n: int, out: Samples) -> None:
        work, value = self.work[key], f"{key}-{n}"
        await work.commit({"cm.yaml": configmap(f"lat-{key}", self.ns, value)}, f"v {value}")
        t0, took = await work.push()

        async def applied() -> bool:
            doc = await get(self.kube, f"/api/v1/namespaces/{self.ns}/configmaps/lat-{key}")
            return bool(doc and doc.get("data", {}).get("v") == value)

        t1 = await until(applied, out.limit)
        out.add(None if t1 is None else t1 - t0, took)
        await work.idle()

    # (b)
    async def sample_b(self, key: str, n: int, out: Samples) -> None:
        reg, work = self.registries[key], self.work[key]
        head = await work.server_head()
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + n * 60))
        start = time.monotonic()
        ref = await asyncio.to_thread(push_image, reg, self.image, f"1.0.{n}", created)
        t0 = time.monotonic()
        released: list[float] = []

        async def applied() -> bool:
            if not released and await work.server_head() != head:
                released.append(time.monotonic())
            if not released:
                return False
            doc = await get(self.kube,
                            f"/apis/apps/v1/namespaces/{self.ns}/deployments/app-{key}")
            containers = ((doc or {}).get("spec", {}).get("template", {}).get("spec", {})
                          .get("containers") or [{}])
            return bool(containers[0].get("image") == ref)

        t1 = await until(applied, out.limit)
        out.add(None if t1 is None else t1 - t0, t0 - start,
                released[0] - t0 if released else None)
        await work.idle()

    # (c)
    async def builds(self, name: str) -> list[dict[str, Any]]:
        r = await self.http.get("/builds", params={"pipeline": name, "job": "build",
                                                   "limit": 10})
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()
        return rows

    async def settled(self, name: str, limit: float) -> set[int]:
        """The pipeline's builds once none is pending or running."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            rows = await self.builds(name)
            if rows and all(b["status"] in ("succeeded", "failed", "errored", "aborted")
                            for b in rows):
                return {b["id"] for b in rows}
            await asyncio.sleep(0.2)
        raise RuntimeError(f"pipeline {name}: no finished first build in {limit:g} s "
                           f"(server log: {self.server.log})")

    async def sample_c(self, key: str, n: int, out: Samples) -> None:
        name = f"lat-{key}"
        known = await self.settled(name, out.limit + MARGIN)
        work = self.work[key]
        await work.commit({"README": f"{n}\n"}, f"commit {n}")
        t0, took = await work.push()
        wall0 = time.time() - (time.monotonic() - t0)
        started: list[float] = []

        async def build_started() -> bool:
            for b in await self.builds(name):
                if b["id"] not in known and b["start_time"] is not None:
                    started.append(float(b["start_time"]))
                    return True
            return False

        t1 = await until(build_started, out.limit)
        out.add(None if t1 is None else started[0] - wall0, took)


# --- the runs --------------------------------------------------------------------------

async def hook_phase(b: Bench, cases: list[str]) -> None:
    for case in cases:
        out = Samples(case, "webhook")
        b.results.append(out)
        sample = {"a": b.sample_a, "b": b.sample_b, "c": b.sample_c}[case]
        for n in range(1, b.args.runs + 1):
            b.check_target()
            await sample(case, n, out)
            await asyncio.sleep(0.3)  # the sync or build of this sample winds down


async def poll_contender(b: Bench, case: str, interval: float, deadline: float) -> Samples:
    out = Samples(case, "polling", limit=interval + MARGIN)
    b.results.append(out)
    sample = {"a": b.sample_a, "b": b.sample_b, "c": b.sample_c}[case]
    n = 1000  # tags and values apart from the webhook's
    while True:
        n += 1
        left = deadline - time.monotonic()
        pause = random.uniform(0, interval) if out.values else 0.0  # noqa: S311
        if (out.values and left < pause + out.limit) or left < out.limit / 2:
            break
        await asyncio.sleep(pause)
        await sample(case + "p", n, out)
        if len(out.values) >= b.args.runs:
            break
    return out


async def poll_phase(b: Bench, cases: list[str]) -> None:
    deadline = time.monotonic() + b.args.poll_budget
    intervals = {"a": GIT_POLL, "b": REGISTRY_POLL, "c": CHECK_EVERY + CHECKER}
    await asyncio.gather(*(poll_contender(b, c, intervals[c], deadline) for c in cases))


def report(b: Bench, started: float) -> bool:
    hooks_median = {s.case: statistics.median(s.values) for s in b.results
                    if s.trigger == "webhook" and s.values}
    expected = {"a": GIT_POLL / 2, "b": REGISTRY_POLL / 2, "c": CHECK_EVERY / 2}
    names = {"a": "(a) git push -> applied", "b": "(b) image push -> applied",
             "c": "(c) git push -> build started"}
    rows = []
    for s in sorted(b.results, key=lambda s: (s.case, s.trigger != "webhook")):
        if not s.values:
            continue
        fin = [v for v in s.values if not math.isinf(v)]
        row = [names[s.case], s.trigger, str(len(s.values)),
               fmt(statistics.median(s.values)), fmt(nearest_rank(s.values, 0.95)),
               fmt(min(s.values)), fmt(max(s.values)),
               f"{statistics.median(s.release):.3f}" if s.release else "-",
               f"{statistics.median(s.push):.3f}",
               "-" if s.trigger == "webhook" else
               f"~{expected[s.case] + hooks_median.get(s.case, 0.0):.0f}"]
        if len(fin) < len(s.values):
            row[2] += f" ({len(s.values) - len(fin)} late)"
        rows.append(row)
    print(f"\nheadwater bench/latency.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, load average at the end "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, run took "
          f"{(time.monotonic() - started) / 60:.1f} min\n")
    print(table(["path", "trigger", "runs", "p50 s", "p95 s", "min s", "max s",
                 "release commit p50 s", "push took p50 s", "expected s"], rows))
    ok = True
    print()
    for case, key in (("a", "a"), ("b", "b"), ("b", "b95"), ("c", "c")):
        hook = [s for s in b.results if s.case == case and s.trigger == "webhook" and s.values]
        if not hook:
            continue
        s = hook[0]
        which, goal = GOALS[key]
        got = statistics.median(s.values) if which == "p50" else nearest_rank(s.values, 0.95)
        passed = got < goal
        ok &= passed
        print(f"goal ({case}) webhook {which} < {goal:g} s: {got:.3f} s -> "
              f"{'PASS' if passed else 'FAIL'}")
    return ok


def fmt(v: float) -> str:
    return "late" if math.isinf(v) else f"{v:.3f}"


# --- setup and cleanup -----------------------------------------------------------------

def cd_config(work: dict[str, Work], info: devstack.StackInfo, uid: str) -> str:
    sources = []
    for key, repo in work.items():
        if key[0] not in "ab":
            continue
        sources.append({"name": f"lat-{uid}-{key}", "git-url": repo.url,
                        "git-branch": "main", "git-ssh-key": str(info.git.deploy_key),
                        "git-known-hosts": str(info.git.known_hosts),
                        "registry-disable-scanning": key[0] == "a"})
    return yaml.safe_dump({"sources": sources})


async def seed(work: dict[str, Work], registries: dict[str, Any], ns: str,
               image: str) -> None:
    """First commits and images, before the server starts."""
    for key, repo in work.items():
        if key[0] == "a":
            await repo.commit({"cm.yaml": configmap(f"lat-{key}", ns, "0")}, "first")
        elif key[0] == "b":
            ref = await asyncio.to_thread(push_image, registries[key], image, "1.0.0",
                                          "2023-11-14T00:00:00Z")
            await repo.commit({"app.yaml": deployment(f"app-{key}", ns, ref)}, "first")
        else:
            await repo.commit({"README": "0\n"}, "first")
        await repo.push()


async def ready(b: Bench) -> None:
    """The pipelines set (git:// URLs: read-only, no key); the first syncs done."""
    for key in ("c", "cp"):
        if key in b.work:
            uri = b.info.git.git_url(b.work[key].name)
            r = await b.http.put(f"/teams/main/pipelines/lat-{key}/config",
                                 json={"config": pipeline(uri), "vars": {}})
            if r.status_code != 200:
                raise RuntimeError(f"pipeline lat-{key}: {r.status_code} {r.text[:2000]}")
            (await b.http.put(f"/teams/main/pipelines/lat-{key}/unpause")).raise_for_status()

    async def all_synced() -> bool:
        r = await b.http.get("/cd/status")
        return bool(r.status_code == 200 and all(
            (s.get("last") or {}).get("ok") for s in r.json()["sources"]))

    if await until(all_synced, 120) is None:
        raise RuntimeError(f"the sources did not sync in 120 s (server log: {b.server.log})")


async def cleanup(info: devstack.StackInfo, kube: Kube, ns: str, *, sources: list[str],
                  repos: list[Path], image: str) -> None:
    with contextlib.suppress(ApiError):
        await kube.request("DELETE", f"/api/v1/namespaces/{ns}")
    for name in sources:
        with contextlib.suppress(ApiError):
            await kube.request("DELETE", f"/api/v1/namespaces/{INVENTORY_NS}/configmaps/"
                                         f"headwater-inventory-{name}")
    for repo in repos:
        shutil.rmtree(repo, ignore_errors=True)
    # the polling contender's images on the stack's registry: its repository's links
    shutil.rmtree(info.layout.sub("registry") / "data" / "docker" / "registry" / "v2" /
                  "repositories" / image, ignore_errors=True)


async def bench(info: devstack.StackInfo, args: argparse.Namespace, tmp: Path) -> bool:
    started = time.monotonic()
    uid = uuid.uuid4().hex[:6]
    # the Git server (and the hooks target) of another stack, the cluster of this one
    gits = devstack.load(args.git_state_dir) if args.git_state_dir else info
    if gits is None:
        raise SystemExit(f"no running stack in {args.git_state_dir}")
    ns, image = f"hwlat-{uid}", f"hwlat-{uid}"
    cases = args.only
    keys = [k for c in cases for k in (c, c + "p")]
    server = Server(tmp / "server", tmp / "types", extra=(
        "--stack", str(gits.layout.root), "--kubeconfig", str(info.kubeconfig),
        "--checker-interval", f"{CHECKER:g}s", "--cd-config", str(tmp / "cd.yml")))
    (tmp / "types").mkdir()
    work: dict[str, Work] = {}
    sources = [f"lat-{uid}-{k}" for k in keys if k[0] in "ab"]
    async with await Kube.connect(info.kubeconfig) as kube:
        try:
            await kube.request("POST", "/api/v1/namespaces", body={
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            for key in keys:
                work[key] = Work(gits, f"hwlat-{uid}-{key}.git", tmp / key,
                                 hook=not key.endswith("p"))
            (tmp / "cd.yml").write_text(cd_config(work, gits, uid))
            secret = hooks.ensure_secret(gits.layout.root)
            with notifying_registry(server.url + hooks.REGISTRY_HOOK_PATH, secret) as reg:
                registries = {"b": reg, "bp": info.registry}
                await seed(work, registries, ns, image)
                # Another server's hooks target (`server.json`): ours while we run, then
                # given back (the server removes the file when it stops).
                target = hooks.hooks_dir(gits.layout.root) / "server.json"
                before = target.read_bytes() if target.exists() else None
                await asyncio.to_thread(server.start)
                try:
                    async with httpx.AsyncClient(
                            base_url=server.url + "/api/v1", timeout=60,
                            headers={"Authorization": f"Bearer {server.token}"}) as http:
                        b = Bench(gits, args, kube, server, http, ns, work,
                                  registries, image)
                        await ready(b)
                        print(f"seeded; server log {server.log}", file=sys.stderr)
                        await hook_phase(b, cases)
                        if not args.no_polling:
                            await poll_phase(b, cases)
                        return report(b, started)
                except Exception:
                    with contextlib.suppress(OSError):
                        tail = server.log.read_text().splitlines()[-40:]
                        print("the server's log ends:\n" + "\n".join(tail), file=sys.stderr)
                    raise
                finally:
                    await asyncio.to_thread(server.stop)
                    if before is not None and not target.exists():
                        write_private(target, before)
                    if args.keep_log:
                        shutil.copyfile(server.log, args.keep_log)
        finally:
            await cleanup(info, kube, ns, sources=sources, repos=[w.bare for w in work.values()],
                          image=image)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--state-dir", type=Path,
                   help="use this running stack (left running) instead of a new one")
    p.add_argument("--runs", type=int, default=20, help="webhook samples per path")
    p.add_argument("--poll-budget", type=float, default=600.0,
                   help="seconds for all the polling contenders together")
    p.add_argument("--only", default="a,b,c", help="paths to measure: a, b, c")
    p.add_argument("--no-polling", action="store_true", help="the webhook contenders only")
    p.add_argument("--git-state-dir", type=Path,
                   help="the Git server of this running stack (e.g. one without a cluster, "
                   "`headwater up --no-cluster`), the cluster of --state-dir's")
    p.add_argument("--keep-log", type=Path, help="copy the server's log there at the end")
    args = p.parse_args(argv)
    args.only = [c for c in args.only.split(",") if c]
    if not args.only or set(args.only) - {"a", "b", "c"} or args.runs < 1:
        p.error("--only takes a, b, c (comma separated); --runs at least 1")
    return args


def main() -> int:
    args = parse()
    signal.signal(signal.SIGTERM, terminate)  # unwind: every `finally` runs
    tmp = Path(tempfile.mkdtemp(prefix="hwlat-", dir="/tmp"))
    try:
        with stack(args.state_dir, devstack.Options(), what="a cluster",
                   usable=lambda i: bool(i.components and i.kubeconfig)) as info:
            ok = asyncio.run(bench(info, args, tmp))
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
