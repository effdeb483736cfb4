"""headwater's CI server: webhook latency against Concourse's polling, and the cost of
checking many resources (issue 6 point 9, DESIGN.md §8).

    .venv/bin/python bench/ci.py [--only latency|load] [--samples 20] [--poll-samples 3]
                                 [--minutes 5] [--resources 1000] [--job put|get]

(a) latency: one `headwater server` with Concourse's ticks (`--checker-interval 10s
--scheduler-interval 10s`, lidar's and the scheduler's defaults), two pipelines of one
job each (`get: src, trigger: true` + a task running `true`); `src` is a script
resource type written as Concourse's are (bash + jq: the versions are the lines of a
file). A sample appends a line to the file, notes the time t0, and polls
`GET /api/v1/builds?pipeline=P&job=J` every 20 ms until the new build exists with a
`start_time`: latency = start_time - t0.

- webhook: `check_every: never` + `webhook_token`; the sample POSTs the webhook
  right after t0.
- polling: `check_every: 1m` (Concourse's default), no webhook; the line is
  appended at a random moment (after a pause of 0 to 60 s), and the sample waits at
  most 90 s.

(b) load: for SQLite (the default) and PostgreSQL (`--database-url`, a throwaway
Debian postgres from tests/postgres.py), a server with the same ticks and one
pipeline of R `time` resources (`source: {interval: 1m}`, `check_every: 1m`), set and
unpaused through the API. Every resource must be used by a job (Concourse's rule), so
the pipeline has one job that is never triggered: `--job put` (default) puts every
resource (the scheduler has no input to look at, the figures are the checker's),
`--job get` gets every resource with `trigger: false` (the scheduler also reads every
resource's versions on each of its rounds). After the first round of checks, the
window starts half a check interval later and lasts `--minutes`; the CPU seconds
(utime + stime + cutime + cstime from /proc) of the server process and of the
database (PostgreSQL: the postmaster, its reaped children and its live children;
SQLite runs inside the server) are read at both ends. The checks are counted from the
versions stored: every check of a `time` resource with `interval: 1m`, one minute
after the previous, stores one version stamped with the check's time, so the
versions stamped inside the window are the checks done in it (R x minutes expected).

Prints one table per part. Everything it starts (servers by their pid, postgres,
temporary directories) is stopped and removed at the end, also on failure, Ctrl-C or
SIGTERM.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from _report import table

from headwater.devstack.ports import pick

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' `file` resource type and throwaway postgres
from tests.ci.server.resource_types import FILE_TYPE  # noqa: E402
from tests.postgres import postgres  # noqa: E402

TICKS = ["--checker-interval", "10s", "--scheduler-interval", "10s"]  # Concourse's
POLL_EVERY = 0.02  # seconds between two looks at the builds
POLL_WAIT = 90.0  # at most, per polling sample
IDLE_WINDOW = 60.0  # seconds of the load server's baseline, before its pipeline
HOOK_TOKEN = "bench-hook-token"  # noqa: S105 (a throwaway server's webhook)
FINISHED = {"succeeded", "failed", "errored", "aborted"}
CLK = os.sysconf("SC_CLK_TCK")

# --- processes and CPU -----------------------------------------------------------------

def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """utime + stime of the process (all its threads), + cutime + cstime (its children
    that ended and were waited for) when `children`."""
    f = stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK


def postgres_cpu(postmaster: int) -> float:
    """The postmaster with its reaped children (backends that have ended) and the live
    ones (backends, checkpointer, walwriter, ...)."""
    total = cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        f = stat_fields(int(entry.name))
        if f is not None and int(f[1]) == postmaster:
            total += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK
    return total


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (user, nice, system, irq, softirq, steal)."""
    ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(ticks[i]) for i in (0, 1, 2, 5, 6, 7)) / CLK


def self_cpu() -> float:
    return time.process_time()


