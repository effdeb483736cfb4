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
- entries are confined to the root: no `..`, absolute symlinks are resolved inside
  the root while unpacking, device nodes are skipped (the sandbox has its own /dev);
- the image's `Env` is kept with it: the scripts run with the image's PATH;
- images no tag lookup named for `keep_unused` (7 days) are removed after each new pull.

Source keys, as the two Concourse resources read them: `repository` (required), `tag`
(default `latest`), `username`/`password`, `insecure_registries` (docker-image's list
of hosts reached over plain http; loopback always is).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from headwater.ci.resources.base import ResourceError
from headwater.registry import (
    DEFAULT_INSECURE_HOSTS,
    Credentials,
    InvalidReference,
    RegistryClient,
    RegistryError,
    parse,
)

IMAGE_TYPES = ("registry-image", "docker-image")

_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
# What the sandbox mounts over: they must exist in a read-only root.
_MOUNT_POINTS_DIRS = ("proc", "dev", "tmp", "root", "etc")
_MOUNT_POINTS_FILES = ("etc/resolv.conf", "etc/hosts")
_UNPACKED = "rootfs"
_CONFIG = "env.json"

ClientFactory = Callable[[Mapping[str, Credentials], frozenset[str]], RegistryClient]


@dataclass(frozen=True)
class Rootfs:
    """An unpacked image: its root directory, its digest and its environment."""

    path: Path
    digest: str
    env: dict[str, str]


@dataclass(frozen=True)
class ImageSource:
    """What a `registry-image` source names: the image and how to reach it."""

    repository: str
    tag: str
    credentials: Credentials | None
    insecure_hosts: frozenset[str]

    @classmethod
    def parse(cls, type_name: str, source: Mapping[str, Any]) -> ImageSource:
        repository = source.get("repository")
        if not isinstance(repository, str) or not repository:
            raise ResourceError(f"resource type {type_name!r}: its source needs `repository`, "
                                "the image holding /opt/resource/check, in and out")
        tag = str(source.get("tag") or "latest")
        try:
            ref = parse(repository)
            if ref.tag is None and ref.digest is None:
                ref = ref.with_tag(tag)
        except InvalidReference as e:
            raise ResourceError(f"resource type {type_name!r}: {e}") from None
        username, password = source.get("username"), source.get("password")
        credentials = None
        if username or password:
            if not isinstance(username, str) or not isinstance(password, str):
                raise ResourceError(f"resource type {type_name!r}: `username` and `password` "
                                    "go together, as strings")
            credentials = Credentials(username, password, source=f"resource type {type_name}")
        insecure = source.get("insecure_registries") or []
        if not isinstance(insecure, list) or not all(isinstance(h, str) for h in insecure):
            raise ResourceError(f"resource type {type_name!r}: `insecure_registries` is a "
                                "list of host:port")
        return cls(repository=ref.name, tag=ref.version or tag, credentials=credentials,
                   insecure_hosts=frozenset(insecure))

    @property
    def image(self) -> str:
        sep = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.repository}{sep}{self.tag}"


def _client(credentials: Mapping[str, Credentials], insecure: frozenset[str]) -> RegistryClient:
    return RegistryClient(credentials=credentials, insecure_hosts=DEFAULT_INSECURE_HOSTS | insecure)


