"""Task images for tests, built from files with no engine: FROM scratch + static busybox.

`push_test_image` pushes an alpine-like image to a registry with registry/push.py: the
Debian package busybox-static's `/bin/busybox` with its applets as symlinks, an
`/etc/os-release` saying `ID=hwtest`, an `/etc/passwd` with root and a non-root user
`builder` (1000:1000, home /home/builder), and an Env of its own. `extra` layers go on
top (the attacks: symlinks out of the image).
"""

from __future__ import annotations

import json
from pathlib import Path

from headwater.registry import push

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "cat", "id", "ls", "mkdir", "touch", "rm", "env", "pwd", "whoami", "grep",
           "head", "wc", "sort", "test", "stat", "readlink", "ln", "echo", "true")
OS_RELEASE = "ID=hwtest\nNAME=\"headwater test image\"\n"
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "builder:x:1000:1000:builder:/home/builder:/bin/sh\n")
GROUP = "root:x:0:\nbuilder:x:1000:\nstaff:x:50:\n"
ENV = ["PATH=/bin", "IMAGE_VAR=from-image"]


def push_test_image(url: str, repository: str, tag: str = "1", *,
                    extra: list[tuple[push.Blob, str]] | None = None,
                    auth: tuple[str, str] | None = None, user: str = "") -> str:
    """Push the test image; answer its digest."""
    base, base_id = push.layer({"bin/busybox": BUSYBOX},
                               {f"bin/{a}": "busybox" for a in APPLETS})
    etc, etc_id = push.layer_from_bytes({
        "etc/os-release": OS_RELEASE.encode(), "etc/passwd": PASSWD.encode(),
        "etc/group": GROUP.encode(), "home/builder/.profile": b"# builder\n"})
    layers = [(base, base_id), (etc, etc_id), *(extra or [])]
    config = push.image_config([d for _, d in layers], entrypoint=["/bin/sh"], created=None,
                               env=ENV)
    if user:
        config = _with_user(config, user)
    return push.push(url, repository, tag, config=config, layers=[b for b, _ in layers],
                     auth=auth)


def _with_user(config: push.Blob, user: str) -> push.Blob:
    data = json.loads(config.data)
    data["config"]["User"] = user
    return push.Blob(json.dumps(data, sort_keys=True).encode(), config.media_type)


def escape_layer(host_dir: Path) -> tuple[push.Blob, str]:
    """Links out of the image: `/escape -> /`, `/hostetc -> /etc`, `/up -> ../../..`,
    and a `/tmp` that leads to the host's `host_dir` from bubblewrap's own root."""
    return push.layer({}, {"escape": "/", "hostetc": "/etc", "up": "../..",
                           "tmp": f"/oldroot{host_dir}"})


def layout_blobs() -> tuple[push.Blob, list[push.Blob]]:
    """The test image's config and layers, to write as an OCI layout."""
    base, base_id = push.layer({"bin/busybox": BUSYBOX},
                               {f"bin/{a}": "busybox" for a in APPLETS})
    etc, etc_id = push.layer_from_bytes({
        "etc/os-release": b"ID=from-layout\n", "etc/passwd": PASSWD.encode(),
        "etc/group": GROUP.encode()})
    config = push.image_config([base_id, etc_id], entrypoint=["/bin/sh"], created=None,
                               env=[*ENV, "FROM_LAYOUT=yes"], oci=True)
    return config, [base, etc]


def write_layout(directory: Path) -> str:
    """The test image as registry-image's `format: oci-layout` writes it: `oci/` with
    `oci-layout`, `index.json` and `blobs/sha256/`; answer the manifest digest."""
    config, layers = layout_blobs()
    manifest = push.image_manifest(config, layers)
    oci = directory / "oci"
    blobs = oci / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (config, *layers, manifest):
        (blobs / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    (oci / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (oci / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{
            **manifest.descriptor(), "platform": {"os": "linux", "architecture": "amd64"}}]}))
    return manifest.digest
