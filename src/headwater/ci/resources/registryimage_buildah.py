"""Image builds and pushes with buildah, without any daemon, in a storage of their own.

Each put gets a private directory (`Buildah.session`), removed when it ends: the
containers storage (`--root`, `--runroot`, driver `vfs` by default: no mounts left
behind by a killed build), `TMPDIR`, a `registries.conf` naming the registries
reached over plain http (the source's insecure hosts, loopback hosts of the
repository and of the Dockerfile's FROM lines), a `--cert-dir` with the source's
`ca_certs`, and the registry credentials in an auth file (0600, `--authfile`,
removed with the directory): never `--creds` on a command line `ps` shows.

What a build's RUN steps can reach, as far as buildah lets us decide:
- `--isolation oci` with runc (crun fails on this kind of host's hybrid cgroups):
  a container with its own mount, PID, IPC, UTS and network namespaces, runc's
  default seccomp profile and capability set, as `podman build` runs it;
- `--userns-uid-map/--userns-gid-map 0:<uid_base>:65536`: root in a RUN step is an
  unprivileged user of the host (uid 2000000000 and up), not root;
- `--network none` by default: RUN steps have their own loopback only, so they reach
  neither the host's loopback services (the CI API, the registry, etcd) nor
  anything else. `network="private"` gives them buildah's bridge network (netavark:
  the outside world, and host services bound to a non-loopback address; it adds a
  bridge and NAT rules to the host), for Dockerfiles that download in RUN steps;
- COPY and ADD read the context through buildah's chroot into it: a symlink in the
  context that points at a host file resolves inside the context;
- ADD of a URL (or a variable) is refused before the build (`remote_adds`): buildah
  downloads it on the host's network, where the host's loopback services are.
Limits: runc shares the host kernel (a kernel exploit escapes), the storage and the
pull/push happen as root on the host with buildah's own code and network (a FROM
can make it request any host:port).

Output is streamed line by line to `log` as buildah writes it, each line cut at
`max_line` bytes; the last lines are kept for the error message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from headwater.ci.resources.base import Log, ResourceError
from headwater.ci.resources.cgroups import Cgroups, Limits, StepCgroup
from headwater.ci.resources.process import DEFAULT_PATH, run_process
from headwater.ci.resources.registryimage_source import ImageRepo
from headwater.registry import parse

_TAIL = 20  # lines kept for an error message


@dataclass(frozen=True)
class BuildahSettings:
    """How puts run buildah: `storage_driver` (vfs or overlay), the RUN steps'
    `network` (none or private), the host uid/gid RUN's root maps to, the longest log
    line, and the buildah and runtime programs."""

    storage_driver: str = "vfs"
    network: str = "none"
    work_dir: Path = Path("/var/tmp/headwater-builds")  # noqa: S108 (see session())
    uid_base: int = 2_000_000_000
    max_line: int = 4096
    buildah: str = "buildah"
    runtime: str = "runc"


def find_buildah(settings: BuildahSettings) -> str:
    found = shutil.which(settings.buildah, path=DEFAULT_PATH)
    if found is None:
        raise ResourceError("building or pushing images needs buildah: install the Debian "
                            "package buildah on the CI server")
    return found


class LineLog:
    """Text chunks to whole lines for `log`, each at most `max_line` characters; the
    last lines are kept (`tail`) for an error message."""

    def __init__(self, log: Log, *, max_line: int) -> None:
        self._log = log
        self._max = max_line
        self._partial = ""
        self._dropping = False  # the rest of a line already cut
        self.tail: deque[str] = deque(maxlen=_TAIL)

    async def write(self, text: str) -> None:
        for piece in text.splitlines(keepends=True):
            ended = piece.endswith(("\n", "\r"))
            if self._dropping:
                self._dropping = not ended
                continue
            self._partial += piece
            if ended:
                line, self._partial = self._partial.rstrip("\r\n"), ""
                await self._emit(line)
            elif len(self._partial) > self._max:
                line, self._partial = self._partial, ""
                self._dropping = True
                await self._emit(line)

    async def close(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            await self._emit(line)

    async def _emit(self, line: str) -> None:
        if len(line) > self._max:
            line = line[:self._max] + " [line cut]"
        self.tail.append(line)
        await self._log(line + "\n")


def from_hosts(dockerfile: str) -> set[str]:
    """The registry hosts the FROM lines of a Dockerfile name (`FROM scratch`, build
    stages and `$ARG`s name none)."""
    hosts = set()
    for line in dockerfile.splitlines():
        words = line.split()
        if len(words) < 2 or words[0].upper() != "FROM":
            continue
        image = next((w for w in words[1:] if not w.startswith("--")), "")
        if not image or "$" in image or image == "scratch" or "/" not in image:
            continue
        with contextlib.suppress(ValueError):
            hosts.add(parse(image).registry)
    return hosts


def instructions(dockerfile: str) -> list[tuple[int, str]]:
    """The Dockerfile's instructions with their first line number, continuation lines
    (a trailing backslash) joined and comments dropped."""
    found: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(dockerfile.splitlines(), 1):
        text = line.strip()
        if not current and (not text or text.startswith("#")):
            continue
        if not current:
            start = number
        if text.startswith("#"):
            continue
        current.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            found.append((start, " ".join(current)))
            current = []
    if current:
        found.append((start, " ".join(current)))
    return found


def remote_adds(dockerfile: str) -> list[tuple[int, str]]:
    """The ADD instructions that would download (a URL, a git address) or whose
    source is a variable that might be one: buildah fetches those itself, on the
    host's network, where the host's loopback services are."""
    refused = []
    for number, text in instructions(dockerfile):
        keyword, _, rest = text.partition(" ")
        if keyword.upper() == "ONBUILD":
            keyword, _, rest = rest.strip().partition(" ")
        if keyword.upper() != "ADD":
            continue
        if "://" in rest or "git@" in rest or "$" in rest:
            refused.append((number, text))
    return refused


def registries_conf(plain_http: Sequence[str]) -> str:
    """A registries.conf: unqualified names are Docker Hub's (as docker build reads
    them), and each of `plain_http` is reached over http."""
    lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"']
    for host in sorted(set(plain_http)):
        lines += ["", "[[registry]]", f"location = {json.dumps(host)}", "insecure = true"]
    return "\n".join(lines) + "\n"


class Session:
    """One put's buildah: its storage and files under `home`; see the module doc.
    buildah runs in `cgroup` (the put's, with the server's limits) when there is one;
    `limits` also bound each RUN step (`--memory`, `--cpu-shares`, `--ulimit nproc`),
    which runc puts in a cgroup of its own."""

    def __init__(self, home: Path, repo: ImageRepo, settings: BuildahSettings,
                 log: Log, *, limits: Limits | None = None,
                 cgroup: StepCgroup | None = None) -> None:
        self.home = home
        self._limits = limits or Limits()
        self._cgroup = cgroup
        self.repo = repo
        self.settings = settings
        self._buildah = find_buildah(settings)
        self._log = log
        self._auth = home / "auth.json"
        self._certs = home / "certs"
        self._conf = home / "registries.conf"
        (home / "tmp").mkdir(mode=0o711)
        self._certs.mkdir()
        if repo.ca_pem:
            (self._certs / "ca.crt").write_text(repo.ca_pem)
        self.set_plain_http(set())
        auths = {}
        if repo.credentials is not None:
            pair = f"{repo.credentials.username}:{repo.credentials.password}".encode()
            auths[repo.registry] = {"auth": base64.b64encode(pair).decode()}
        fd = os.open(self._auth, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"auths": auths}, out)

    def set_plain_http(self, more: set[str]) -> None:
        hosts = {h for h in more | {self.repo.registry} if self.repo.plain_http(h)}
        self._conf.write_text(registries_conf(sorted(hosts)))

    def _tls_flags(self) -> list[str]:
        return ["--cert-dir", str(self._certs)]

    def _store(self) -> list[str]:
        return ["--root", str(self.home / "root"), "--runroot", str(self.home / "run"),
                "--storage-driver", self.settings.storage_driver]

    async def build(self, *, context: Path, dockerfile: Path, tag: str,
                    build_args: dict[str, str], labels: dict[str, str], target: str | None,
                    image_format: str) -> None:
        uid = f"0:{self.settings.uid_base}:65536"
        argv = ["bud", "--isolation", "oci", "--runtime", self.settings.runtime,
                "--network", self.settings.network, "--userns-uid-map", uid,
                "--userns-gid-map", uid, "--pull", "--layers=false",
                "--format", image_format, "--authfile", str(self._auth),
                *self._tls_flags(), "-f", str(dockerfile), "-t", tag]
        for key, value in sorted(build_args.items()):
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        if target:
            argv += ["--target", target]
        if self._limits.memory:
            argv += ["--memory", str(self._limits.memory)]
        if self._limits.cpu:
            argv += ["--cpu-shares", str(self._limits.cpu)]
        if self._limits.pids:
            argv += ["--ulimit", f"nproc={self._limits.pids}:{self._limits.pids}"]
        await self._run([*argv, str(context)], what="building the image")

    async def pull(self, source: str, tag: str) -> None:
        """Load an image (`docker-archive:<tar>`, `oci-archive:<tar>`, `oci:<dir>`)
        into the storage, named `tag`."""
        await self._run(["pull", "--quiet", source], what="loading the image")
        images = await self._output(["images", "--quiet", "--no-trunc"])
        ids = [line.strip() for line in images.splitlines() if line.strip()]
        if len(ids) != 1:
            raise ResourceError(f"{self.repo.label}: loading the image gave {len(ids)} "
                                "images: give one image")
        await self._run(["tag", ids[0], tag], what="naming the image")

    async def push(self, local: str, tag: str, *, image_format: str) -> str:
        """Push the local image `local` as `repository:tag`; its manifest's digest."""
        digest_file = self.home / "digest"
        with contextlib.suppress(FileNotFoundError):
            digest_file.unlink()
        await self._run(["push", "--authfile", str(self._auth), *self._tls_flags(),
                         "--format", image_format, "--digestfile", str(digest_file),
                         "--retry", "2", local, f"docker://{self.repo.ref(tag)}"],
                        what=f"pushing {self.repo.ref(tag)}")
        return digest_file.read_text().strip()

    def _env(self) -> dict[str, str]:
        return {"PATH": DEFAULT_PATH, "HOME": str(self.home), "TMPDIR": str(self.home / "tmp"),
                "CONTAINERS_REGISTRIES_CONF": str(self._conf),
                "BUILDAH_ISOLATION": "oci", "STORAGE_DRIVER": self.settings.storage_driver}

    async def _run(self, args: list[str], *, what: str) -> None:
        lines = LineLog(self._log, max_line=self.settings.max_line)
        status = await run_process([self._buildah, *self._store(), *args], cwd=self.home,
                                   env=self._env(), stdout=lines.write, stderr=lines.write,
                                   preexec=self._cgroup.enter if self._cgroup else None)
        await lines.close()
        breach = self._cgroup.breach_message(f"{self.repo.label}: buildah", task=False) \
            if self._cgroup else None
        if breach:
            raise ResourceError(breach)
        if status != 0:
            cause = _cause(list(lines.tail))
            raise ResourceError(f"{self.repo.label}: {what} failed (buildah exit status "
                                f"{status}){': ' + cause if cause else ''}; the build log "
                                "has buildah's output")

    async def _output(self, args: list[str]) -> str:
        out: list[str] = []

        async def keep(text: str) -> None:
            out.append(text)

        lines = LineLog(self._log, max_line=self.settings.max_line)
        status = await run_process([self._buildah, *self._store(), *args], cwd=self.home,
                                   env=self._env(), stdout=keep, stderr=lines.write,
                                   preexec=self._cgroup.enter if self._cgroup else None)
        await lines.close()
        if status != 0:
            raise ResourceError(f"{self.repo.label}: buildah {args[0]} failed "
                                f"(exit status {status})")
        return "".join(out)


