"""The local task executor: a task's process on this host, sandboxed with bubblewrap.

With `bwrap` (bubblewrap) installed, a task sees a read-only view of the host's
system (`/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`) without its secrets (hostview.py:
`/etc/shadow`, SSH host keys, TLS private keys, what other users cannot read, the
server's own directories), its own directory read-write at the same path as on the
host, a fresh `/tmp`, `/proc` and `/dev`, a read-only `/`, and nothing else:
no `/home`, no `/root`, no `/var`, no other build's files. Every namespace is
unshared, so it cannot see or signal the host's processes; its capabilities are
dropped (a `privileged` task keeps them); it dies with headwater (`--die-with-parent`).

Network: Concourse's containers always have network; headwater's tasks do not
unless they ask, with `network: true` on the task step (plan `Task.network`). An
offline task has only its own loopback, so even the host's 127.0.0.1 is out of reach.
A task with network gets its own network namespace with outbound access through
slirp4netns; of the host's loopback it reaches only the server's allow-list
(ci/resources/netns.py).

Without bwrap, the task runs as a plain process in its own session, on the host's
filesystem and network, and a warning is logged once.

Limits: with `cgroups` (the server's, cgroups.py), each task runs in a cgroup of its
own with its `container_limits` over the executor's `limits` (the server's defaults);
going over the memory or fork limit stops the task and `run` raises `LimitExceeded`.

A task with an image (`image:`, `image_resource`, `rootfs_uri`) runs in that image
instead (imagesandbox.py): pulled into `images`, the cache resource type images share;
`rootfs_uri: raw:///...` only under `rootfs_dirs`. Without bubblewrap such a task
errors. A task without an image keeps the host view above, and `run.user` is not used
there (the build log says so).
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from headwater import log as hwlog
from headwater.ci.build import confine, hostview, imagesandbox, taskimage
from headwater.ci.build.confine import Beneath
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import Output, ProcessSpec
from headwater.ci.resources.cgroups import Cgroups, LimitExceeded, Limits
from headwater.ci.resources.netns import NetworkPolicy, run_sandboxed
from headwater.ci.resources.process import find_bwrap, run_process
from headwater.ci.resources.rootfs import ResourceImages

_log = hwlog.get("local-executor")

Run = Callable[[list[str], tuple[int, ...]], Awaitable[int]]


class LocalExecutor:
    """Runs tasks on this host; `bwrap="auto"` finds bubblewrap, None runs unsandboxed.
    `network` says what of the host's loopback a task with network reaches (nothing
    by default); `hidden` are the server's own paths, masked in the task's view.
    Tasks with an image pull it into `images` (refused without) and may name a
    `rootfs_uri: raw:///...` under `rootfs_dirs`; `overlay` False gives them a
    read-only image with tmpfs where they write (the default when not root)."""

    def __init__(self, *, bwrap: str | Path | Literal["auto"] | None = "auto",
                 kill_grace: float = 10.0, network: NetworkPolicy | None = None,
                 hidden: Sequence[Path] = (), cgroups: Cgroups | None = None,
                 limits: Limits | None = None, images: ResourceImages | None = None,
                 rootfs_dirs: Sequence[Path] = (), overlay: bool | None = None) -> None:
        self.images = images
        self.rootfs_dirs = tuple(rootfs_dirs)
        self.overlay = imagesandbox.can_overlay() if overlay is None else overlay
        self.bwrap = find_bwrap() if bwrap == "auto" else (str(bwrap) if bwrap else None)
        self._kill_grace = kill_grace
        self.network = network or NetworkPolicy()
        self.hidden = tuple(os.path.realpath(p) for p in hidden)
        self.cgroups = cgroups
        self.limits = limits or Limits()
        if self.bwrap is None:
            _log.warning("bubblewrap (bwrap) not found: tasks run unsandboxed on this host, "
                         "with its files and network; install bubblewrap to isolate them")
        elif self.network.slirp4netns is None:
            _log.warning("slirp4netns not found: tasks with network: true will fail; "
                         "install slirp4netns to give them network")

    async def run(self, spec: ProcessSpec, *, output: Output) -> int:
        if spec.image is not None:
            return await self._run_in_image(spec, output=output)
        if spec.user:
            await output("stderr", f"headwater: run.user {spec.user!r} is not used: a task "
                                   "without an image runs on this host's system as the "
                                   "server's user\n")

        _check_executable(spec)
        start = self._starter(spec, output)
        if self.bwrap is None:
            return await start(spec.argv, ())
        masked = await asyncio.to_thread(self.masked, spec)
        argv = [*self.sandbox_args(spec, masked=masked), *spec.argv]
        # The host's /etc/resolv.conf may be a link (systemd-resolved's, to /run/...):
        # the sandbox's own is written where it leads.
        resolv = await asyncio.to_thread(os.path.realpath, "/etc/resolv.conf")
        return await run_sandboxed(argv, network=self.network if spec.network else None,
                                   run=start, resolv_at=resolv)

    async def _run_in_image(self, spec: ProcessSpec, *, output: Output) -> int:
        what = f"task {spec.name!r}"
        if self.bwrap is None:
            raise StepError(f"{what} has an image, which runs in a bubblewrap sandbox: "
                            "install bubblewrap (bwrap)")
        assert spec.image is not None
        image, pulled = await taskimage.resolve(spec.image, images=self.images,
                                                rootfs_dirs=self.rootfs_dirs, what=what)
        await output("stderr", f"headwater: running in {image.label}"
                               f"{' (pulled)' if pulled else ''}\n")
        user = await asyncio.to_thread(taskimage.image_user, image, spec.user, what)
        dirs, files = imagesandbox.mount_points(spec, network=spec.network)
        await asyncio.to_thread(imagesandbox.check_mount_points, image.path, dirs, files,
                                what)
        env = taskimage.image_env(image.env, spec.env, user, explicit_user=bool(spec.user))
        layers = await asyncio.to_thread(imagesandbox.Layers.beside, spec.root) \
            if self.overlay else None
        try:
            argv = [*imagesandbox.argv(self.bwrap, spec, image, user, layers=layers),
                    *spec.argv]
            return await run_sandboxed(argv, network=self.network if spec.network else None,
                                       run=self._starter(spec, output, env=env))
        finally:
            if layers is not None:
                await asyncio.to_thread(confine.remove_tree, Beneath(layers.base))

    def _starter(self, spec: ProcessSpec, output: Output, *,
                 env: Mapping[str, str] | None = None) -> Run:
        """How a sandbox's argv is started: in the task's cgroup, with its env."""
        env = spec.env if env is None else env

        async def out(text: str) -> None:
            await output("stdout", text)

        async def err(text: str) -> None:
            await output("stderr", text)

        async def start(argv: list[str], pass_fds: tuple[int, ...]) -> int:
            if self.cgroups is None:
                return await run_process(argv, cwd=spec.cwd, env=env, stdout=out,
                                         stderr=err, kill_grace=self._kill_grace,
                                         pass_fds=pass_fds)
            async with self.cgroups.step(f"task-{spec.root.name}",
                                         spec.limits.over(self.limits)) as cgroup:
                status = await run_process(argv, cwd=spec.cwd, env=env, stdout=out,
                                           stderr=err, kill_grace=self._kill_grace,
                                           pass_fds=pass_fds, preexec=cgroup.enter)
                breach = cgroup.breach_message("the task")
            if breach:
                raise LimitExceeded(breach + (f" (exit status {status})" if status else ""))
            return status

        return start

    def masked(self, spec: ProcessSpec) -> list[hostview.Mask]:
        """What of the host's system directories `spec`'s task must not see."""
        candidates = [*hostview.unreadable("/etc"), *hostview.existing(hostview.SECRETS),
                      *hostview.existing(self.hidden)]
        return hostview.masks(candidates, own=os.path.realpath(spec.root))

    def sandbox_args(self, spec: ProcessSpec, *,
                     masked: Sequence[hostview.Mask] | None = None) -> list[str]:
        """bwrap's arguments for `spec`, up to and including the `--` before argv;
        the network's, when it has one, are added by netns.run_sandboxed."""
        assert self.bwrap is not None
        args = [self.bwrap, "--die-with-parent", "--unshare-all"]
        if not spec.privileged:
            args += ["--cap-drop", "ALL"]
        for path in hostview.SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        mounts, remounts = hostview.mount_args(self.masked(spec) if masked is None
                                               else masked)
        args += mounts
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--tmpfs", "/tmp"]  # noqa: S108 - the sandbox's own, fresh /tmp
        args += ["--bind", str(spec.root), str(spec.root), "--remount-ro", "/", *remounts,
                 "--chdir", str(spec.cwd), "--"]
        return args


def _check_executable(spec: ProcessSpec) -> None:
    """Fail as exec would, before starting the sandbox (whose own error would look like
    the task's failure): the sandbox sees the same system directories as the host.

    A path is only looked at on the host when it lands where the sandbox shows the
    same files: under the task's own directory, or the system's program directories
    (not /etc, which the sandbox masks in part). Elsewhere (a link the task left
    pointing at /root/...) the host is not asked: exec inside the sandbox answers, so
    the error never tells a task whether a host path it cannot see exists."""
    program = spec.argv[0]
    if "/" in program:
        path = Path(os.path.realpath(spec.cwd / program))
        if not _shown_as_on_host(path, spec.root):
            return
        if path.is_file() and not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, "the file is not executable", program)
        found = path.is_file()
    else:
        found = shutil.which(program, path=spec.env.get("PATH", "")) is not None
    if not found:
        raise FileNotFoundError(errno.ENOENT, "no such executable", program)


def _shown_as_on_host(path: Path, root: Path) -> bool:
    shown = [Path(os.path.realpath(root)),
             *(Path(d) for d in hostview.SYSTEM_DIRS if d != "/etc")]
    return any(path.is_relative_to(d) for d in shown)
