"""headwater's sync against what users reach for, in the same run (DESIGN.md §8).

    .venv/bin/python bench/sync.py [--objects 1000] [--namespaces 10] [--kind configmaps|mixed]
                                   [--repeat 1] [--concurrency 16] [--state-dir DIR]
                                   [--contenders headwater,Flux v2,kubectl,bare loop]

Generates K Namespaces and N objects (ConfigMaps, or half ConfigMaps and half
Deployments with replicas: 0), then measures, each contender against namespaces of
its own (deleted, and waited for, before the next one starts), in rotating order:

- headwater: a `Syncer` from a Git repository on the stack's Git server (read-only
  git://, as Flux: no sync tag pushed), first apply (git clone, render, plan, full
  server-side dry run, apply, inventory), then a no-op resync (git fetch included);
- Flux v2: kustomize-controller v1.9.6 and source-controller v1.7.3 (bench/_flux.py
  builds them once from their Go modules and runs them out of cluster), a GitRepository
  over ssh and a Kustomization of the same repository; first apply and a no-op
  reconcile (`reconcile.fluxcd.io/requestedAt`), each timed from the controller's own
  "Reconciliation finished in" log line;
- kubectl: `kubectl apply --server-side --force-conflicts -f DIR`, twice;
- bare loop: prebuilt dicts PATCHed as server-side apply through `Kube`, 16 at a time,
  Namespaces first, the same request as headwater's writes; twice. The floor of any
  client on this machine.

Prints one table (seconds, ms per object, ratio to Flux v2's time for the same phase,
requests per verb, CPU seconds of the client (Flux: its two controllers), the API
server, etcd, the stack's other daemons and the rest of the machine), headwater's time
per sync step, issue 12's goals with PASS/FAIL (exit status 1 when one fails) and the
API server's CPU seconds per 1,000 objects. Starts its own stack in a temporary
directory and removes it at the end, or uses the running stack of `--state-dir` and
leaves it running (everything it made there is removed: namespaces, repositories, the
Flux objects and CRDs; the controllers are stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _flux
import yaml
from _report import table
from _stack import stack

from headwater import devstack
from headwater import log as hwlog
from headwater.cd.source import Source
from headwater.cd.sync import Syncer
from headwater.devstack import gitserver, process
from headwater.kube.client import APPLY_PATCH, METADATA_ONLY, Kube
from headwater.kube.discovery import Discovery
from headwater.kube.errors import ApiError

INVENTORY_NS = "headwater-system"
WRITES = ("PATCH", "POST", "PUT", "DELETE")
VERBS = ("GET", "PATCH", "POST", "PUT", "DELETE")
FIRST, NOOP = "first apply", "no-op resync"
HEADWATER, FLUX, KUBECTL, BARE = "headwater", "Flux v2", "kubectl", "bare loop"
CONTENDERS = (HEADWATER, FLUX, KUBECTL, BARE)
# The goals of issue 12 point 7, same run and API server.
GOAL_VS_FLUX = 0.25  # headwater first apply <= 0.25 x Flux v2's first apply
GOAL_VS_BARE = 1.3   # headwater first apply <= 1.3 x the bare loop's first apply
GOAL_NOOP = 0.05     # headwater no-op resync <= 0.05 x Flux v2's no-op, with 0 writes
FLUX_NS = "flux-bench"
# Paths of the kinds this benchmark writes, for the bare loop (no discovery there).
PATHS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
}
# kubectl -v=6: `"Response" verb="PATCH" url="https://..."` (older: `PATCH https://...`)
KUBECTL_REQUEST = re.compile(
    r'"Response" verb="([A-Z]+)" url="https?://[^/"]+([^"?]*)'
    r"|\] ([A-Z]+) https?://[^/\s]+([^\s?]*)")


# --- manifests -------------------------------------------------------------------------

def namespaces(prefix: str, k: int) -> list[str]:
    width = len(str(max(k - 1, 0)))
    return [f"{prefix}{i:0{width}d}" for i in range(k)]


def configmap(name: str, ns: str, j: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench"}},
            "data": {"index": str(j),
                     "app.properties": f"name={name}\nreplicas=3\nlog.level=info\n"
                                       f"endpoint=http://svc-{j}.{ns}.svc:8080/api\n"}}


def deployment(name: str, ns: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{
                                      "name": "app", "image": "127.0.0.1:5000/none:1",
                                      "ports": [{"containerPort": 8080}]}]}}}}


def manifests(prefix: str, n: int, k: int, kind: str) -> dict[str, list[dict[str, Any]]]:
    """Namespace -> its documents, the Namespace first (kubectl applies in file order)."""
    names = namespaces(prefix, k)
    out: dict[str, list[dict[str, Any]]] = {
        ns: [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] for ns in names}
    for j in range(n):
        ns = names[j % k]
        if kind == "mixed" and j % 2:
            out[ns].append(deployment(f"deploy-{j:05d}", ns))
        else:
            out[ns].append(configmap(f"cm-{j:05d}", ns, j))
    return out


def write_manifests(docs: dict[str, list[dict[str, Any]]], directory: Path) -> None:
    """One file per namespace, many documents each."""
    directory.mkdir(parents=True, exist_ok=True)
    for ns, objs in docs.items():
        (directory / f"{ns}.yaml").write_text(
            yaml.dump_all(objs, Dumper=yaml.CSafeDumper, sort_keys=False, explicit_start=True))


def plain_git(*args: str, cwd: Path, ssh: str = "") -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    if ssh:
        env["GIT_SSH_COMMAND"] = ssh
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def publish(info: devstack.StackInfo, repo: str, docs: dict[str, list[dict[str, Any]]],
            work: Path) -> str:
    """A new repository on the stack's Git server holding `docs` on branch main (pushed
    over ssh with the deploy key: git:// is read-only); its read-only git:// URL."""
    gitserver.create_repo(info.git, repo)
    write_manifests(docs, work)
    plain_git("init", "-q", "-b", "main", cwd=work)
    plain_git("add", "-A", cwd=work)
    plain_git("commit", "-q", "-m", "bench manifests", cwd=work)
    plain_git("push", "-q", info.git.ssh_url(repo), "HEAD:main", cwd=work,
              ssh=info.git.ssh_command())
    return info.git.git_url(repo)


