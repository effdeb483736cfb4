"""A task's image, found and opened: which root filesystem it runs in, as which user.

Concourse's precedence (atc/exec/task_step.go `imageSpec`): `image:` on the step (an
artifact of the build), else the config's `image_resource`, else its `rootfs_uri`.

- `image_resource` of type `registry-image` or `docker-image`: pulled and unpacked
  once per digest into the server's one image cache (ci/resources/rootfs.py, shared
  with resource type images). A `version: {digest: ...}` pins the digest. Other types
  are refused: their `in` would have to produce a rootfs first.
- `image:` names an artifact in registry-image's `format: rootfs`: `rootfs/` and
  `metadata.json` (`{"env": ["K=V", ...], "user": "..."}`), as a `get` of a
  registry-image resource or a task output writes it. Both are reached without
  following links (confine.py): a `rootfs` that is a symlink (to the host's `/`) is
  refused, never followed. Or an OCI image layout (`format: oci-layout`: `oci/` with
  `index.json` and `blobs/`, or those at the artifact's top): its linux/amd64 image is
  unpacked into the image cache once per manifest digest, every blob checked against
  its digest and read without following links (a blob linked to a host file is refused).
- `rootfs_uri`: `raw:///abs/dir` (Concourse's containerd runtime accepts only this
  scheme) names a root filesystem on the server; it must lie under one of the
  server's `rootfs_dirs` (none by default: `raw:///` would otherwise make the host's
  own `/` a task's root). `docker:///repository#tag` (Garden's) is pulled as an
  `image_resource`.

`lookup_user` and `image_env` are the pure rules of `run.user` and the environment,
as Concourse's runtime applies them (worker/runtime/container.go).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.ci.build import confine, ocilayout
from headwater.ci.build.confine import Beneath, Refused
from headwater.ci.build.errors import StepError
from headwater.ci.build.executor import ArtifactImage, RegistryImage, RootfsUri, TaskImage
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.rootfs import IMAGE_TYPES, ResourceImages

SUPERUSER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
_METADATA_LIMIT = 1 << 20  # bytes of metadata.json read
_PASSWD_LIMIT = 4 << 20  # bytes of /etc/passwd and /etc/group read


@dataclass(frozen=True)
class ImageRoot:
    """An image ready to run in: its root directory, environment, default user, and a
    label for the build log."""

    path: Path
    env: dict[str, str]
    user: str
    label: str


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str


async def resolve(image: TaskImage, *, images: ResourceImages | None,
                  rootfs_dirs: Sequence[Path], what: str) -> tuple[ImageRoot, bool]:
    """`image` as a root directory, and whether it was pulled now (not cached)."""
    if isinstance(image, ArtifactImage):
        layout = await asyncio.to_thread(ocilayout.find, image.path)
        if layout is not None:
            return await _unpack_layout(image, layout, images, what)
        return await asyncio.to_thread(_artifact, image, what), False
    if isinstance(image, RootfsUri):
        scheme, sep, rest = image.uri.partition("://")
        if sep and scheme == "raw":
            return await asyncio.to_thread(_raw, rest, rootfs_dirs, what), False
        if sep and scheme == "docker":
            return await _pull(RegistryImage("registry-image", _docker_source(rest)),
                               images, f"{what}: rootfs_uri")
        raise StepError(f"{what}: rootfs_uri {image.uri!r} is not supported: use "
                        "raw:///<directory> or docker:///<repository>#<tag> (better: "
                        "image_resource)")
    return await _pull(image, images, f"{what}: image_resource")


async def _pull(image: RegistryImage, images: ResourceImages | None,
                what: str) -> tuple[ImageRoot, bool]:
    if image.type not in IMAGE_TYPES:
        raise StepError(f"{what} has type {image.type!r}: only "
                        f"{' and '.join(IMAGE_TYPES)} images can run tasks here")
    if images is None:
        raise StepError(f"{what}: this server has no image cache to pull into")
    before = images.pulls
    try:
        rootfs = await images.pull(image.source, what=what)
    except ResourceError as e:
        raise StepError(str(e)) from None
    label = f"{image.source.get('repository')}@{rootfs.digest}"
    return ImageRoot(rootfs.path, rootfs.env, rootfs.user, label), images.pulls > before


async def _unpack_layout(image: ArtifactImage, layout: str, images: ResourceImages | None,
                         what: str) -> tuple[ImageRoot, bool]:
    where = f"{what}: image artifact {image.name!r} (OCI layout)"
    if images is None:
        raise StepError(f"{where}: this server has no image cache to unpack into")
    try:
        found = await asyncio.to_thread(ocilayout.read, Beneath(image.path, layout))

        async def copy_layers(into: Path) -> list[Path]:
            return await asyncio.to_thread(ocilayout.copy_layers, found, into,
                                           limit=images.limits.layer_bytes)

        rootfs, unpacked = await images.store(found.digest, found.config, copy_layers,
                                              image=where)
    except (ocilayout.LayoutError, ResourceError) as e:
        raise StepError(f"{where}: {e}") from None
    return ImageRoot(rootfs.path, rootfs.env, rootfs.user,
                     f"artifact {image.name}@{found.digest}"), unpacked


def pinned(source: Mapping[str, Any], version: Mapping[str, str] | None) -> dict[str, Any]:
    """An `image_resource` source with its `version: {digest}` as the tag, if any."""
    digest = (version or {}).get("digest")
    return {**source, "tag": digest} if digest else dict(source)


def _docker_source(rest: str) -> dict[str, Any]:
    """`docker:///repo#tag` (Docker Hub) or `docker://host:port/repo#tag`."""
    ref, _, tag = rest.partition("#")
    repository = ref.lstrip("/")
    return {"repository": repository, **({"tag": tag} if tag else {})}


def _artifact(image: ArtifactImage, what: str) -> ImageRoot:
    where = f"{what}: image artifact {image.name!r}"
    try:
        text = confine.read_file(Beneath(image.path), "metadata.json", limit=_METADATA_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        raise StepError(f"{where} has no metadata.json: is it in rootfs format (rootfs/ "
                        "and metadata.json, registry-image's `format: rootfs`)?") from None
    except Refused as e:
        raise StepError(f"{where}: metadata.json: {e}") from None
    try:
        metadata = json.loads(text)
        env = _env_list(metadata.get("env") or [])
        user = str(metadata.get("user") or "")
    except (ValueError, AttributeError, TypeError):
        raise StepError(f"{where}: metadata.json is not an object with `env` (a list of "
                        "K=V) and `user`") from None
    if not confine.is_dir(Beneath(image.path, "rootfs")):
        raise StepError(f"{where} has no directory rootfs/ (a symbolic link there is "
                        "refused: headwater never follows a link out of an artifact)")
    return ImageRoot(image.path / "rootfs", env, user, f"artifact {image.name}")


def _raw(rest: str, rootfs_dirs: Sequence[Path], what: str) -> ImageRoot:
    if not rest.startswith("/"):
        raise StepError(f"{what}: rootfs_uri raw://{rest}: the directory must be an "
                        "absolute path (raw:///path/to/rootfs)")
    real = Path(os.path.realpath(rest))
    allowed = [Path(os.path.realpath(d)) for d in rootfs_dirs]
    if not any(real.is_relative_to(d) and real != d for d in allowed):
        dirs = ", ".join(map(str, allowed)) or "none on this server"
        raise StepError(f"{what}: rootfs_uri raw://{rest} is not under a directory this "
                        f"server allows root filesystems in ({dirs}); use image_resource, "
                        "or ask the operator to put it there")
    if not real.is_dir():
        raise StepError(f"{what}: rootfs_uri raw://{rest} is not a directory")
    return ImageRoot(real, {}, "", f"raw://{real}")


def _env_list(items: Sequence[Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if sep:
            env[name] = value
    return env


# -- users and environment (pure) -----------------------------------------------------


def lookup_user(spec: str, passwd: str, group: str = "") -> User | None:
    """`run.user` as runc reads it: `name`, `uid`, `name:group`, `uid:gid`. A name
    must be in `passwd`; a number need not be (home `/`, gid 0 unless given). None:
    unknown name or group."""
    user_part, _, group_part = spec.partition(":")
    entries = [line.split(":") for line in passwd.splitlines()
               if line and not line.startswith("#") and line.count(":") >= 6]
    found = None
    for name, _pw, uid, gid, _gecos, home, *_ in entries:
        if user_part in (name, uid) and uid.isdigit() and gid.isdigit():
            found = User(name, int(uid), int(gid), home or "/")
            break
    if found is None:
        if not user_part.isdigit():
            return None
        found = User(user_part, int(user_part), 0, "/")
    if group_part:
        group_id = _group_id(group_part, group)
        if group_id is None:
            return None
        found = User(found.name, found.uid, group_id, found.home)
    return found


def _group_id(spec: str, group: str) -> int | None:
    for line in group.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and spec in (fields[0], fields[2]) and fields[2].isdigit():
            return int(fields[2])
    return int(spec) if spec.isdigit() else None


def image_env(image: Mapping[str, str], task: Mapping[str, str], user: User, *,
              explicit_user: bool) -> dict[str, str]:
    """The image's Env, then the task's (build metadata, params); USER when the task
    named its user; PATH and HOME by the user when still unset."""
    env = {**image, **task}
    if explicit_user:
        env["USER"] = user.name
    env.setdefault("PATH", SUPERUSER_PATH if user.uid == 0 else USER_PATH)
    env.setdefault("HOME", user.home)
    return env


def image_user(root: ImageRoot, requested: str | None, what: str) -> User:
    """The user the task runs as: `run.user`, else the image's, else root."""
    spec = requested or root.user or "root"
    passwd = _read_etc(root.path, "passwd")
    group = _read_etc(root.path, "group") if ":" in spec else ""
    user = lookup_user(spec, passwd, group)
    if user is None:
        if spec == "root":
            return User("root", 0, 0, "/root")
        source = "run.user" if requested else "the image's user"
        raise StepError(f"{what}: {source} {spec!r} is not in the image's /etc/passwd "
                        "(or its group in /etc/group): use a user of the image, or a uid")
    return user


def _read_etc(root: Path, name: str) -> str:
    try:
        return confine.read_file(Beneath(root, "etc"), name, limit=_PASSWD_LIMIT).decode(
            errors="replace")
    except (OSError, Refused):
        return ""
