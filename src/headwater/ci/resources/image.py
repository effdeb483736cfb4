"""Resource types provided by images: Concourse's `/opt/resource/{check,in,out}`,
run inside the image's root filesystem with bubblewrap.

The image is pulled and unpacked by `ResourceImages` (rootfs.py). Each script runs
as Concourse runs it in a resource container, as far as an unprivileged sandbox
allows:

- `/` is the image's root, read-only (it is shared by every run of the type); `/tmp`
  and `$HOME` (`/root`) are fresh, writable tmpfs; `/proc` and `/dev` are the
  sandbox's own; `/etc/hosts` is the host's, `/etc/resolv.conf` names the sandbox
  network's resolver, so names resolve;
- the user is root inside a user namespace of its own (files are ours outside),
  capabilities dropped unless the resource type is `privileged`;
- `in` gets its destination at `/tmp/build/get`, `out` the build's artifacts at
  `/tmp/build/put` (Concourse's paths), bound read-write to the host directories;
- the network is the sandbox's own (netns.py): resources talk to Git servers and
  registries, but of the host's loopback services reach only the server's allow-list;
- the environment is the image's (`Env`: its PATH), then the build's metadata;
- nothing else of the host is visible, and the process dies with headwater.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.netns import NetworkPolicy
from headwater.ci.resources.process import DEFAULT_PATH, find_bwrap
from headwater.ci.resources.rootfs import ResourceImages
from headwater.ci.resources.script import Command, ScriptProtocol

_MOUNTS = {"in": "/tmp/build/get", "out": "/tmp/build/put"}  # noqa: S108 (inside the sandbox)
_HOST_FILES = ("/etc/hosts",)  # resolv.conf: the sandbox network's (netns.py)


class ImageResourceType(ScriptProtocol):
    """The resource type `name`, whose scripts are in the image its `source` names."""

    def __init__(self, name: str, source: Mapping[str, Any], images: ResourceImages, *,
                 privileged: bool = False, bwrap: str | None = None,
                 timeout: float | None = None, kill_grace: float = 10.0,
                 network: NetworkPolicy | None = None,
                 cgroups: Cgroups | None = None, limits: Limits | None = None) -> None:
        super().__init__(timeout=timeout, kill_grace=kill_grace, cgroups=cgroups,
                         limits=limits)
        self._network = network or NetworkPolicy()
        self.name = name
        self._source = dict(source)
        self._images = images
        self._privileged = privileged
        self._bwrap = bwrap or find_bwrap()
        self._host_files = [p for p in _HOST_FILES if Path(p).is_file()]

    def __repr__(self) -> str:
        return f"ImageResourceType({self.name!r}, {self._source.get('repository')!r})"

    async def command(self, name: str, mount: Path | None) -> Command:
        if self._bwrap is None:
            raise ResourceError(f"resource type {self.name!r} comes from an image, which runs "
                                "in a bubblewrap sandbox: install bubblewrap (bwrap)")
        rootfs = await self._images.rootfs(self.name, self._source)
        script = f"/opt/resource/{name}"
        if not (rootfs.path / script.lstrip("/")).is_file():
            raise ResourceError(f"resource type {self.name!r}: the image "
                                f"{self._source.get('repository')} ({rootfs.digest}) has no "
                                f"{script}: it is not a Concourse resource type image")
        argv = [self._bwrap, "--die-with-parent", "--unshare-all", "--uid", "0", "--gid", "0"]
        if not self._privileged:
            argv += ["--cap-drop", "ALL"]
        argv += ["--ro-bind", str(rootfs.path), "/", "--proc", "/proc", "--dev", "/dev",
                 "--tmpfs", "/tmp", "--tmpfs", "/root"]  # noqa: S108 (the sandbox's own)
        for path in self._host_files:
            argv += ["--ro-bind", path, path]
        inner: list[str] = []
        if mount is not None:
            inner = [_MOUNTS[name]]
            argv += ["--bind", str(mount), inner[0], "--chdir", inner[0]]
        else:
            argv += ["--chdir", "/tmp"]  # noqa: S108
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", **rootfs.env}
        label = f"resource type {self.name!r} ({self._source.get('repository')}) {script}"
        return Command([*argv, "--", script, *inner], cwd=None, env=env, label=label,
                       network=self._network)