# --- measuring -------------------------------------------------------------------------

def classify(method: str, path: str) -> str:
    """LIST for a GET of a collection, else the verb; discovery GETs are plain GETs."""
    if method != "GET":
        return method
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return "GET"
    return "LIST" if len(rest) % 2 == 1 else "GET"


def plural(path: str) -> str:
    """The resource of a collection path: /api/v1/namespaces/x/configmaps -> configmaps."""
    return [p for p in path.split("/") if p][-1]


@dataclass
class Call:
    method: str
    path: str
    start: float
    end: float


class Recorder:
    """Wraps `kube.request` (on this instance only) to keep each request and its time."""

    def __init__(self, kube: Kube) -> None:
        self.calls: list[Call] = []
        inner = kube.request

        async def request(method: str, path: str, **kw: Any) -> Any:
            call = Call(method, path, time.perf_counter(), 0.0)
            try:
                return await inner(method, path, **kw)
            finally:
                call.end = time.perf_counter()
                self.calls.append(call)

        kube.request = request  # type: ignore[method-assign]

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        return self.calls[mark:]


def tally(calls: Iterable[tuple[str, str]]) -> Counter[str]:
    """Requests per verb, plus LIST (a subset of GET) and `LIST <resource>`."""
    out: Counter[str] = Counter()
    for method, path in calls:
        out[method] += 1
        if classify(method, path) == "LIST":
            out["LIST"] += 1
            out[f"LIST {plural(path)}"] += 1
    return out


def fmt_counts(c: Counter[str] | dict[str, float]) -> str:
    parts = []
    for verb in VERBS:
        if c.get(verb):
            extra = f" ({c['LIST']:g} LIST)" if verb == "GET" and c.get("LIST") else ""
            parts.append(f"{verb} {c[verb]:g}{extra}")
    return ", ".join(parts) or "-"


