"""Push small images made from files, without a container engine.

Used by the local stack for its sandbox ("pause") image, and by tests and benchmarks
that need images with chosen `created` times and labels. Images are Docker v2 schema 2
by default, which every runtime and Flux v1 read; `oci=True` writes OCI media types,
and `index` makes a multi-platform index (OCI) or manifest list (Docker). Layers are
built reproducibly (sorted entries, mtime 0), so pushing the same files twice yields
the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from headwater.registry.origin import origin

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST_V2 = "application/vnd.docker.distribution.manifest.list.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


def layer(files: dict[str, Path], symlinks: dict[str, str] | None = None) -> tuple[Blob, str]:
    """A gzipped tar layer of `files` (path in image -> file on disk) and `symlinks`,
    with its diff id (the digest of the uncompressed tar)."""
    contents = {name: (src.read_bytes(), src.stat().st_mode & 0o777)
                for name, src in files.items()}
    return _layer(contents, symlinks or {}, LAYER_GZIP)


def layer_from_bytes(files: Mapping[str, bytes], *, oci: bool = False) -> tuple[Blob, str]:
    """A gzipped tar layer of `files` (path in image -> content, mode 0644), with its diff id."""
    return _layer({name: (data, 0o644) for name, data in files.items()}, {},
                  OCI_LAYER_GZIP if oci else LAYER_GZIP)


def _layer(
    files: Mapping[str, tuple[bytes, int]], symlinks: Mapping[str, str], media_type: str
) -> tuple[Blob, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in [*files, *symlinks]} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted(symlinks.items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return Blob(gzip.compress(raw.getvalue(), mtime=0), media_type), diff_id


def image_config(
    diff_ids: list[str],
    *,
    entrypoint: list[str],
    created: str | None,
    labels: Mapping[str, str] | None = None,
    env: list[str] | None = None,
    architecture: str = "amd64",
    os: str = "linux",
    oci: bool = False,
) -> Blob:
    """The image's config blob; `created=None` leaves the field out, `labels` go in
    `config.Labels` (where Docker, buildah and BuildKit write them), `env` ("K=V"
    items) in `config.Env`."""
    inner: dict[str, object] = {"Entrypoint": entrypoint}
    if env:
        inner["Env"] = list(env)
    if labels:
        inner["Labels"] = dict(labels)
    config: dict[str, object] = {
        "architecture": architecture,
        "os": os,
        "config": inner,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if created is not None:
        config["created"] = created
    return Blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG if oci else CONFIG_V1)


def image_manifest(config: Blob, layers: list[Blob]) -> Blob:
    """The manifest of one image: OCI if its config is OCI, else Docker schema 2."""
    media_type = OCI_MANIFEST if config.media_type == OCI_CONFIG else MANIFEST_V2
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }
    return Blob(json.dumps(manifest).encode(), media_type)


def index(manifests: list[tuple[Blob, str]], *, oci: bool = True) -> Blob:
    """An OCI image index (or, `oci=False`, a Docker manifest list) of image manifests,
    each with its platform written `os/architecture`."""
    media_type = OCI_INDEX if oci else MANIFEST_LIST_V2
    entries = []
    for manifest, platform in manifests:
        os, _, architecture = platform.partition("/")
        entries.append({**manifest.descriptor(),
                        "platform": {"os": os, "architecture": architecture}})
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    return Blob(json.dumps(doc).encode(), media_type)


def push(
    base_url: str,
    repository: str,
    tag: str,
    *,
    config: Blob,
    layers: list[Blob],
    auth: tuple[str, str] | httpx.Auth | None = None,
) -> str:
    """Upload blobs (skipping those the registry has) and the manifest; return its digest."""
    push_blobs(base_url, repository, [config, *layers], auth=auth)
    return push_manifest(base_url, repository, tag, image_manifest(config, layers), auth=auth)


def push_blobs(
    base_url: str,
    repository: str,
    blobs: list[Blob],
    *,
    auth: tuple[str, str] | httpx.Auth | None = None,
) -> None:
    """Upload each blob the registry does not have yet (monolithic upload)."""
    with httpx.Client(base_url=base_url, auth=auth, timeout=60) as client:
        for blob in blobs:
            if client.head(f"/v2/{repository}/blobs/{blob.digest}").status_code == 200:
                continue
            start = client.post(f"/v2/{repository}/blobs/uploads/")
            start.raise_for_status()
            # Location carries upload state in its query: add the digest, keep the rest.
            location = client.base_url.join(start.headers["Location"]).copy_merge_params(
                {"digest": blob.digest})
            # An upload URL on another host (storage) gets no credentials.
            foreign = origin(location) != origin(client.base_url)
            headers = {"Content-Type": "application/octet-stream"}
            if foreign:
                done = client.put(location, content=blob.data, headers=headers, auth=httpx.Auth())
            else:
                done = client.put(location, content=blob.data, headers=headers)
            done.raise_for_status()


def push_manifest(
    base_url: str,
    repository: str,
    reference: str,
    manifest: Blob,
    *,
    auth: tuple[str, str] | httpx.Auth | None = None,
) -> str:
    """PUT a manifest (image or index) under a tag or its own digest; return its digest."""
    with httpx.Client(base_url=base_url, auth=auth, timeout=60) as client:
        r = client.put(f"/v2/{repository}/manifests/{reference}", content=manifest.data,
                       headers={"Content-Type": manifest.media_type})
        r.raise_for_status()
    return manifest.digest