@dataclass
class Server:
    """`headwater server` in a subprocess, on a free loopback port, stopped by its pid."""

    data_dir: Path
    types_dir: Path
    database_url: str | None = None
    extra: tuple[str, ...] = ()  # more flags, after TICKS (the last of a flag wins)
    port: int = field(default_factory=lambda: pick(None, set()))
    token: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "headwater", "server", "--bind",
                f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
                "--resource-types-dir", str(self.types_dir), *TICKS]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        argv += self.extra
        with self.log.open("ab") as out:
            # A session of its own: Ctrl-C reaches this script, which stops it.
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the server did not answer in 60 s:\n{self.log.read_text()}")
        for line in self.log.read_text().splitlines():
            if line.startswith("admin token"):
                self.token = line.rsplit(" ", 1)[1]
                break
        else:
            raise RuntimeError(f"no admin token in the server's output:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", timeout=60,
                            headers={"Authorization": f"Bearer {self.token}"})


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


def set_pipeline(api: httpx.Client, name: str, config: str) -> None:
    r = api.put(f"/teams/main/pipelines/{name}/config", json={"config": config, "vars": {}},
                timeout=600)
    if r.status_code != 200:
        raise RuntimeError(f"setting pipeline {name}: {r.status_code} {r.text[:2000]}")
    api.put(f"/teams/main/pipelines/{name}/unpause").raise_for_status()


# --- (a) latency -----------------------------------------------------------------------

def latency_pipeline(versions: Path, *, webhook: bool) -> str:
    check = (f"check_every: never\n  webhook_token: {HOOK_TOKEN}" if webhook
             else "check_every: 1m")
    return textwrap.dedent("""\
        resources:
        - name: src
          type: file
          source: {file: %s}
          %s
        jobs:
        - name: build
          plan:
          - get: src
            trigger: true
          - task: hello
            config:
              platform: linux
              run: {path: "true"}
        """) % (versions, check)


def builds(api: httpx.Client, pipeline: str) -> list[dict[str, Any]]:
    r = api.get("/builds", params={"pipeline": pipeline, "job": "build", "limit": 10})
    r.raise_for_status()
    rows: list[dict[str, Any]] = r.json()
    return rows