class Cpu:
    """CPU seconds used by this process and its children (git, kubectl), the API server,
    etcd, the stack's other daemons and the rest of the machine: who was busy while a
    phase ran (on a shared machine, "machine" tells when someone else was)."""

    def __init__(self, info: devstack.StackInfo) -> None:
        self.pids: dict[str, int] = {}
        for name in info.components:
            proc = process.load(name, info.layout)
            if proc:
                self.pids[name] = proc.pid
        self.flux: dict[str, int] = {}  # Flux v2's controllers: the client of its rows
        self.tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pid: int) -> float | None:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = raw[raw.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def snap(self) -> dict[str, float]:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {"client": time.process_time() + kids.ru_utime + kids.ru_stime}
        for name, pid in self.pids.items():
            if (used := self._proc(pid)) is None:
                continue
            if name in ("kube-apiserver", "etcd"):
                out[name] = used
            else:
                out["stack"] = out.get("stack", 0.0) + used
        for pid in self.flux.values():
            out["flux"] = out.get("flux", 0.0) + (self._proc(pid) or 0.0)
        # The whole machine (user, nice, system, irq, softirq, steal): what else ran.
        ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        out["machine"] = sum(int(ticks[i]) for i in (0, 1, 2, 5, 6, 7)) / self.tick
        return out

    @staticmethod
    def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
        out = {k: after[k] - before.get(k, 0.0) for k in after}
        # per-process and machine-wide ticks are sampled apart: clamp the rounding at 0
        out["other"] = max(0.0, out.pop("machine") - sum(out.values()))
        return out

    async def quiet(self, timeout: float = 20.0) -> None:
        """Wait (at most `timeout`) for a second in which the API server and etcd are
        nearly idle and the machine mostly is: the controllers have caught up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.snap()
            await asyncio.sleep(1.0)
            d = self.diff(self.snap(), before)
            busy = d.get("kube-apiserver", 0.0) + d.get("etcd", 0.0)
            if busy < 0.1 and busy + d["other"] < 0.5:
                return
        print(f"  (not quiet after {timeout:g}s: measuring anyway)", file=sys.stderr)


@dataclass
class Measure:
    seconds: float
    counts: Counter[str]
    cpu: dict[str, float]
    note: str = ""


@dataclass
class Stage:
    seconds: float = 0.0
    cpu: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    latency: list[float] = field(default_factory=list)  # of each request, seconds


class Stages:
    """Times the steps of one sync by wrapping its collaborators' methods on the
    instances (nothing in src/ changes): wall and client CPU time, requests."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.stages: dict[str, Stage] = {}

    def reset(self) -> None:
        self.stages = {}

    def _add(self, name: str, t0: float, c0: float, mark: int) -> None:
        st = self.stages.setdefault(name, Stage())
        st.seconds += time.perf_counter() - t0
        st.cpu += time.process_time() - c0
        calls = self.recorder.since(mark)
        st.requests += tally((c.method, c.path) for c in calls)
        st.latency += [c.end - c.start for c in calls]

    def wrap(self, obj: Any, attr: str, name: str) -> None:
        fn = getattr(obj, attr)
        if asyncio.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapped(*args: Any, **kw: Any) -> Any:
                t0, c0, mark = time.perf_counter(), time.process_time(), self.recorder.mark()
                try:
                    return await fn(*args, **kw)
                finally:
                    self._add(name, t0, c0, mark)
            setattr(obj, attr, awrapped)
        else:
            @functools.wraps(fn)
            def wrapped(*args: Any, **kw: Any) -> Any:
                t0, c0, mark = time.perf_counter(), time.process_time(), self.recorder.mark()
                try:
                    return fn(*args, **kw)
                finally:
                    self._add(name, t0, c0, mark)
            setattr(obj, attr, wrapped)


# --- the cluster between phases --------------------------------------------------------

async def delete_namespaces(kube: Kube, names: Iterable[str], *, wait: bool = True,
                            timeout: float = 600) -> None:
    names = list(names)
    for ns in names:
        try:
            await kube.request("DELETE", f"/api/v1/namespaces/{ns}",
                               params={"propagationPolicy": "Background"})
        except ApiError as e:
            if not e.not_found:
                raise
    deadline = time.monotonic() + timeout
    pending = set(names) if wait else set()
    while pending:
        for ns in list(pending):
            try:
                await kube.request("GET", f"/api/v1/namespaces/{ns}")
            except ApiError as e:
                if not e.not_found:
                    raise
                pending.discard(ns)
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"namespaces still terminating: {sorted(pending)}")
            await asyncio.sleep(0.5)


async def settle(kube: Kube, cpu: Cpu, names: Iterable[str], kind: str,
                 timeout: float = 300) -> None:
    """Let the controllers finish with what a phase wrote (Deployments get ReplicaSets),
    so that the next phase runs against a quiet control plane."""
    if kind == "mixed":
        deadline = time.monotonic() + timeout
        for ns in names:
            while True:
                doc = await kube.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments")
                behind = [d for d in doc.get("items") or []
                          if (d.get("status") or {}).get("observedGeneration", 0)
                          < d["metadata"].get("generation", 1)]
                if not behind:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"deployments in {ns} not observed in time")
                await asyncio.sleep(0.2)
    await cpu.quiet()


# --- contenders ------------------------------------------------------------------------

@dataclass
class Ctx:
    info: devstack.StackInfo
    args: argparse.Namespace
    admin: Kube           # deletes and waits; its requests are never counted
    cpu: Cpu
    tmp: Path
    kube_cache: Path      # kubectl's discovery cache, warmed once
    made_repos: list[str] = field(default_factory=list)
    made_namespaces: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)
    flux: _flux.Flux | None = None
    flux_objects: list[tuple[str, str]] = field(default_factory=list)  # (API path, name)


async def timed(ctx: Ctx, fn: Callable[[], Any]) -> tuple[float, dict[str, float], Any]:
    c0 = ctx.cpu.snap()
    t0 = time.perf_counter()
    out = await fn()
    seconds = time.perf_counter() - t0
    return seconds, Cpu.diff(ctx.cpu.snap(), c0), out


