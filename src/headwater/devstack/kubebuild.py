"""Build the Kubernetes binaries once from the Go module `k8s.io/kubernetes` and cache them.

The module in `hack/kube/` requires k8s.io/kubernetes and pins each staging module
(DESIGN.md §6). Binaries land in ~/.cache/headwater/kube/<version>/ (or
$HEADWATER_CACHE/kube/<version>/), keyed by a hash of go.mod and go.sum: a warm
`up` finds them and builds nothing. Concurrent builds (a user's `up` and the test
suite) wait on one lock. `go build -v` prints each package it compiles, which gives
the progress bar its count.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from headwater.devstack.errors import BuildFailed, StackError
from headwater.devstack.process import tail

VERSION = "v1.34.4"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl")
_PKG = "k8s.io/kubernetes/cmd/"

Progress = Callable[[int, int], None]


def cache_root() -> Path:
    base = os.environ.get("HEADWATER_CACHE") or str(Path.home() / ".cache" / "headwater")
    return Path(base) / "kube" / VERSION


def module_dir() -> Path:
    """hack/kube of the headwater source tree this package runs from."""
    env = os.environ.get("HEADWATER_KUBE_MODULE")
    here = Path(env) if env else Path(__file__).resolve().parents[3] / "hack" / "kube"
    if not (here / "go.mod").exists():
        raise StackError(
            f"the Go module that builds Kubernetes is not at {here}: run headwater from its "
            "source checkout, set HEADWATER_KUBE_MODULE, or pass --kubeconfig to use a cluster"
        )
    return here


def _stamp(module: Path) -> str:
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        h.update((module / name).read_bytes())
    return h.hexdigest()


def _ldflags() -> str:
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        major, minor = VERSION.lstrip("v").split(".")[:2]
        flags += [
            f"-X {pkg}.gitVersion={VERSION}", f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def cached() -> Path | None:
    """The directory holding all binaries, if a build for this module is cached."""
    out = cache_root()
    try:
        stamp = (out / "stamp").read_text().strip()
    except FileNotFoundError:
        return None
    if stamp != _stamp(module_dir()) or not all((out / c).exists() for c in COMMANDS):
        return None
    return out


def ensure(progress: Progress | None = None) -> Path:
    """The directory of the cached binaries, building them first if needed."""
    if found := cached():
        return found
    out = cache_root()
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building right now
        if found := cached():
            return found
        _build(module_dir(), out, progress)
    return out


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists()
                                else None)
    if not go:
        raise StackError(
            "Go is needed to build Kubernetes the first time (Go >= 1.24): install it, or "
            "pass --kubeconfig to use a cluster you already have"
        )
    return go


def _build(module: Path, out: Path, progress: Progress | None) -> None:
    go = _go()
    pkgs = [_PKG + c for c in COMMANDS]
    log_path = out / "build.log"
    env = dict(os.environ)
    listed = subprocess.run(
        [go, "list", "-deps", *pkgs], cwd=module, env=env, capture_output=True, text=True
    )
    if listed.returncode != 0:
        log_path.write_text(listed.stderr)
        raise BuildFailed(f"resolving the Kubernetes {VERSION} module", log_path,
                          tail(log_path))
    total = len(listed.stdout.split())
    tmp = out / f".build-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as log:
        log.write(f"go build of {' '.join(pkgs)} (Kubernetes {VERSION})\n")
        log.flush()
        build = subprocess.Popen(
            [go, "build", "-v", "-trimpath", "-ldflags", _ldflags(), "-o", str(tmp) + "/", *pkgs],
            cwd=module, env=env, stdout=log, stderr=subprocess.PIPE, text=True,
        )
        assert build.stderr is not None
        for done, line in enumerate(build.stderr, 1):  # -v names each package it compiles
            log.write(line)
            if progress:
                progress(min(done, total), total)
        code = build.wait()
        log.write(f"exit {code} after {time.monotonic() - started:.0f}s\n")
    if code != 0 or not all((tmp / c).exists() for c in COMMANDS):
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildFailed(f"building Kubernetes {VERSION} (go build)", log_path, tail(log_path))
    for c in COMMANDS:
        os.replace(tmp / c, out / c)
    tmp.rmdir()
    (out / "stamp").write_text(_stamp(module) + "\n")