def wait_started(api: httpx.Client, pipeline: str, known: set[int],
                 timeout: float) -> dict[str, Any] | None:
    """The first build not in `known` once it has a start_time (polled every 20 ms);
    None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for b in builds(api, pipeline):
            if b["id"] not in known and b["start_time"] is not None:
                return b
        time.sleep(POLL_EVERY)
    return None


def wait_finished(api: httpx.Client, build_id: int, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/builds/{build_id}")
        r.raise_for_status()
        if r.json()["status"] in FINISHED:
            return str(r.json()["status"])
        time.sleep(0.1)
    raise RuntimeError(f"build {build_id} did not finish in {timeout:g} s")


def append(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")


@dataclass
class Samples:
    mode: str
    values: list[float] = field(default_factory=list)  # seconds; inf: timed out
    answered: list[float] = field(default_factory=list)  # webhook: its POST took, seconds
    statuses: list[str] = field(default_factory=list)


def run_latency(args: argparse.Namespace, work: Path) -> list[Samples]:
    types = work / "resource-types"
    (types / "file").mkdir(parents=True)
    for name, text in FILE_TYPE.items():
        (types / "file" / name).write_text(text)
        (types / "file" / name).chmod(0o755)
    server = Server(work / "latency-server", types)
    out = []
    with running(server), server.api() as api:
        print(f"latency: server on {server.url} (pid {server.pid})", file=sys.stderr)
        out.append(webhook_samples(args, api, server, work / "hook-versions"))
        out.append(polling_samples(args, api, work / "poll-versions"))
    return out


def webhook_samples(args: argparse.Namespace, api: httpx.Client, server: Server,
                    versions: Path) -> Samples:
    versions.write_text("")
    set_pipeline(api, "hook", latency_pipeline(versions, webhook=True))
    url = (f"{server.url}/api/v1/teams/main/pipelines/hook/resources/src/check/webhook")
    got = Samples("webhook")
    known: set[int] = set()
    with httpx.Client(timeout=60) as hook:
        for i in range(args.samples + 1):  # the first one warms up, not counted
            append(versions, f"hook-{i}")
            t0 = time.time()
            r = hook.post(url, params={"webhook_token": HOOK_TOKEN})
            t1 = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"webhook: {r.status_code} {r.text}")
            b = wait_started(api, "hook", known, 30.0)
            if b is None:
                raise RuntimeError("webhook: no build started within 30 s")
            known.add(b["id"])
            status = wait_finished(api, b["id"])
            if i == 0:
                continue
            got.values.append(b["start_time"] - t0)
            got.answered.append(t1 - t0)
            got.statuses.append(status)
            print(f"  webhook {i}/{args.samples}: {got.values[-1] * 1000:.0f} ms, the POST "
                  f"{got.answered[-1] * 1000:.0f} ms ({status})", file=sys.stderr)
    return got


def polling_samples(args: argparse.Namespace, api: httpx.Client, versions: Path) -> Samples:
    versions.write_text("poll-0\n")
    set_pipeline(api, "poll", latency_pipeline(versions, webhook=False))
    got = Samples("polling")
    # The first check (at the next checker tick) finds poll-0 and builds it: not counted.
    first = wait_started(api, "poll", set(), 30.0)
    if first is None:
        raise RuntimeError("polling: the first check made no build within 30 s")
    known = {first["id"]}
    wait_finished(api, first["id"])
    rng = random.Random()  # noqa: S311 (moments to sample at, not secrets)
    for i in range(1, args.poll_samples + 1):
        pause = rng.uniform(0.0, 60.0)
        print(f"  polling {i}/{args.poll_samples}: appending in {pause:.0f} s ...",
              file=sys.stderr)
        time.sleep(pause)
        append(versions, f"poll-{i}")
        t0 = time.time()
        b = wait_started(api, "poll", known, POLL_WAIT)
        if b is None:
            got.values.append(math.inf)
            got.statuses.append("none")
            print(f"  polling {i}: no build within {POLL_WAIT:g} s", file=sys.stderr)
            late = wait_started(api, "poll", known, POLL_WAIT)  # before the next sample
            if late is None:
                raise RuntimeError("polling: no build in 180 s; stopping")
            known.add(late["id"])
            wait_finished(api, late["id"])
            continue
        known.add(b["id"])
        got.values.append(b["start_time"] - t0)
        got.statuses.append(wait_finished(api, b["id"]))
        print(f"  polling {i}: {got.values[-1]:.1f} s ({got.statuses[-1]})", file=sys.stderr)
    return got


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fmt_s(v: float) -> str:
    if math.isinf(v):
        return f"> {POLL_WAIT:g}"
    return f"{v:.3f}"


def latency_report(results: list[Samples]) -> None:
    base = statistics.median(results[0].values)
    rows = []
    for s in results:
        med = statistics.median(s.values)
        bad = sum(1 for st in s.statuses if st != "succeeded")
        rows.append([s.mode, str(len(s.values)), fmt_s(med), fmt_s(nearest_rank(s.values, 0.9)),
                     fmt_s(max(s.values)), fmt_s(min(s.values)),
                     "-" if math.isinf(med) else f"{med / base:.1f}x",
                     "all succeeded" if not bad else f"{bad} not succeeded"])
    print("\n## (a) new commit -> build started (start_time - t0), seconds\n")
    print(table(["trigger", "samples", "median", "p90", "max", "min", "median vs webhook",
                 "builds"], rows))
    hook = results[0]
    if hook.answered:
        print(f"\nThe webhook's POST (the check, run before it answers) took median "
              f"{statistics.median(hook.answered):.3f} s, max {max(hook.answered):.3f} s; "
              f"the rest is the scheduler creating and starting the build.")


# --- (b) load --------------------------------------------------------------------------

def load_pipeline(n: int, job: str) -> str:
    lines = ["resources:"]
    for i in range(n):
        lines += [f"- name: t{i:04d}", "  type: time", "  source: {interval: 1m}",
                  "  check_every: 1m"]
    lines += ["jobs:", "- name: hold", "  plan:"]
    for i in range(n):
        lines += ([f"  - put: t{i:04d}", "    no_get: true"] if job == "put"
                  else [f"  - get: t{i:04d}", "    trigger: false"])
    return "\n".join(lines) + "\n"


def version_times(api: httpx.Client, n: int) -> list[list[float]]:
    """For each resource, the times (unix seconds) of its stored versions."""
    out = []
    for i in range(n):
        r = api.get(f"/teams/main/pipelines/load/resources/t{i:04d}/versions",
                    params={"limit": 1000})
        r.raise_for_status()
        out.append([datetime.fromisoformat(v["version"]["time"]).timestamp()
                    for v in r.json()])
    return out


@dataclass
class Load:
    database: str
    resources: int
    window: float
    checks: int
    expected: int
    server: float
    db: float | None  # None: inside the server (SQLite)
    bench: float
    others: float
    idle_window: float  # the same server before the pipeline was set
    idle_server: float
    idle_db: float | None
    first_wait: float  # seconds from unpausing to the first check (the next tick)
    first_round: float  # seconds from the first check to the last of the first round
    missing: int  # resources without any version after the run


def run_load(args: argparse.Namespace, work: Path, database: str,
             postmaster: int | None = None, url: str | None = None) -> Load:
    server = Server(work / f"load-{database}", work / "no-types", database_url=url)

    def snap() -> dict[str, float]:
        s = {"server": cpu_seconds(server.pid), "machine": machine_cpu(),
             "bench": self_cpu(), "t": time.time()}
        if postmaster is not None:
            s["db"] = postgres_cpu(postmaster)
        return s

    def diff(b: dict[str, float], a: dict[str, float]) -> dict[str, float]:
        return {k: b[k] - a[k] for k in a}

    with running(server), server.api() as api:
        print(f"load on {database}: server on {server.url} (pid {server.pid}), "
              f"{args.resources} time resources", file=sys.stderr)
        idle_seconds = min(IDLE_WINDOW, args.minutes * 60.0)
        print(f"  the server without a pipeline for {idle_seconds:.0f} s (baseline) ...",
              file=sys.stderr)
        time.sleep(5.0)  # past the start (migrations, first ticks)
        a = snap()
        time.sleep(idle_seconds)
        idle = diff(snap(), a)
        t_set = time.time()
        set_pipeline(api, "load", load_pipeline(args.resources, args.job))
        t_unpaused = time.time()
        print(f"  pipeline set and unpaused in {t_unpaused - t_set:.1f} s; "
              "waiting for the first round of checks ...", file=sys.stderr)
        first = wait_first_round(api, args.resources, timeout=600.0)
        round_end = max(first)
        # Half an interval after the first round: the window holds `minutes` rounds.
        w0 = max(round_end + 30.0, time.time())
        print(f"  first round done {round_end - t_unpaused:.1f} s after unpausing; the "
              f"window starts in {w0 - time.time():.0f} s and lasts {args.minutes:g} min",
              file=sys.stderr)
        time.sleep(max(0.0, w0 - time.time()))
        a = snap()
        time.sleep(args.minutes * 60.0)
        b = snap()
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"the server died during the window:\n{server.log.read_text()}")
        times = version_times(api, args.resources)
    w0, w1 = a["t"], b["t"]
    checks = sum(1 for ts in times for t in ts if w0 <= t <= w1)
    d = diff(b, a)
    db = d.get("db")
    others = max(0.0, d["machine"] - d["server"] - (db or 0.0) - d["bench"])
    return Load(database=database, resources=args.resources, window=w1 - w0, checks=checks,
                expected=round(args.resources * args.minutes), server=d["server"], db=db,
                bench=d["bench"], others=others, idle_window=idle["t"],
                idle_server=idle["server"], idle_db=idle.get("db"),
                first_wait=min(first) - t_unpaused, first_round=round_end - min(first),
                missing=sum(1 for ts in times if not ts))


def wait_first_round(api: httpx.Client, n: int, timeout: float) -> list[float]:
    """Wait until every resource has a version; the time of each one's first version."""
    deadline = time.monotonic() + timeout
    last = f"/teams/main/pipelines/load/resources/t{n - 1:04d}/versions"
    while time.monotonic() < deadline:  # the last resource first: checks run in order
        r = api.get(last)
        r.raise_for_status()
        if r.json():
            break
        time.sleep(1.0)
    while time.monotonic() < deadline:
        times = version_times(api, n)
        if all(times):
            return [min(ts) for ts in times]
        time.sleep(2.0)
    raise RuntimeError(f"not every resource was checked within {timeout:g} s")