def _cause(tail: list[str]) -> str:
    """The line of buildah's output that says why it failed, shortened."""
    for line in reversed(tail):
        text = line.strip()
        if text.startswith(("Error:", "error")):
            return text[:500]
    return tail[-1].strip()[:500] if tail else ""


def _make_home(parent: Path) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o711)
    home = Path(tempfile.mkdtemp(prefix="put-", dir=parent))
    home.chmod(0o711)
    return home


@contextlib.asynccontextmanager
async def session(repo: ImageRepo, settings: BuildahSettings, log: Log, *,
                  cgroups: Cgroups | None = None,
                  limits: Limits | None = None) -> AsyncIterator[Session]:
    """A buildah session in a new directory under `settings.work_dir`, removed after.

    Not under the server's data dir: RUN's root is an unprivileged host uid, and runc
    opens the image's root as that user, so every directory above the storage must
    let others through (0711: through, never list). The data dir is 0700. The
    session's own files (the auth file) are 0600, root's."""
    home = await asyncio.to_thread(_make_home, settings.work_dir)
    try:
        async with contextlib.AsyncExitStack() as stack:
            cgroup = await stack.enter_async_context(
                cgroups.step(f"put-{home.name}", limits or Limits())) if cgroups else None
            yield await asyncio.to_thread(Session, home, repo, settings, log, limits=limits,
                                          cgroup=cgroup)
    finally:
        await asyncio.to_thread(shutil.rmtree, home, True)