# The steps of a sync worth timing: (attribute of the Syncer holding the method, or "";
# method; label). "a/b" runs inside "a".
STEPS = [
    ("", "fetch", "git fetch"), ("", "_render", "render"), ("discovery", "refresh", "discovery"),
    ("applier", "apply", "apply"), ("applier", "plan", "apply/plan"),
    ("applier", "_observe", "apply/plan/LIST + drift check"),
    ("applier", "_dry_run", "apply/server-side dry run"), ("applier", "_write", "apply/write"),
    ("", "_load_inventory", "inventory read"), ("", "_save_inventory", "inventory write"),
    ("", "_status", "sync tag (git push)"),
]
OTHER = "apply/other (partition, sort)"


async def run_headwater(ctx: Ctx, run: str
                        ) -> tuple[dict[str, Measure], dict[str, dict[str, Stage]]]:
    args = ctx.args
    prefix = f"hw-{run}-"
    docs = manifests(prefix, args.objects, args.namespaces, args.kind)
    ctx.made_namespaces.update(docs)
    repo = f"bench-{run}.git"
    ctx.made_repos.append(repo)
    url = await asyncio.to_thread(publish, ctx.info, repo, docs, ctx.tmp / f"seed-{run}")
    name = f"bench-{run}"
    ctx.sources.append(name)
    out: dict[str, Measure] = {}
    stages: dict[str, dict[str, Stage]] = {}
    async with await Kube.connect(ctx.info.kubeconfig, concurrency=args.concurrency) as kube:
        rec = Recorder(kube)
        # Read-only, as Flux: fetched over git://, no sync tag pushed.
        syncer = Syncer(Source(git_url=url, name=name, git_branch="main", git_readonly=True),
                        kube=kube,
                        discovery=Discovery(), workdir=ctx.tmp / f"hw-work-{run}",
                        kubectl=ctx.info.kubectl, inventory_namespace=INVENTORY_NS,
                        log=hwlog.get("sync"))
        syncer.applier.concurrency = args.concurrency
        st = Stages(rec)
        for holder, attr, label in STEPS:
            st.wrap(getattr(syncer, holder) if holder else syncer, attr, label)
        await ctx.cpu.quiet()
        for phase in (FIRST, NOOP):
            before = Counter(kube.counts)
            mark = rec.mark()
            st.reset()
            seconds, cpu, result = await timed(ctx, syncer.sync)
            if not result.ok:
                raise SystemExit(f"headwater {phase} failed: {result.reason}: {result.message}")
            counts = Counter(kube.counts) - before
            calls = rec.since(mark)
            counts.update({k: v for k, v in tally((c.method, c.path) for c in calls).items()
                           if k not in VERBS})
            inv = f"/api/v1/namespaces/{INVENTORY_NS}/configmaps/headwater-inventory-{name}"
            other_writes = sum(1 for c in calls if c.method in WRITES and c.path != inv)
            counts["_applied"] = len(result.applied)
            counts["_other_writes"] = other_writes
            out[phase] = Measure(seconds, counts, cpu,
                                 note=f"applied {len(result.applied)}, "
                                      f"unchanged {result.unchanged}")
            stages[phase] = st.stages  # reset() starts a new dict for the next phase
            if phase == FIRST:
                await settle(ctx.admin, ctx.cpu, docs, args.kind)
    await delete_namespaces(ctx.admin, docs)
    return out, stages


async def run_kubectl(ctx: Ctx, run: str) -> dict[str, Measure]:
    args = ctx.args
    docs = manifests(f"kc-{run}-", args.objects, args.namespaces, args.kind)
    ctx.made_namespaces.update(docs)
    directory = ctx.tmp / f"kubectl-{run}"
    await asyncio.to_thread(write_manifests, docs, directory)
    cmd = [str(ctx.info.kubectl), "--kubeconfig", str(ctx.info.kubeconfig),
           "--cache-dir", str(ctx.kube_cache), "apply", "--server-side", "--force-conflicts",
           "-f", str(directory), "-v=6"]
    out: dict[str, Measure] = {}
    await ctx.cpu.quiet()
    for phase in (FIRST, NOOP):
        log = ctx.tmp / f"kubectl-{run}-{phase.replace(' ', '-')}.log"

        async def apply(log: Path = log) -> int:
            with log.open("wb") as err:
                p = await asyncio.create_subprocess_exec(
                    *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=err)
                return await p.wait()

        seconds, cpu, rc = await timed(ctx, apply)
        text = log.read_text(errors="replace")
        if rc != 0:
            raise SystemExit(f"kubectl {phase} failed ({rc}):\n{text[-3000:]}")
        calls = []
        for m in KUBECTL_REQUEST.finditer(text):
            calls.append((m.group(1) or m.group(3), m.group(2) or m.group(4)))
        out[phase] = Measure(seconds, tally(calls), cpu, note="sequential, -v=6")
        if phase == FIRST:
            await settle(ctx.admin, ctx.cpu, docs, args.kind)
    await delete_namespaces(ctx.admin, docs)
    return out


