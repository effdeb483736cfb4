"""Root filesystems of resource type images, pulled from a registry and kept on disk.

A pipeline's `resource_types` entry of type `registry-image` (or the older
`docker-image`) names an image whose `/opt/resource/{check,in,out}` implement the
type, as Concourse's do. `ResourceImages.rootfs` turns one into a directory:

- the tag is resolved to the image's digest (linux/amd64 out of an index) at most
  once per `resolve_ttl` seconds per repository and tag, so a thousand checks of one
  type cost one registry request a minute, and a pushed tag is picked up within it;
- each image is unpacked once, under `<cache_dir>/<digest>/`, layer after layer with
  the OCI whiteouts (`.wh.<name>` removes a path, `.wh..wh..opq` empties a directory),
  into a temporary directory renamed into place when complete: a crash never leaves
  half an image behind, and concurrent users of one image wait for a single pull;
- layers are streamed to files there, never whole in memory, each at most
  `ImageLimits.layer_bytes` (2 GiB) downloaded, and the image at most
  `ImageLimits.unpacked_bytes` (8 GiB) of file contents unpacked; over a limit is an
  error naming the image and the layer;
- entries are confined to the root (layers.py): every file is created from a
  directory fd reached component by component without following the image's
  symlinks out of the root; no `..`; device nodes are skipped (the sandbox has its
  own /dev);
- the paths sandboxes mount over (`/proc`, `/dev`, `/tmp`, `/root`, `/etc`,
  `/etc/hosts`, `/etc/resolv.conf`) are made real directories and files: a symlink
  the image has there is replaced. bubblewrap follows a symlink in a mount's
  destination from its own root, where the host's root is still reachable: an image
  with `tmp -> /oldroot/etc` would make it create directories on the host. Images
  unpacked before this rule (no `metadata.json`) are pulled again;
- the image's `Env` and `User` are kept with it (`env.json`, `metadata.json` as
  registry-image's `format: rootfs` writes it): scripts and tasks run with the
  image's PATH, tasks as its user unless `run.user` says otherwise;
- images no tag lookup named for `keep_unused` (7 days) are removed after each new pull.

One cache serves resource type images and task images (`image_resource`, `rootfs_uri:
docker:///...`): `pull` answers an image by its source, `rootfs` by a resource type's.

Source keys, as the two Concourse resources read them: `repository` (required), `tag`
(default `latest`), `username`/`password`, `insecure_registries` (docker-image's list
of hosts reached over plain http; loopback always is).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.layers import Budget, ImageTooLarge, unpack_layer
from headwater.ci.resources.reach import Reach
from headwater.registry import (
    DEFAULT_INSECURE_HOSTS,
    BlobTooLarge,
    Credentials,
    InvalidReference,
    RegistryClient,
    RegistryError,
    parse,
)

IMAGE_TYPES = ("registry-image", "docker-image")

__all__ = ["IMAGE_TYPES", "ImageLimits", "ImageSource", "ResourceImages", "Rootfs",
           "real_mount_points", "sweep", "unpack_layer"]

GiB = 1024 ** 3
# What the sandbox mounts over: they must exist in a read-only root.
_MOUNT_POINTS_DIRS = ("proc", "dev", "tmp", "root", "etc")
_MOUNT_POINTS_FILES = ("etc/resolv.conf", "etc/hosts")
_UNPACKED = "rootfs"
_LAYERS = "layers"
_CONFIG = "env.json"
_METADATA = "metadata.json"

Guard = Callable[[httpx.URL], Awaitable[None]] | None
ClientFactory = Callable[[Mapping[str, Credentials], frozenset[str], Guard], RegistryClient]
LayerFetch = Callable[[Path], Awaitable[list[Path]]]  # writes layer files into a dir


@dataclass(frozen=True)
class ImageLimits:
    """How much one resource type image may take: bytes downloaded per layer, bytes of
    file contents and entries (files, directories, links) unpacked for the whole image
    (a large distribution image has some 100,000 entries)."""

    layer_bytes: int = 2 * GiB
    unpacked_bytes: int = 8 * GiB
    entries: int = 1_000_000


@dataclass(frozen=True)
class Rootfs:
    """An unpacked image: its root directory, its digest, its environment and user."""

    path: Path
    digest: str
    env: dict[str, str]
    user: str = ""


@dataclass(frozen=True)
class ImageSource:
    """What a `registry-image` source names: the image and how to reach it."""

    repository: str
    tag: str
    credentials: Credentials | None
    insecure_hosts: frozenset[str]

    @classmethod
    def parse(cls, type_name: str, source: Mapping[str, Any], *,
              what: str | None = None) -> ImageSource:
        """`source` of the resource type `type_name`, or of what `what` names."""
        what = what or f"resource type {type_name!r}"
        repository = source.get("repository")
        if not isinstance(repository, str) or not repository:
            needs = "the image holding /opt/resource/check, in and out" if type_name \
                else "the image to run in"
            raise ResourceError(f"{what}: its source needs `repository`, {needs}")
        tag = str(source.get("tag") or "latest")
        try:
            ref = parse(repository)
            if ref.tag is None and ref.digest is None:
                ref = ref.with_tag(tag)
        except InvalidReference as e:
            raise ResourceError(f"{what}: {e}") from None
        username, password = source.get("username"), source.get("password")
        credentials = None
        if username or password:
            if not isinstance(username, str) or not isinstance(password, str):
                raise ResourceError(f"{what}: `username` and `password` go together, as "
                                    "strings")
            credentials = Credentials(username, password, source=what)
        insecure = source.get("insecure_registries") or []
        if not isinstance(insecure, list) or not all(isinstance(h, str) for h in insecure):
            raise ResourceError(f"{what}: `insecure_registries` is a list of host:port")
        return cls(repository=ref.name, tag=ref.version or tag, credentials=credentials,
                   insecure_hosts=frozenset(insecure))

    @property
    def image(self) -> str:
        sep = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.repository}{sep}{self.tag}"


def _client(credentials: Mapping[str, Credentials], insecure: frozenset[str],
            guard: Guard) -> RegistryClient:
    return RegistryClient(credentials=credentials, insecure_hosts=DEFAULT_INSECURE_HOSTS | insecure,
                          guard=guard)


class ResourceImages:
    """Pulls and unpacks resource type images under `cache_dir`; see the module doc."""

    def __init__(self, cache_dir: Path, *, resolve_ttl: float = 60.0,
                 keep_unused: float = 7 * 86400.0, client: ClientFactory = _client,
                 limits: ImageLimits = ImageLimits(), reach: Reach | None = None) -> None:
        self.cache_dir = cache_dir
        self._reach = reach or Reach.anything()
        self.limits = limits
        self._ttl = resolve_ttl
        self._keep = keep_unused
        self._client = client
        self._resolved: dict[tuple[str, str], tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.pulls = 0  # images unpacked by this process, for tests and logs

    async def rootfs(self, type_name: str, source: Mapping[str, Any]) -> Rootfs:
        """The image of the resource type `type_name`."""
        return await self._pull(ImageSource.parse(type_name, source),
                                f"resource type {type_name!r}")

    async def pull(self, source: Mapping[str, Any], *, what: str) -> Rootfs:
        """The image `source` names (registry-image's source keys) for what `what`
        names in errors (a task's `image_resource`)."""
        return await self._pull(ImageSource.parse("", source, what=what), what)

    async def _pull(self, image: ImageSource, what: str) -> Rootfs:
        lock = self._locks.setdefault(image.image, asyncio.Lock())
        async with lock:  # one resolve and one pull per image at a time
            try:
                return await self._rootfs(image, what)
            except RegistryError as e:
                raise ResourceError(f"{what}: pulling {image.image}: {e}") from None

    async def _rootfs(self, image: ImageSource, what: str) -> Rootfs:
        key = (image.repository, image.tag)
        now = time.monotonic()
        cached = self._resolved.get(key)
        digest = cached[1] if cached and now - cached[0] < self._ttl else None
        if digest is not None:
            found = _load(self.cache_dir / _dirname(digest), digest)
            if found is not None:
                return found
        # The tag is looked up again: a use of the image it names, for the sweep below.
        host = parse(image.repository).registry
        credentials = {host: image.credentials} if image.credentials else {}
        guard = self._reach.guard(what)
        async with self._client(credentials, image.insecure_hosts, guard) as client:
            manifest = await client.manifest(image.repository, image.tag)
            digest = manifest.image_digest
            self._resolved[key] = (now, digest)
            target = self.cache_dir / _dirname(digest)
            found = _load(target, digest)
            if found is not None:
                await asyncio.to_thread(_touch, target)
                return found
            config_digest = manifest.config_digest
            if config_digest is None:
                raise ResourceError(f"{image.image} is not an image: its manifest has no config")
            config = json.loads(await client.blob(image.repository, config_digest))

            async def download(into: Path) -> list[Path]:
                return await self._download(client, image, manifest.body, into)

            return await self._store(digest, config, download, image=image.image)

    async def store(self, digest: str, config: Mapping[str, Any], layers: LayerFetch, *,
                    image: str) -> tuple[Rootfs, bool]:
        """The image of manifest `digest` from the cache, or unpacked now from the layer
        files `layers(into)` writes (an OCI layout's blobs); and whether it was."""
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            target = self.cache_dir / _dirname(digest)
            found = _load(target, digest)
            if found is not None:
                await asyncio.to_thread(_touch, target)
                return found, False
            return await self._store(digest, config, layers, image=image), True

    async def _store(self, digest: str, config: Mapping[str, Any], fetch: LayerFetch, *,
                     image: str) -> Rootfs:
        target = self.cache_dir / _dirname(digest)
        await asyncio.to_thread(self.cache_dir.mkdir, parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".pull-", dir=self.cache_dir))
        try:
            layers = await fetch(work / _LAYERS)
            await asyncio.to_thread(_unpack_into, target, work, layers, _env(config),
                                    _user(config),
                                    budget=Budget(self.limits.unpacked_bytes,
                                                  self.limits.entries),
                                    image=image)
        finally:  # renamed into place when complete; what is left was a failure
            await asyncio.to_thread(_remove_if_there, work)
        self.pulls += 1
        await asyncio.to_thread(sweep, self.cache_dir, self._keep)
        found = _load(target, digest)
        assert found is not None
        return found

    async def _download(self, client: RegistryClient, image: ImageSource,
                        manifest: Mapping[str, Any], into: Path) -> list[Path]:
        """Each layer streamed into a file of `into`, at most `layer_bytes` each."""
        await asyncio.to_thread(into.mkdir)
        layers = list(manifest.get("layers") or [])
        limit = self.limits.layer_bytes
        paths = []
        for number, layer in enumerate(layers, 1):
            digest, media_type = str(layer.get("digest")), str(layer.get("mediaType", ""))
            where = f"{image.image}: layer {number} of {len(layers)} ({digest})"
            if "zstd" in media_type:
                raise ResourceError(f"{where} is {media_type}; only gzip and plain tar "
                                    "layers are supported")
            size = layer.get("size")
            too_large = ResourceError(f"{where} is larger than the limit of {limit} bytes per "
                                      "layer download: use a smaller image, or raise "
                                      "--resource-image-max-layer")
            if isinstance(size, int) and size > limit:
                raise too_large
            path = into / f"{number}.tar"
            try:
                await client.download(image.repository, digest, path, max_bytes=limit)
            except BlobTooLarge:
                raise too_large from None
            paths.append(path)
        return paths


def sweep(cache_dir: Path, keep: float) -> list[Path]:
    """Remove the images no tag lookup named for `keep` seconds (their `env.json` is
    touched at each lookup, at most once a minute per tag) and pulls that never
    finished; what was removed. Runs after each new pull: a new digest of a tag leaves
    the old one unused."""
    removed = []
    cutoff = time.time() - keep
    for entry in cache_dir.iterdir() if cache_dir.is_dir() else ():
        marker = entry if entry.name.startswith(".pull-") else entry / _CONFIG
        try:
            stale = marker.stat().st_mtime < cutoff
        except OSError:  # no env.json: a pull that never finished
            stale = True
        if stale:
            _force_rmtree(entry)
            removed.append(entry)
    return removed


def _touch(directory: Path) -> None:
    with contextlib.suppress(OSError):
        (directory / _CONFIG).touch()


def _dirname(digest: str) -> str:
    return digest.replace(":", "-")


def _load(directory: Path, digest: str) -> Rootfs | None:
    try:  # metadata.json, written last, marks a complete image of this version;
        # images unpacked before it was written (mount points maybe links) are pulled again
        env = json.loads((directory / _CONFIG).read_text())
        user = str(json.loads((directory / _METADATA).read_text()).get("user") or "")
    except (OSError, ValueError, AttributeError):
        return None
    return Rootfs(directory / _UNPACKED, digest, {str(k): str(v) for k, v in env.items()},
                  user)


def _user(config: Mapping[str, Any]) -> str:
    return str((config.get("config") or {}).get("User") or "")


def _env(config: Mapping[str, Any]) -> dict[str, str]:
    inner = config.get("config") or {}
    env: dict[str, str] = {}
    for item in inner.get("Env") or []:
        name, sep, value = str(item).partition("=")
        if sep:
            env[name] = value
    return env


def _unpack_into(target: Path, work: Path, layers: list[Path], env: Mapping[str, str],
                 user: str, *, budget: Budget, image: str) -> None:
    """Unpack the layer files into `work/rootfs`, then rename `work` to `target`: the
    image appears complete or not at all."""
    if (target / _METADATA).exists():
        return
    root = work / _UNPACKED
    root.mkdir()
    for number, layer in enumerate(layers, 1):
        where = f"{image}: layer {number} of {len(layers)}"
        try:
            with tarfile.open(layer, mode="r:*") as tar:
                unpack_layer(tar, root, budget=budget)
        except ImageTooLarge as e:
            flag = ", or raise --resource-image-max-unpacked" if e.of == "bytes" else ""
            raise ResourceError(f"{where}: {e}: use a smaller image{flag}") from None
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ResourceError(f"unpacking {where}: {e}") from None
        except ResourceError as e:
            raise ResourceError(f"{where}: {e}") from None
        layer.unlink()
    real_mount_points(root)
    shutil.rmtree(work / _LAYERS, ignore_errors=True)
    (work / _CONFIG).write_text(json.dumps(dict(env)))
    (work / _METADATA).write_text(json.dumps(
        {"env": [f"{k}={v}" for k, v in env.items()], "user": user}))
    if target.exists() and not (target / _METADATA).exists():  # incomplete, or older
        _force_rmtree(target)
    try:
        work.rename(target)
    except OSError as e:
        if not (target / _METADATA).exists():  # not another server's complete pull
            raise ResourceError(f"storing the image under {target}: {e}") from None


def real_mount_points(root: Path) -> None:
    """Make the paths sandboxes mount over real directories and files of `root`,
    replacing any symlink on the way (see the module doc)."""
    for d in _MOUNT_POINTS_DIRS:
        _real(root, d, directory=True)
    for f in _MOUNT_POINTS_FILES:
        _real(root, f, directory=False)


def _real(root: Path, rel: str, *, directory: bool) -> None:
    parts = rel.split("/")
    fd = os.open(root, _DIR_NOFOLLOW)
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            try:
                found: os.stat_result | None = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                found = None
            want_dir = directory or not last
            if found is not None and (stat.S_ISDIR(found.st_mode) != want_dir
                                      or stat.S_ISLNK(found.st_mode)):
                if stat.S_ISDIR(found.st_mode):
                    shutil.rmtree(name, dir_fd=fd)
                else:
                    os.unlink(name, dir_fd=fd)
                found = None
            if found is None:
                if want_dir:
                    os.mkdir(name, 0o755, dir_fd=fd)
                else:
                    os.close(os.open(name, _NEW_FILE, 0o644, dir_fd=fd))
            if want_dir:
                child = os.open(name, _DIR_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
    finally:
        os.close(fd)


_DIR_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_if_there(path: Path) -> None:
    if path.exists():
        _force_rmtree(path)


def _force_rmtree(path: Path) -> None:
    """rmtree that also removes what an image made read-only for its owner."""

    def retry(function: Callable[..., Any], name: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            function(name)

    shutil.rmtree(path, onerror=retry)