def load_report(results: list[Load], cores: int) -> None:
    rows = []
    for r in results:
        total = r.server + (r.db or 0.0)
        idle = (r.idle_server + (r.idle_db or 0.0)) / r.idle_window  # CPU s per second
        net = total - idle * r.window
        rows.append([
            r.database, f"{r.window:.0f}", f"{r.checks} / {r.expected}",
            f"{r.first_wait:.1f} + {r.first_round:.1f}",
            f"{r.server:.2f}", "(in the server)" if r.db is None else f"{r.db:.2f}",
            f"{total:.2f}", f"{100.0 * total / r.window:.1f}%", f"{100.0 * idle:.1f}%",
            f"{1000.0 * net / max(r.checks, 1):.2f}",
            f"{100.0 * r.others / (r.window * cores):.0f}%"])
    print(f"\n## (b) {results[0].resources} time resources, check_every 1m: CPU over "
          f"{results[0].window / 60:.0f} min after the first round\n")
    print(table(["database", "window s", "checks done / expected",
                 "first round s: wait + took", "server CPU s", "database CPU s",
                 "total CPU s", "% of one core", "idle: % of one core",
                 "CPU ms per check, net of idle", f"other load (% of {cores} cores)"], rows))
    print("\nidle: the same server and database before the pipeline was set "
          f"({results[0].idle_window:.0f} s); other load: the rest of the machine during "
          "the window (not this benchmark).")
    for r in results:
        if r.missing:
            print(f"- {r.database}: {r.missing} resources have no version at all")


