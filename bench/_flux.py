"""Flux v2 for bench/sync.py: its controllers built from their Go modules, cached, and
run out of cluster against the stack's API server.

    .venv/bin/python bench/_flux.py      # build both now (about 10 minutes cold on 2 cores)

kustomize-controller and source-controller are built from the modules in
`hack/flux/<controller>/`, which require the release and carry over its `go.mod`
replaces (as `hack/kube/` does for Kubernetes, see devstack/kubebuild.py). The binaries
and the CRDs of the release (its `config/crd/bases/`) land in
~/.cache/headwater/flux/<controller>/<version>/ (or $HEADWATER_CACHE/flux/...), keyed by
a hash of go.mod and go.sum: a warm run builds nothing. Only the benchmark builds them;
CI and the tests never do.

`Flux` then starts both controllers with the stack's kubeconfig, watching all
namespaces, no leader election, metrics, health and the artifact server on free loopback
ports (kustomize-controller fetches the GitRepository's artifact from source-controller
over loopback), and stops them by PID.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.devstack import ports
from headwater.durations import parse_duration

HACK = Path(__file__).resolve().parents[1] / "hack" / "flux"
VERSIONS = {"source-controller": "v1.7.3", "kustomize-controller": "v1.9.6"}


def cache_dir(name: str) -> Path:
    base = os.environ.get("HEADWATER_CACHE") or str(Path.home() / ".cache" / "headwater")
    return Path(base) / "flux" / name / VERSIONS[name]


def _stamp(module: Path) -> str:
    h = hashlib.sha256()
    for f in ("go.mod", "go.sum"):
        h.update((module / f).read_bytes())
    return h.hexdigest()


def _cached(name: str) -> Path | None:
    out = cache_dir(name)
    try:
        stamp = (out / "stamp").read_text().strip()
    except FileNotFoundError:
        return None
    if stamp != _stamp(HACK / name) or not (out / name).exists() or not (out / "crds").is_dir():
        return None
    return out


def ensure(name: str) -> Path:
    """The cache directory holding `name` (the binary) and `crds/`, built if needed."""
    if found := _cached(name):
        return found
    out = cache_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building right now
        if found := _cached(name):
            return found
        _build(name, out)
    return out


def _build(name: str, out: Path) -> None:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    module, pkg = HACK / name, f"github.com/fluxcd/{name}"
    print(f"building {name} {VERSIONS[name]} (go build, once; log in {out}/build.log) ...",
          file=sys.stderr)
    tmp = out / f".build-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    started = time.monotonic()
    with (out / "build.log").open("w") as log:
        code = subprocess.run(
            ["nice", "-n", "10", go, "build", "-trimpath", "-ldflags", "-s -w",
             "-o", str(tmp / name), pkg], cwd=module, stdout=log, stderr=log).returncode
        log.write(f"exit {code} after {time.monotonic() - started:.0f}s\n")
    if code != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"building {name} failed: see {out}/build.log")
    info = json.loads(subprocess.run(
        [go, "mod", "download", "-json", f"{pkg}@{VERSIONS[name]}"], cwd=module,
        check=True, capture_output=True, text=True).stdout)
    crds = tmp / "crds"
    crds.mkdir()
    for f in sorted((Path(info["Dir"]) / "config" / "crd" / "bases").glob("*.yaml")):
        shutil.copyfile(f, crds / f.name)
    shutil.rmtree(out / "crds", ignore_errors=True)
    os.replace(crds, out / "crds")
    os.replace(tmp / name, out / name)
    tmp.rmdir()
    (out / "stamp").write_text(_stamp(module) + "\n")
    print(f"built {name} in {time.monotonic() - started:.0f}s", file=sys.stderr)


def crd_files() -> list[Path]:
    return sorted(p for name in VERSIONS for p in (ensure(name) / "crds").glob("*.yaml"))


@dataclass
class Controller:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    metrics: int  # its port on 127.0.0.1


FINISHED = re.compile(r"^Reconciliation finished in (\S+), next run in ")
REQUESTS = re.compile(r'^rest_client_requests_total\{([^}]*)\} (\S+)$', re.M)


@dataclass
class Flux:
    """The two controllers, running; `log(name)` is each one's JSON log so far."""

    workdir: Path
    controllers: dict[str, Controller] = field(default_factory=dict)

    def log_lines(self, name: str) -> list[str]:
        return self.controllers[name].log.read_text(errors="replace").splitlines()

    def pids(self) -> dict[str, int]:
        return {name: c.proc.pid for name, c in self.controllers.items()}

    def alive(self) -> None:
        for c in self.controllers.values():
            if c.proc.poll() is not None:
                tail = "\n".join(self.log_lines(c.name)[-20:])
                raise RuntimeError(f"{c.name} exited with {c.proc.returncode}:\n{tail}")

    def mark(self) -> int:
        """Where kustomize-controller's log ends now: `reconciled` reads past it."""
        return self.controllers["kustomize-controller"].log.stat().st_size

    async def reconciled(self, namespace: str, name: str, mark: int, timeout: float = 900
                         ) -> float:
        """The seconds of the next "Reconciliation finished in" line of that
        Kustomization past `mark`, as the controller measured and logged them."""
        log = self.controllers["kustomize-controller"].log
        deadline = time.monotonic() + timeout
        while True:
            with log.open("rb") as f:
                f.seek(mark)
                text = f.read().decode(errors="replace")
            for line in text.splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                m = FINISHED.match(str(entry.get("msg", "")))
                if m and entry.get("name") == name and entry.get("namespace") == namespace:
                    return parse_duration(m.group(1))
                if entry.get("level") == "error" and entry.get("name") == name:
                    raise RuntimeError(f"kustomize-controller: {entry.get('msg')}: "
                                       f"{entry.get('error')}")
            self.alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no 'Reconciliation finished' for {namespace}/{name}")
            await asyncio.sleep(0.05)

    async def requests(self) -> Counter[str]:
        """Requests kustomize-controller sent so far, per verb (client-go's own count)."""
        url = f"http://127.0.0.1:{self.controllers['kustomize-controller'].metrics}/metrics"

        def get() -> str:
            with urllib.request.urlopen(url, timeout=10) as r:
                return str(r.read().decode())

        out: Counter[str] = Counter()
        for labels, value in REQUESTS.findall(await asyncio.to_thread(get)):
            method = dict(re.findall(r'(\w+)="([^"]*)"', labels)).get("method", "")
            out[method] += int(float(value))
        return out


