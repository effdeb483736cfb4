"""An OCI image layout in a build artifact, read without trusting it.

registry-image's `format: oci-layout` writes `oci/{oci-layout,index.json,blobs/<alg>/<hex>}`;
buildah and skopeo write the same at a directory's top. A task's `image:` may name such
an artifact. The artifact may come from a task (other people's code), so:

- files are reached through confine.py (no symlink is followed out of the artifact)
  and blobs opened with O_NOFOLLOW in their `blobs/<alg>` directory: a blob that is a
  link to a host file is refused;
- every blob is checked against its digest (sha256), JSON ones read whole within
  `_JSON_LIMIT`, layers copied out within the image cache's per-layer limit;
- an index picks linux/amd64 (nested indexes followed once, as registries serve them).

Blocking: call through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused
from headwater.errors import HeadwaterError

_JSON_LIMIT = 4 << 20
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_INDEXES = ("application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json")
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LayoutError(HeadwaterError):
    """The layout is not a usable image; the message says what is wrong."""


@dataclass(frozen=True)
class Layout:
    at: Beneath  # the layout's directory (holding index.json)
    digest: str  # the image manifest's
    config: dict[str, Any]
    layers: list[str]  # layer digests, bottom first


def find(artifact: Path) -> str | None:
    """Where in `artifact` an OCI layout is (`oci` or `.`), if there is one."""
    for rel in ("oci", "."):
        try:
            confine.read_file(Beneath(artifact, rel), "oci-layout", limit=4096)
        except (OSError, Refused):
            continue
        return rel
    return None


def read(at: Beneath) -> Layout:
    """The linux/amd64 image of the layout at `at`."""
    index = _json(confine.read_file(at, "index.json", limit=_JSON_LIMIT), "index.json")
    descriptor = _pick(at, index)
    digest = str(descriptor.get("digest"))
    manifest = _json(_blob(at, digest), f"manifest {digest}")
    config_digest = str((manifest.get("config") or {}).get("digest"))
    config = _json(_blob(at, config_digest), f"config {config_digest}")
    layers = [str(layer.get("digest")) for layer in manifest.get("layers") or []]
    for layer in manifest.get("layers") or []:
        if "zstd" in str(layer.get("mediaType", "")):
            raise LayoutError(f"layer {layer.get('digest')} is zstd: only gzip and plain tar "
                              "layers are supported")
    return Layout(at, digest, config, layers)


def copy_layers(layout: Layout, into: Path, *, limit: int) -> list[Path]:
    """Each layer copied to a file of `into` (made), checked against its digest."""
    into.mkdir()
    paths = []
    for number, digest in enumerate(layout.layers, 1):
        path = into / f"{number}.tar"
        with _open_blob(layout.at, digest) as src, path.open("xb") as out:
            hasher, size = hashlib.sha256(), 0
            while chunk := src.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise LayoutError(f"layer {digest} is larger than the limit of {limit} "
                                      "bytes per layer (--resource-image-max-layer)")
                hasher.update(chunk)
                out.write(chunk)
        _check_digest(digest, hasher.hexdigest())
        paths.append(path)
    return paths


def _pick(at: Beneath, index: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    if not manifests:
        raise LayoutError("index.json lists no image")
    if len(manifests) > 1 or any("platform" in m for m in manifests):
        amd64 = [m for m in manifests
                 if (m.get("platform") or {}).get("os", "linux") == "linux"
                 and (m.get("platform") or {}).get("architecture", "amd64") == "amd64"]
        if not amd64:
            raise LayoutError("the layout has no linux/amd64 image")
        manifests = amd64
    chosen = manifests[0]
    if chosen.get("mediaType") in _INDEXES:
        if depth:
            raise LayoutError("an index nested more than once")
        digest = str(chosen.get("digest"))
        return _pick(at, _json(_blob(at, digest), f"index {digest}"), depth + 1)
    return chosen


def _blob(at: Beneath, digest: str) -> bytes:
    with _open_blob(at, digest) as f:
        data = f.read(_JSON_LIMIT + 1)
    if len(data) > _JSON_LIMIT:
        raise LayoutError(f"blob {digest} is larger than {_JSON_LIMIT} bytes")
    _check_digest(digest, hashlib.sha256(data).hexdigest())
    return data


def _open_blob(at: Beneath, digest: str) -> io.BufferedReader:
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise LayoutError(f"{digest!r} is not a sha256 digest")
    try:
        with confine.open_dir(Beneath(at.root, f"{at.rel}/blobs/sha256")) as blobs:
            fd = os.open(match.group(1), _FILE, dir_fd=blobs)
    except Refused as e:
        raise LayoutError(f"blobs/sha256: {e}") from None
    except OSError as e:
        raise LayoutError(f"blob {digest}: {e.strerror} (a link is never followed)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LayoutError(f"blob {digest} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _check_digest(digest: str, hexdigest: str) -> None:
    if digest != f"sha256:{hexdigest}":
        raise LayoutError(f"blob {digest} does not match its digest (sha256:{hexdigest})")


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise LayoutError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise LayoutError(f"{what} is not a JSON object")
    return value