class ResourceImages:
    """Pulls and unpacks resource type images under `cache_dir`; see the module doc."""

    def __init__(self, cache_dir: Path, *, resolve_ttl: float = 60.0,
                 keep_unused: float = 7 * 86400.0, client: ClientFactory = _client) -> None:
        self.cache_dir = cache_dir
        self._ttl = resolve_ttl
        self._keep = keep_unused
        self._client = client
        self._resolved: dict[tuple[str, str], tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.pulls = 0  # images unpacked by this process, for tests and logs

    async def rootfs(self, type_name: str, source: Mapping[str, Any]) -> Rootfs:
        image = ImageSource.parse(type_name, source)
        lock = self._locks.setdefault(image.image, asyncio.Lock())
        async with lock:  # one resolve and one pull per image at a time
            try:
                return await self._rootfs(image)
            except RegistryError as e:
                raise ResourceError(f"resource type {type_name!r}: pulling {image.image}: "
                                    f"{e}") from None

    async def _rootfs(self, image: ImageSource) -> Rootfs:
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
        async with self._client(credentials, image.insecure_hosts) as client:
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
            layers = []
            for layer in manifest.body.get("layers") or []:
                media_type = str(layer.get("mediaType", ""))
                if "zstd" in media_type:
                    raise ResourceError(f"{image.image}: layer {layer.get('digest')} is "
                                        f"{media_type}; only gzip and plain tar layers are "
                                        "supported")
                layers.append(await client.blob(image.repository, str(layer["digest"])))
        env = _env(config)
        await asyncio.to_thread(_unpack_into, target, layers, env)
        self.pulls += 1
        await asyncio.to_thread(sweep, self.cache_dir, self._keep)
        found = _load(target, digest)
        assert found is not None
        return found


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
    try:
        env = json.loads((directory / _CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return Rootfs(directory / _UNPACKED, digest, {str(k): str(v) for k, v in env.items()})


def _env(config: Mapping[str, Any]) -> dict[str, str]:
    inner = config.get("config") or {}
    env: dict[str, str] = {}
    for item in inner.get("Env") or []:
        name, sep, value = str(item).partition("=")
        if sep:
            env[name] = value
    return env


def _unpack_into(target: Path, layers: list[bytes], env: Mapping[str, str]) -> None:
    """Unpack `layers` into `target/rootfs` atomically (a temporary directory renamed)."""
    if (target / _CONFIG).exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=target.parent))
    try:
        root = work / _UNPACKED
        root.mkdir()
        for number, data in enumerate(layers, 1):
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                    unpack_layer(tar, root)
            except (tarfile.TarError, OSError, EOFError) as e:
                raise ResourceError(f"unpacking layer {number} of {len(layers)}: {e}") from None
        for d in _MOUNT_POINTS_DIRS:
            _ensure_dir(root, d)
        for f in _MOUNT_POINTS_FILES:
            path = root / f
            if not path.exists() and not path.is_symlink():
                path.touch()
        (work / _CONFIG).write_text(json.dumps(dict(env)))
        if target.exists() and not (target / _CONFIG).exists():  # an incomplete pull
            _force_rmtree(target)
        try:
            work.rename(target)
        except OSError as e:
            if not (target / _CONFIG).exists():  # not another server's complete pull
                raise ResourceError(f"storing the image under {target}: {e}") from None
    finally:
        if work.exists():
            _force_rmtree(work)


def unpack_layer(tar: tarfile.TarFile, root: Path) -> None:
    """Apply one layer to the directory `root` (see the module doc)."""
    for member in tar:
        parts = _parts(member.name)
        if not parts:
            continue
        parent, name = _resolve(root, parts[:-1]), parts[-1]
        if name == _OPAQUE:
            for child in list(parent.iterdir()):
                _remove(child)
            continue
        if name.startswith(_WHITEOUT):
            _remove(parent / name[len(_WHITEOUT):])
            continue
        _write(tar, member, root, parent / name)


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path, path: Path) -> None:
    if member.isdir():
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            _remove(path)
        path.mkdir(exist_ok=True)
        # Owner-writable, so later layers can add to it; the sandbox maps us to root.
        path.chmod((member.mode & 0o7777 & ~0o6000) | 0o700)
        return
    if member.isfile() or member.islnk() or member.issym() or member.isfifo():
        _remove(path)
    if member.isfile():
        source = tar.extractfile(member)
        assert source is not None
        with source, open(path, "wb") as out:
            shutil.copyfileobj(source, out)
        path.chmod((member.mode & 0o777) | 0o600)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        linked = _parts(member.linkname)
        target = _resolve(root, linked[:-1]) / linked[-1] if linked else None
        if target is None or not target.exists():
            raise ResourceError(f"hard link {member.name} to {member.linkname}: no such "
                                "file in the image")
        os.link(target, path)
    elif member.isfifo():
        os.mkfifo(path)
    # Character and block devices are skipped: /dev is the sandbox's own.


def _parts(name: str) -> list[str]:
    parts = [p for p in PurePosixPath(name).parts if p not in ("/", ".", "")]
    if ".." in parts:
        raise ResourceError(f"image layer entry {name!r} leaves the root filesystem")
    return parts


def _resolve(root: Path, parts: list[str], depth: int = 0) -> Path:
    """`root/parts`, following symlinks as if `root` were `/` (chroot-like), creating
    missing directories; never a path outside `root`."""
    if depth > 40:
        raise ResourceError(f"too many levels of symbolic links under {root}")
    current = root
    for i, part in enumerate(parts):
        candidate = current / part
        if candidate.is_symlink():
            link = os.readlink(candidate)
            base = [] if link.startswith("/") else _relative(root, current)
            inner = [*base, *[p for p in PurePosixPath(link).parts if p not in ("/", ".", "")]]
            normal: list[str] = []
            for p in inner:
                if p == "..":
                    if normal:
                        normal.pop()
                else:
                    normal.append(p)
            return _resolve(root, [*normal, *parts[i + 1:]], depth + 1)
        if not candidate.exists():
            candidate.mkdir(mode=0o755)
        elif not candidate.is_dir():
            _remove(candidate)
            candidate.mkdir(mode=0o755)
        current = candidate
    return current


def _relative(root: Path, path: Path) -> list[str]:
    return list(path.relative_to(root).parts)


def _ensure_dir(root: Path, name: str) -> None:
    path = root / name
    if path.is_symlink():  # e.g. /tmp -> /var/tmp: resolve inside the root
        _resolve(root, [name])
    elif not path.is_dir():
        _remove(path)
        path.mkdir(mode=0o755)


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        _force_rmtree(path)


def _force_rmtree(path: Path) -> None:
    """rmtree that also removes what an image made read-only for its owner."""

    def retry(function: Callable[..., Any], name: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            function(name)

    shutil.rmtree(path, onerror=retry)
