"""Push a small image made from files on disk, without a container engine.

Used by the local stack for its sandbox ("pause") image. The image is Docker v2
schema 2, which every runtime and Flux v1 read. Layers are built reproducibly
(sorted entries, mtime 0), so pushing the same files twice yields the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


def layer(files: dict[str, Path], symlinks: dict[str, str] | None = None) -> tuple[Blob, str]:
    """A gzipped tar layer of `files` (path in image -> file on disk) and `symlinks`,
    with its diff id (the digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in [*files, *(symlinks or {})]} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, src in sorted(files.items()):
            data = src.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), src.stat().st_mode & 0o777
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted((symlinks or {}).items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    return Blob(gzip.compress(raw.getvalue(), mtime=0), LAYER_GZIP), diff_id


def image_config(diff_ids: list[str], *, entrypoint: list[str], created: str) -> Blob:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return Blob(json.dumps(config, sort_keys=True).encode(), CONFIG_V1)


def push(
    base_url: str,
    repository: str,
    tag: str,
    *,
    config: Blob,
    layers: list[Blob],
    auth: tuple[str, str] | None = None,
) -> str:
    """Upload blobs (skipping those the registry has) and the manifest; return its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": config.media_type, "size": len(config.data),
                   "digest": config.digest},
        "layers": [{"mediaType": b.media_type, "size": len(b.data), "digest": b.digest}
                   for b in layers],
    }
    body = Blob(json.dumps(manifest).encode(), MANIFEST_V2)
    with httpx.Client(base_url=base_url, auth=auth, timeout=60) as client:
        for blob in [config, *layers]:
            if client.head(f"/v2/{repository}/blobs/{blob.digest}").status_code == 200:
                continue
            start = client.post(f"/v2/{repository}/blobs/uploads/")
            start.raise_for_status()
            # Location carries upload state in its query: add the digest, keep the rest.
            location = httpx.URL(start.headers["Location"]).copy_merge_params(
                {"digest": blob.digest})
            done = client.put(
                location, content=blob.data,
                headers={"Content-Type": "application/octet-stream"},
            )
            done.raise_for_status()
        r = client.put(f"/v2/{repository}/manifests/{tag}", content=body.data,
                       headers={"Content-Type": MANIFEST_V2})
        r.raise_for_status()
    return body.digest
