"""`get` of an image, into the files registry-image and docker-image write.

Always: `repository`, `tag`, `digest` (and docker-image's `image-id`, the config's
digest). Then, by the step's params:

- registry-image `format: rootfs` (its default): `rootfs/` (the layers applied with
  layers.py, confined to it, within `ImageLimits`), `metadata.json` (`env`, `user`,
  `entrypoint`, `cmd`: what a task in that image needs) and `labels.json`;
  `format: oci-layout`: `oci/` (an OCI image layout holding the manifest, or the
  index, exactly as the registry has it: same digest when pushed again);
  `format: oci`: `image.tar`, a `docker save` tarball (`manifest.json`, config,
  layers), and `labels.json`;
- docker-image: `metadata.json` and `labels.json` always (no daemon to pull into),
  `save: true` the tarball as above named `image` (what a put's `load` reads),
  `rootfs: true` `rootfs.tar` (the unpacked root as one tar);
- `skip_download: true` (both): only the first files, after checking the digest is
  on the registry.

Layers stream to files, never whole in memory, each at most `layer_bytes`.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.ci.resources.base import Fetched, Log, MetadataField, ResourceError, Version
from headwater.ci.resources.layers import Budget, ImageTooLarge, unpack_layer
from headwater.ci.resources.registryimage_source import (
    DOCKER_IMAGE,
    ImageRepo,
    registry_failure,
)
from headwater.ci.resources.rootfs import ImageLimits
from headwater.registry import BlobTooLarge, RegistryClient, RegistryError

_FORMATS = ("rootfs", "oci", "oci-layout")
_GET_KEYS = {"format", "skip_download", "platform", "save", "rootfs"}


def get_format(kind: str, params: Mapping[str, Any], label: str) -> str | None:
    """What to write beyond the version files: rootfs, oci, oci-layout, rootfs.tar
    (docker-image's `rootfs`), or None (only metadata)."""
    unknown = sorted(set(params) - _GET_KEYS)
    if unknown:
        raise ResourceError(f"{label}: unknown get params {unknown}; known: "
                            f"{', '.join(sorted(_GET_KEYS))}")
    if params.get("skip_download"):
        return None
    if "format" in params:
        fmt = str(params["format"])
        if fmt not in _FORMATS:
            raise ResourceError(f"{label}: get format {fmt!r}: use one of "
                                f"{', '.join(_FORMATS)}")
        return fmt
    if kind == DOCKER_IMAGE:
        if params.get("save"):
            return "oci"
        return "rootfs.tar" if params.get("rootfs") else "metadata"
    return "rootfs"


async def fetch(repo: ImageRepo, version: Version, params: Mapping[str, Any], dest: Path,
                *, log: Log, limits: ImageLimits) -> Fetched:
    digest = version.get("digest")
    if not digest:
        raise ResourceError(f"{repo.label}: the version {version} has no digest")
    tag = version.get("tag") or repo.tag or "latest"
    fmt = get_format(repo.kind, params, repo.label)
    await log(f"fetching {repo.repository}@{digest}\n")
    try:
        async with repo.client() as client:
            if fmt is None:
                await client.head_manifest(repo.repository, digest)
                config: dict[str, Any] = {}
                config_digest = ""
            else:
                manifest = await client.manifest(repo.repository, digest)
                config_digest = manifest.config_digest or ""
                if not config_digest:
                    raise ResourceError(f"{repo.label}@{digest} is not an image: its "
                                        "manifest has no config")
                config = json.loads(await client.blob(repo.repository, config_digest))
                await _write(client, repo, fmt, digest=digest, tag=tag,
                             manifest=manifest.body, config_digest=config_digest,
                             config=config, dest=dest, limits=limits)
    except RegistryError as e:
        raise registry_failure(repo, f"fetching {digest}", e) from None
    files = {"repository": repo.written, "tag": tag, "digest": digest}
    if repo.kind == DOCKER_IMAGE and config_digest:
        files["image-id"] = config_digest
    await asyncio.to_thread(_write_files, dest, files)
    return Fetched(version=dict(version),
                   metadata=[MetadataField("repository", repo.written),
                             MetadataField("tag", tag)])


def _write_files(dest: Path, files: Mapping[str, str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (dest / name).write_text(text)


def _runtime(config: Mapping[str, Any]) -> dict[str, Any]:
    inner = config.get("config") or {}
    return {"env": inner.get("Env") or [], "user": inner.get("User") or "",
            "entrypoint": inner.get("Entrypoint"), "cmd": inner.get("Cmd")}


async def _write(client: RegistryClient, repo: ImageRepo, fmt: str, *, digest: str, tag: str,
                 manifest: Mapping[str, Any], config_digest: str, config: Mapping[str, Any],
                 dest: Path, limits: ImageLimits) -> None:
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
    labels = (config.get("config") or {}).get("Labels") or {}
    await asyncio.to_thread((dest / "metadata.json").write_text, json.dumps(_runtime(config)))
    await asyncio.to_thread((dest / "labels.json").write_text, json.dumps(labels))
    if fmt == "metadata":
        return
    if fmt == "oci-layout":
        await _oci_layout(client, repo, digest, dest / "oci", limits)
        return
    layers_dir = dest / ".layers"
    await asyncio.to_thread(layers_dir.mkdir)
    try:
        layers = await _download_layers(client, repo, manifest, layers_dir, limits)
        if fmt == "oci":
            name = "image" if repo.kind == DOCKER_IMAGE else "image.tar"
            await asyncio.to_thread(_docker_save, dest / name, repo.ref(tag),
                                    config_digest, json.dumps(config).encode(), layers)
        else:
            root = dest / "rootfs"
            await asyncio.to_thread(_unpack, root, layers, repo.label, limits)
            if fmt == "rootfs.tar":
                await asyncio.to_thread(_tar_rootfs, root, dest / "rootfs.tar")
    finally:
        await asyncio.to_thread(shutil.rmtree, layers_dir, True)


async def _download_layers(client: RegistryClient, repo: ImageRepo,
                           manifest: Mapping[str, Any], into: Path,
                           limits: ImageLimits) -> list[tuple[str, Path]]:
    layers = list(manifest.get("layers") or [])
    paths = []
    for number, layer in enumerate(layers, 1):
        digest = str(layer.get("digest"))
        path = into / digest.replace(":", "-")
        try:
            await client.download(repo.repository, digest, path, max_bytes=limits.layer_bytes)
        except BlobTooLarge:
            raise ResourceError(f"{repo.label}: layer {number} of {len(layers)} ({digest}) "
                                f"is larger than {limits.layer_bytes} bytes") from None
        paths.append((digest, path))
    return paths


def _unpack(root: Path, layers: list[tuple[str, Path]], label: str,
            limits: ImageLimits) -> None:
    root.mkdir()
    budget = Budget(limits.unpacked_bytes, limits.entries)
    for number, (digest, path) in enumerate(layers, 1):
        try:
            with tarfile.open(path, mode="r:*") as tar:
                unpack_layer(tar, root, budget=budget)
        except ImageTooLarge as e:
            raise ResourceError(f"{label}: layer {number} ({digest}): {e}") from None
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ResourceError(f"{label}: unpacking layer {number} ({digest}): {e}") from None


def _tar_rootfs(root: Path, out: Path) -> None:
    with tarfile.open(out, "w") as tar:  # symlinks stay symlinks (no dereference)
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)


def _docker_save(out: Path, ref: str, config_digest: str, config: bytes,
                 layers: list[tuple[str, Path]]) -> None:
    """A `docker save` tarball (as go-containerregistry's tarball.Write): what
    `docker load`, `buildah pull docker-archive:` and a put's `image` read."""
    hexes = [digest.split(":", 1)[1] for digest, _ in layers]
    manifest = [{"Config": config_digest, "RepoTags": [ref],
                 "Layers": [f"{h}.tar.gz" for h in hexes]}]
    with tarfile.open(out, "w") as tar:
        _add_bytes(tar, config_digest, config)
        for h, (_, path) in zip(hexes, layers, strict=True):
            tar.add(path, arcname=f"{h}.tar.gz")
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


async def _oci_layout(client: RegistryClient, repo: ImageRepo, digest: str, layout: Path,
                      limits: ImageLimits) -> None:
    blobs = layout / "blobs" / "sha256"
    await asyncio.to_thread(blobs.mkdir, parents=True)
    got, media_type, raw = await client.manifest_bytes(repo.repository, digest)
    await asyncio.to_thread((blobs / got.split(":", 1)[1]).write_bytes, raw)
    doc = json.loads(raw)
    children = [m for m in doc.get("manifests") or []]
    images = [doc]
    for child in children:  # an index: each platform's manifest
        _, _, child_raw = await client.manifest_bytes(repo.repository, str(child["digest"]))
        await asyncio.to_thread((blobs / str(child["digest"]).split(":", 1)[1]).write_bytes,
                                child_raw)
        images.append(json.loads(child_raw))
    for image in images:
        for blob in [image.get("config"), *(image.get("layers") or [])]:
            if not isinstance(blob, dict) or "digest" not in blob:
                continue
            path = blobs / str(blob["digest"]).split(":", 1)[1]
            if not path.exists():
                await client.download(repo.repository, str(blob["digest"]), path,
                                      max_bytes=limits.layer_bytes)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": media_type, "digest": got, "size": len(raw)}]}
    await asyncio.to_thread((layout / "index.json").write_text, json.dumps(index))
    await asyncio.to_thread((layout / "oci-layout").write_text,
                            json.dumps({"imageLayoutVersion": "1.0.0"}))