def _start(name: str, args: list[str], workdir: Path, kubeconfig: Path,
           taken: set[int]) -> Controller:
    log = workdir / f"{name}.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "RUNTIME_NAMESPACE": "flux-system"}
    metrics = ports.pick(None, taken)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ensure(name) / name), "--watch-all-namespaces", "--enable-leader-election=false",
             f"--metrics-addr=127.0.0.1:{metrics}",
             f"--health-addr=127.0.0.1:{ports.pick(None, taken)}",
             "--log-level=info", "--log-encoding=json", *args],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    return Controller(name, proc, log, metrics)


@contextlib.contextmanager
def running(kubeconfig: Path, workdir: Path, kustomize_args: list[str]) -> Iterator[Flux]:
    """Both controllers, stopped by PID (SIGTERM, then SIGKILL) at the end."""
    flux = Flux(workdir)
    storage = workdir / "artifacts"
    storage.mkdir(parents=True, exist_ok=True)
    taken: set[int] = set()
    port = ports.pick(None, taken)
    try:
        flux.controllers["source-controller"] = _start(
            "source-controller",
            [f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
             f"--storage-adv-addr=127.0.0.1:{port}"], workdir, kubeconfig, taken)
        flux.controllers["kustomize-controller"] = _start(
            "kustomize-controller", kustomize_args, workdir, kubeconfig, taken)
        yield flux
    finally:
        for c in flux.controllers.values():
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
        for c in flux.controllers.values():
            try:
                c.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()


# --- the objects ----------------------------------------------------------------------

SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"


def git_secret(namespace: str, name: str, *, key: Path, known_hosts: Path) -> dict[str, Any]:
    """The ssh credentials of a GitRepository (source-controller's `identity`,
    `known_hosts`): git:// is not among the URL schemes its CRD admits."""
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"identity": b64(key), "known_hosts": b64(known_hosts)}}


def git_repository(namespace: str, name: str, url: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": SOURCE_API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": url, "ref": {"branch": "main"}, "interval": "60m",
                     "secretRef": {"name": secret}}}


def kustomization(namespace: str, name: str, source: str) -> dict[str, Any]:
    """As headwater's source in the benchmark: the whole repository, no prune, no wait."""
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "60m", "path": "./", "prune": False,
                     "sourceRef": {"kind": "GitRepository", "name": source}}}


if __name__ == "__main__":
    for n in VERSIONS:
        print(ensure(n))
