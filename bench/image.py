"""An image build and push: the docker-image put against `buildah bud` + `buildah push`
run by hand on the same context (issue 13 point 8(a), DESIGN.md §8).

    .venv/bin/python bench/image.py [--state-dir /tmp/hw-shared] [--repeat 5]
                                    [--driver vfs|overlay]

The context is the example image of the tests: FROM scratch, Debian's static
busybox, `RUN busybox --install`, a page, `CMD httpd`. Contenders, in rotating
order, each with a fresh storage (as every put has):

- put: `DockerImageResource().put` (params `build`, `tag_file`) in a Python process
  that has already imported headwater (as the server has): wall time of the put;
- by hand, same isolation: `buildah bud` with the put's flags (`--isolation oci
  --runtime runc --network none --userns-uid-map ...`, Docker format) then `buildah
  push`;
- by hand, DESIGN.md's recipe: `buildah bud --isolation chroot` then `buildah push`.

Peak memory is the largest sum of the resident sets of the contender's process tree
(the Python process included for the put), sampled every 10 ms from /proc. Prints
medians of the times and the largest peaks, and the ratio to the by-hand run with the
same isolation. Registry: the running stack's (`--state-dir`) or a throwaway
`docker-registry` on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from _report import table

from headwater import devstack
from headwater.devstack import process
from headwater.devstack import registry as devstack_registry
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick

DOCKERFILE = ('FROM scratch\nCOPY busybox /bin/busybox\n'
              'RUN ["/bin/busybox","--install","-s","/bin"]\nCOPY www /www\n'
              'CMD httpd -f -p 8080 -h /www\n')

PUT = """
import asyncio, sys, time
from pathlib import Path
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings

async def log(text):
    pass

async def main():
    work, repo, driver, builds = sys.argv[1:5]
    resource = DockerImageResource(buildah=BuildahSettings(storage_driver=driver,
                                                           work_dir=Path(builds)))
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()
    started = time.monotonic()
    await resource.put({"repository": repo}, {"build": "src", "tag_file": "version/version"},
                       Path(work), log=log)
    sys.stdout.write(f"{time.monotonic() - started}\\n"); sys.stdout.flush()

asyncio.run(main())
"""


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every descendant."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


class Peak:
    """Samples the tree of `pid` every 10 ms in a thread; `.peak` is the largest sum."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def context(work: Path) -> None:
    src = work / "src"
    (src / "www").mkdir(parents=True)
    shutil.copy("/bin/busybox", src / "busybox")
    (src / "www" / "index.html").write_text("hello\n")
    (src / "Dockerfile").write_text(DOCKERFILE)
    (work / "version").mkdir()
    (work / "version" / "version").write_text("1.0.0\n")


def run_put(work: Path, repo: str, driver: str, builds: Path) -> tuple[float, int]:
    proc = subprocess.Popen([sys.executable, "-c", PUT, str(work), repo, driver, str(builds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    assert proc.stdout.readline().strip() == "ready"
    peak = Peak(proc.pid)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    seconds = float(proc.stdout.readline())
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit("the put failed")
    return seconds, peak.stop()


def run_by_hand(work: Path, repo: str, driver: str, builds: Path, *,
                isolated: bool) -> tuple[float, int]:
    home = Path(tempfile.mkdtemp(prefix="hand-", dir=builds))
    home.chmod(0o711)
    (home / "tmp").mkdir(mode=0o711)
    store = ["--root", str(home / "root"), "--runroot", str(home / "run"),
             "--storage-driver", driver]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR": str(home / "tmp"),
           "HOME": str(home)}
    if isolated:
        uid = "0:2000000000:65536"
        flags = ["--isolation", "oci", "--runtime", "runc", "--network", "none",
                 "--userns-uid-map", uid, "--userns-gid-map", uid, "--layers=false"]
    else:
        flags = ["--isolation", "chroot"]
    ref = f"{repo}:1.0.0"
    commands = [["buildah", *store, "bud", *flags, "--format", "docker", "-t", ref,
                 str(work / "src")],
                ["buildah", *store, "push", "--tls-verify=false", "--format", "v2s2", ref,
                 f"docker://{ref}"]]
    seconds, peak = 0.0, 0
    try:
        for argv in commands:
            started = time.monotonic()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            sampler = Peak(proc.pid)
            _, err = proc.communicate()
            seconds += time.monotonic() - started
            peak = max(peak, sampler.stop())
            if proc.returncode != 0:
                raise SystemExit(f"{argv[0]} {argv[6]} failed: {err.decode()[-500:]}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return seconds, peak


@contextlib.contextmanager
def registry(state_dir: Path | None) -> Iterator[str]:
    if state_dir is not None:
        info = devstack.load(state_dir)
        if info is None:
            raise SystemExit(f"no running stack in {state_dir}")
        yield info.registry.host
        return
    with tempfile.TemporaryDirectory(prefix="hwb-reg-") as d:
        layout = Layout(Path(d))
        layout.create()
        home = layout.sub("registry")
        reg = devstack_registry.prepare(home, port=pick(None, set()), auth=False)
        proc = devstack_registry.start(home, reg, name="registry", layout=layout)
        try:
            yield reg.host
        finally:
            process.stop(proc, layout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--driver", default="vfs", choices=["vfs", "overlay"])
    args = parser.parse_args()
    contenders = ["put", "by hand, same isolation", "by hand, chroot"]
    times: dict[str, list[float]] = {c: [] for c in contenders}
    peaks: dict[str, int] = dict.fromkeys(contenders, 0)
    bench_dir = Path("/var/tmp/headwater-bench")  # noqa: S108 (traversable: see session())
    bench_dir.mkdir(mode=0o711, exist_ok=True)
    builds = Path(tempfile.mkdtemp(prefix="image-", dir=bench_dir))
    builds.chmod(0o711)
    try:
        with registry(args.state_dir) as host:
            repo = f"{host}/bench/image-{os.getpid()}"
            for i in range(args.repeat):
                for name in contenders[i % 3:] + contenders[:i % 3]:
                    work = Path(tempfile.mkdtemp(prefix="ctx-", dir=builds))
                    context(work)
                    if name == "put":
                        seconds, peak = run_put(work, repo, args.driver, builds)
                    else:
                        seconds, peak = run_by_hand(work, repo, args.driver, builds,
                                                    isolated=name.endswith("isolation"))
                    shutil.rmtree(work, ignore_errors=True)
                    times[name].append(seconds)
                    peaks[name] = max(peaks[name], peak)
    finally:
        shutil.rmtree(builds, ignore_errors=True)
    base = statistics.median(times["by hand, same isolation"])
    rows = [[name, f"{statistics.median(times[name]):.2f}", f"{min(times[name]):.2f}",
             f"{max(times[name]):.2f}", f"{peaks[name] / 2**20:.0f}",
             f"{statistics.median(times[name]) / base:.2f}x"] for name in contenders]
    print(f"build + push of the busybox httpd image, storage {args.driver}, "
          f"{args.repeat} runs each")
    print(table(["contender", "median s", "min s", "max s", "peak MiB", "time vs by hand"],
                rows))


if __name__ == "__main__":
    main()