async def run_bare(ctx: Ctx, run: str) -> dict[str, Measure]:
    args = ctx.args
    docs = manifests(f"bl-{run}-", args.objects, args.namespaces, args.kind)
    ctx.made_namespaces.update(docs)
    objs = [o for group in docs.values() for o in group]
    first = [o for o in objs if o["kind"] == "Namespace"]
    rest = [o for o in objs if o["kind"] != "Namespace"]

    def path(o: dict[str, Any]) -> str:
        base, res, namespaced = PATHS[o["kind"]]
        meta = o["metadata"]
        ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
        return f"{base}{ns}/{res}/{meta['name']}"

    out: dict[str, Measure] = {}
    async with await Kube.connect(ctx.info.kubeconfig, concurrency=args.concurrency) as kube:
        gate = asyncio.Semaphore(args.concurrency)
        params = {"fieldManager": "bench", "force": "true"}

        async def one(o: dict[str, Any]) -> None:
            async with gate:
                # The same request as headwater's writes (answer not read).
                await kube.request("PATCH", path(o), params=params, body=o,
                                   content_type=APPLY_PATCH, accept=METADATA_ONLY,
                                   answer=False)

        async def loop() -> None:
            for batch in (first, rest):
                await asyncio.gather(*(one(o) for o in batch))

        await ctx.cpu.quiet()
        for phase in (FIRST, NOOP):
            before = Counter(kube.counts)
            seconds, cpu, _ = await timed(ctx, loop)
            out[phase] = Measure(seconds, Counter(kube.counts) - before, cpu,
                                 note=f"{args.concurrency} concurrent PATCH")
            if phase == FIRST:
                await settle(ctx.admin, ctx.cpu, docs, args.kind)
    await delete_namespaces(ctx.admin, docs)
    return out


async def run_flux(ctx: Ctx, run: str) -> dict[str, Measure]:
    """A GitRepository (ssh, the read-only deploy key) and a Kustomization of the whole
    repository; first apply when the Kustomization is created, no-op on a
    `reconcile.fluxcd.io/requestedAt` annotation. The seconds are the controller's own,
    from its "Reconciliation finished in" line (the fetch by source-controller is not in
    them); the CPU columns cover the wall time until that line."""
    assert ctx.flux is not None
    flux, args = ctx.flux, ctx.args
    docs = manifests(f"fx-{run}-", args.objects, args.namespaces, args.kind)
    ctx.made_namespaces.update(docs)
    repo = f"bench-fx-{run}.git"
    ctx.made_repos.append(repo)
    await asyncio.to_thread(publish, ctx.info, repo, docs, ctx.tmp / f"seed-fx-{run}")
    name = f"bench-{run}"
    git_path = f"/apis/{_flux.SOURCE_API}/namespaces/{FLUX_NS}/gitrepositories"
    ks_path = f"/apis/{_flux.KUSTOMIZE_API}/namespaces/{FLUX_NS}/kustomizations"
    ctx.flux_objects += [(ks_path, name), (git_path, name)]
    await ctx.admin.request("POST", git_path, body=_flux.git_repository(
        FLUX_NS, name, ctx.info.git.ssh_url(repo), "bench-git"))
    deadline = time.monotonic() + 120
    while True:  # the artifact is there: source-controller's fetch is not timed
        doc = await ctx.admin.request("GET", f"{git_path}/{name}")
        ready = {c["type"]: c for c in (doc.get("status") or {}).get("conditions") or []}
        if ready.get("Ready", {}).get("status") == "True":
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"GitRepository {name} not Ready: {ready.get('Ready')}")
        flux.alive()
        await asyncio.sleep(0.1)
    out: dict[str, Measure] = {}
    await ctx.cpu.quiet()
    for phase in (FIRST, NOOP):
        mark, before = flux.mark(), await flux.requests()
        c0 = ctx.cpu.snap()
        if phase == FIRST:
            await ctx.admin.request("POST", ks_path,
                                    body=_flux.kustomization(FLUX_NS, name, name))
        else:
            await ctx.admin.request(
                "PATCH", f"{ks_path}/{name}", content_type="application/merge-patch+json",
                body={"metadata": {"annotations": {
                    "reconcile.fluxcd.io/requestedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ")
                    + f".{uuid.uuid4().hex[:6]}"}}})
        seconds = await flux.reconciled(FLUX_NS, name, mark)
        cpu = Cpu.diff(ctx.cpu.snap(), c0)
        cpu["client"] = cpu.pop("flux", 0.0)
        counts = await flux.requests() - before
        out[phase] = Measure(seconds, counts, cpu,
                             note="its log line; CPU until then")
        if phase == FIRST:
            await settle(ctx.admin, ctx.cpu, docs, args.kind)
    await delete_flux_objects(ctx)
    await delete_namespaces(ctx.admin, docs)
    return out