# --- main ------------------------------------------------------------------------------

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--only", choices=["latency", "load"],
                   help="run one part only (default: both)")
    p.add_argument("--samples", type=int, default=20, help="webhook samples (20)")
    p.add_argument("--poll-samples", type=int, default=3,
                   help="polling samples, each at most 90 s (3)")
    p.add_argument("--minutes", type=float, default=5.0, help="load window, minutes (5)")
    p.add_argument("--resources", type=int, default=1000, help="time resources (1000)")
    p.add_argument("--job", choices=["put", "get"], default="put",
                   help="the job that uses the resources: puts them (never scheduled) "
                        "or gets them with trigger: false (default: put)")
    p.add_argument("--databases", default="sqlite,postgresql",
                   help="load: comma-separated, of sqlite and postgresql")
    args = p.parse_args(argv)
    if args.samples < 1 or args.poll_samples < 1 or args.minutes <= 0 or args.resources < 1:
        p.error("--samples, --poll-samples, --minutes and --resources must be positive")
    if args.resources > 10000:
        p.error("--resources: at most 10000 (names are t0000..t9999)")
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not set(args.databases) <= {"sqlite", "postgresql"} or not args.databases:
        p.error("--databases: sqlite, postgresql or both")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind: every `finally` stops what it started


def main() -> int:
    args = parse()
    signal.signal(signal.SIGTERM, _terminate)
    cores = os.cpu_count() or 1
    # A short path: the servers' data dirs and the type scripts live under it.
    work = Path(tempfile.mkdtemp(prefix="hwci-", dir="/tmp"))
    started = time.time()
    try:
        latency: list[Samples] = []
        loads: list[Load] = []
        if args.only in (None, "latency"):
            latency = run_latency(args, work)
        if args.only in (None, "load"):
            for database in args.databases:
                if database == "sqlite":
                    loads.append(run_load(args, work, "sqlite"))
                    continue
                with postgres() as pg:
                    url = pg.create_database("bench")
                    loads.append(run_load(args, work, "postgresql", pg.proc.pid, url))
        print(f"\nheadwater bench/ci.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{cores} cores, load average at the end "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
              f"run took {(time.time() - started) / 60:.1f} min")
        if latency:
            latency_report(latency)
        if loads:
            load_report(loads, cores)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