async def delete_flux_objects(ctx: Ctx, timeout: float = 120) -> None:
    """Kustomizations first (their finalizer needs kustomize-controller running; with
    `prune: false` it deletes nothing of theirs), then GitRepositories; waits until gone."""
    for path, name in ctx.flux_objects:
        try:
            await ctx.admin.request("DELETE", f"{path}/{name}")
        except ApiError as e:
            if not e.not_found:
                raise
    deadline = time.monotonic() + timeout
    for path, name in ctx.flux_objects:
        while True:
            try:
                await ctx.admin.request("GET", f"{path}/{name}")
            except ApiError as e:
                if e.not_found:
                    break
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path}/{name} still there")
            await asyncio.sleep(0.2)
    ctx.flux_objects.clear()


async def start_flux(ctx: Ctx, stack: contextlib.AsyncExitStack) -> None:
    """The CRDs (server-side applied), a namespace with the ssh Secret, the controllers."""
    kubectl = [str(ctx.info.kubectl), "--kubeconfig", str(ctx.info.kubeconfig)]
    crds = await asyncio.to_thread(_flux.crd_files)
    stack.push_async_callback(remove_flux_crds, ctx, kubectl, crds)
    argv = [*kubectl, "apply", "--server-side", "--force-conflicts"]
    for f in crds:
        argv += ["-f", str(f)]
    await asyncio.to_thread(subprocess.run, argv, check=True, capture_output=True)
    await asyncio.to_thread(subprocess.run, [*kubectl, "wait", "--for=condition=Established",
                                             "--timeout=60s", *(a for f in crds
                                                                 for a in ("-f", str(f)))],
                            check=True, capture_output=True)
    ctx.made_namespaces.add(FLUX_NS)
    for body, path in (({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": FLUX_NS}}, "/api/v1/namespaces"),
                       (_flux.git_secret(FLUX_NS, "bench-git", key=ctx.info.git.readonly_key,
                                         known_hosts=ctx.info.git.known_hosts),
                        f"/api/v1/namespaces/{FLUX_NS}/secrets")):
        try:
            await ctx.admin.request("POST", path, body=body)
        except ApiError as e:
            if e.status != 409:
                raise
    assert ctx.info.kubeconfig  # `main` takes only a stack with a cluster
    flux = stack.enter_context(_flux.running(Path(ctx.info.kubeconfig), ctx.tmp / "flux",
                                             ctx.args.flux_arg))
    stack.push_async_callback(delete_flux_objects, ctx)  # runs before the controllers stop
    ctx.flux = flux
    ctx.cpu.flux = flux.pids()


async def remove_flux_crds(ctx: Ctx, kubectl: list[str], crds: list[Path]) -> None:
    argv = [*kubectl, "delete", "--ignore-not-found", "--wait=true"]
    for f in crds:
        argv += ["-f", str(f)]
    await asyncio.to_thread(subprocess.run, argv, check=False, capture_output=True)


# --- the run ---------------------------------------------------------------------------

async def warm_up(ctx: Ctx) -> None:
    """One small round of every request kind, so that no contender pays for a cold API
    server (first use of a kind, of server-side apply, of dry run) or kubectl's cache."""
    docs = manifests(f"warm-{uuid.uuid4().hex[:4]}-", 20, 1, "mixed")
    ns = next(iter(docs))
    for dry in (True, False):
        for o in docs[ns]:
            base, res, namespaced = PATHS[o["kind"]]
            where = f"/namespaces/{ns}" if namespaced else ""
            params = {"fieldManager": "bench-warm", "force": "true"}
            if dry and o["kind"] != "Namespace":
                params["dryRun"] = "All"
            await ctx.admin.request("PATCH", f"{base}{where}/{res}/{o['metadata']['name']}",
                                    params=params, body=o, content_type=APPLY_PATCH)
    p = await asyncio.create_subprocess_exec(
        str(ctx.info.kubectl), "--kubeconfig", str(ctx.info.kubeconfig), "--cache-dir",
        str(ctx.kube_cache), "api-resources", stdout=asyncio.subprocess.DEVNULL)
    await p.wait()
    await delete_namespaces(ctx.admin, [ns])


def median_measure(ms: list[Measure]) -> Measure:
    keys = {k for m in ms for k in m.counts}
    cpu_keys = {k for m in ms for k in m.cpu}
    return Measure(statistics.median(m.seconds for m in ms),
                   Counter({k: statistics.median(m.counts.get(k, 0) for m in ms) for k in keys}),
                   {k: statistics.median(m.cpu.get(k, 0.0) for m in ms) for k in cpu_keys},
                   ms[-1].note)


def median_stages(runs: list[dict[str, Stage]]) -> dict[str, Stage]:
    names: list[str] = []
    for r in runs:
        names += [n for n in r if n not in names]
    out = {}
    for n in names:
        got = [r.get(n, Stage()) for r in runs]
        keys = {k for s in got for k in s.requests}
        out[n] = Stage(statistics.median(s.seconds for s in got),
                       statistics.median(s.cpu for s in got),
                       Counter({k: statistics.median(s.requests.get(k, 0) for s in got)
                                for k in keys}),
                       [x for s in got for x in s.latency])
    return out


def step_rows(results: dict[str, dict[str, Measure]], stages: dict[str, dict[str, Stage]]
              ) -> list[list[str]]:
    """One row per timed step, what `apply` spent outside its timed children, and what
    the sync spent outside every step."""
    rows = []
    for _, _, name in STEPS:
        row = [name]
        for phase in (FIRST, NOOP):
            s = stages[phase].get(name, Stage())
            lat = f"{1000 * statistics.mean(s.latency):.1f}" if s.latency else "-"
            row += [f"{s.seconds:.3f}", f"{s.cpu:.3f}", fmt_counts(s.requests), lat]
        rows.append(row)
        if name == "apply/write":
            row = [OTHER]
            for phase in (FIRST, NOOP):
                st = stages[phase]
                inside = sum(st.get(n, Stage()).seconds for _, _, n in STEPS
                             if n.count("/") == 1 and n.startswith("apply/"))
                row += [f"{st.get('apply', Stage()).seconds - inside:.3f}", "", "", ""]
            rows.append(row)
    last = ["rest of sync (outside these steps)"]
    for phase in (FIRST, NOOP):
        top = sum(stages[phase].get(n, Stage()).seconds for _, _, n in STEPS if "/" not in n)
        last += [f"{results[HEADWATER][phase].seconds - top:.3f}", "", "", ""]
    return [*rows, last]


def report(args: argparse.Namespace, results: dict[str, dict[str, Measure]],
           stages: dict[str, dict[str, Stage]], loads: list[float]) -> bool:
    ref = FLUX if FLUX in results else KUBECTL if KUBECTL in results else None
    n = args.objects + args.namespaces
    rows = []
    for who in (w for w in CONTENDERS if w in results):
        for phase in (FIRST, NOOP):
            m = results[who][phase]
            cpu = " / ".join(f"{m.cpu.get(k, 0.0):.2f}" for k in
                             ("client", "kube-apiserver", "etcd", "stack", "other"))
            vs = f"{m.seconds / results[ref][phase].seconds:.3f}x" if ref else "-"
            rows.append([who, phase, f"{m.seconds:.3f}", f"{1000 * m.seconds / n:.2f}", vs,
                         fmt_counts(m.counts), cpu, m.note])
    what = (f"{args.namespaces} Namespaces + {args.objects} "
            + ("ConfigMaps" if args.kind == "configmaps" else "objects (half ConfigMaps, "
               "half Deployments with replicas: 0)"))
    print(f"\n## sync: {what}"
          + (f", median of {args.repeat} runs" if args.repeat > 1 else "") + "\n")
    print(f"load average (1 min) at each contender's start: {min(loads):.1f} to "
          f"{max(loads):.1f}, median {statistics.median(loads):.1f}\n")
    print(table(["contender", "phase", "seconds", "ms/object", f"vs {ref or '-'}",
                 "requests per verb", "CPU s: client / apiserver / etcd / stack / others",
                 "note"], rows))
    if HEADWATER not in results:
        return True
    print("\n## headwater, time per sync step\n")
    print(table(["step", "first s", "first CPU s", "first requests", "ms/request",
                 "no-op s", "no-op CPU s", "no-op requests", "ms/request"],
                step_rows(results, stages)))

    hw = results[HEADWATER]
    noop = hw[NOOP]
    writes = sum(noop.counts.get(v, 0) for v in WRITES)
    applied = noop.counts.get("_applied", 0)
    checks: list[tuple[str, float, float, str]] = []  # (label, ratio, goal, extra)
    if FLUX in results:
        fx = results[FLUX]
        checks.append((f"headwater first apply <= {GOAL_VS_FLUX}x Flux v2's",
                       hw[FIRST].seconds / fx[FIRST].seconds, GOAL_VS_FLUX,
                       f"{hw[FIRST].seconds:.3f}s / {fx[FIRST].seconds:.3f}s"))
    if BARE in results:
        bl = results[BARE]
        checks.append((f"headwater first apply <= {GOAL_VS_BARE}x the bare loop's",
                       hw[FIRST].seconds / bl[FIRST].seconds, GOAL_VS_BARE,
                       f"{hw[FIRST].seconds:.3f}s / {bl[FIRST].seconds:.3f}s"))
    if FLUX in results:
        checks.append((f"headwater no-op resync <= {GOAL_NOOP}x Flux v2's, 0 writes",
                       noop.seconds / results[FLUX][NOOP].seconds, GOAL_NOOP,
                       f"{noop.seconds:.3f}s / {results[FLUX][NOOP].seconds:.3f}s; "
                       f"writes {writes:g}, applied {applied:g}"))
    print("\n## goals (issue 12 point 7)\n")
    ok = True
    for label, ratio, goal, extra in checks:
        passed = ratio <= goal and not (label.endswith("0 writes") and (writes or applied))
        ok = ok and passed
        print(f"- {label}: {extra} = {ratio:.3f}x -> {'PASS' if passed else 'FAIL'}")
    print("\n## API server CPU seconds per 1,000 objects (the floor when it is busy)\n")
    print(table(["contender", "first apply", "no-op"],
                [[who, *(f"{1000 * results[who][p].cpu.get('kube-apiserver', 0.0) / n:.2f}"
                         for p in (FIRST, NOOP))]
                 for who in CONTENDERS if who in results]))
    return ok


async def bench(info: devstack.StackInfo, args: argparse.Namespace, own: bool) -> bool:
    order = [c for c in CONTENDERS if c in args.contenders]
    runs: dict[str, list[dict[str, Measure]]] = {who: [] for who in order}
    stage_runs: dict[str, list[dict[str, Stage]]] = {FIRST: [], NOOP: []}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hwbench-") as tmp:
        async with await Kube.connect(info.kubeconfig) as admin:
            ctx = Ctx(info, args, admin, Cpu(info), Path(tmp), Path(tmp) / "kube-cache")
            try:
                async with contextlib.AsyncExitStack() as stack:
                    if FLUX in order:
                        await start_flux(ctx, stack)
                    await warm_up(ctx)
                    for r in range(args.repeat):
                        run = f"{r}{uuid.uuid4().hex[:4]}"
                        k = r % len(order)
                        for who in order[k:] + order[:k]:  # rotate who goes first
                            loads.append(os.getloadavg()[0])
                            print(f"run {r + 1}/{args.repeat}: {who} (load {loads[-1]:.1f}) ...",
                                  file=sys.stderr)
                            if who == HEADWATER:
                                got, st = await run_headwater(ctx, run)
                                for phase in (FIRST, NOOP):
                                    stage_runs[phase].append(st[phase])
                            elif who == FLUX:
                                got = await run_flux(ctx, run)
                            elif who == KUBECTL:
                                got = await run_kubectl(ctx, run)
                            else:
                                got = await run_bare(ctx, run)
                            runs[who].append(got)
            finally:
                await cleanup(ctx, wait=not own)
    results = {who: {p: median_measure([r[p] for r in rs]) for p in (FIRST, NOOP)}
               for who, rs in runs.items()}
    stages = {p: median_stages(s) for p, s in stage_runs.items()}
    return report(args, results, stages, loads)


async def cleanup(ctx: Ctx, *, wait: bool) -> None:
    """Remove what this run made, even after a failure (a purged stack needs no wait)."""
    try:
        for name in ctx.sources:
            try:
                await ctx.admin.request(
                    "DELETE", f"/api/v1/namespaces/{INVENTORY_NS}/configmaps/"
                              f"headwater-inventory-{name}")
            except ApiError as e:
                if not e.not_found:
                    raise
        await delete_namespaces(ctx.admin, sorted(ctx.made_namespaces), wait=wait)
    finally:
        for repo in ctx.made_repos:
            shutil.rmtree(ctx.info.git.repos / repo, ignore_errors=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--objects", type=int, default=1000, help="objects besides Namespaces")
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--kind", choices=("configmaps", "mixed"), default="configmaps")
    p.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    p.add_argument("--concurrency", type=int, default=16,
                   help="concurrent requests of headwater's applier and of the bare loop")
    p.add_argument("--contenders", default=",".join(CONTENDERS),
                   help=f"comma-separated, of: {', '.join(CONTENDERS)}")
    p.add_argument("--flux-arg", action="append", default=[],
                   help="an extra flag for kustomize-controller (repeatable), e.g. "
                        "--flux-arg=--concurrent-ssa=16")
    p.add_argument("--state-dir", type=Path,
                   help="use this running stack (left running) instead of a new one")
    args = p.parse_args(argv)
    if args.objects < 1 or args.namespaces < 1 or args.repeat < 1:
        p.error("--objects, --namespaces and --repeat must be at least 1")
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if unknown := [c for c in args.contenders if c not in CONTENDERS]:
        p.error(f"unknown contender(s) {unknown}: choose among {', '.join(CONTENDERS)}")
    return args


def main() -> int:
    args = parse()
    hwlog.setup(level="warning")
    own = args.state_dir is None
    with stack(args.state_dir, devstack.Options(), what="a cluster",
               usable=lambda i: bool(i.components and i.kubeconfig)) as info:
        ok = asyncio.run(bench(info, args, own))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
