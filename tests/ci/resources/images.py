"""A Concourse resource type image for tests: static busybox and three sh scripts.

The `echo` type: `check` answers the source's `value` as the only version, with the
user id it ran as and whether it could see the host path `probe` (it must not),
or fails (exit 3) when the source has `fail`; it logs `fetch HOST:PORT: <status
line or error>` for each HTTP server of the source's `fetch` (space-separated), with
busybox nc (its static wget crashes in name lookups);
`in` writes the version to `<dest>/version` and `$BUILD_ID` to `<dest>/build_id`;
`out` answers the content of `<artifacts>/<params.from>/value` as the new version.
Pushed with registry/push.py, as the local stack pushes its pause image.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from headwater.registry import push

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "cat", "sed", "id", "mkdir", "ls", "touch", "rm", "nc", "head", "tr")

_FIELD = r"""field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }"""

CHECK = f"""#!/bin/sh
set -e
{_FIELD}
payload=$(cat)
value=$(echo "$payload" | field value)
probe=$(echo "$payload" | field probe)
if [ -n "$(echo "$payload" | field fail)" ]; then echo "asked to fail" >&2; exit 3; fi
seen=hidden
[ -n "$probe" ] && [ -e "$probe" ] && seen=visible
touch /tmp/scratch "$HOME/.scratch"
for hostport in $(echo "$payload" | field fetch); do
  got=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 "${{hostport%:*}}" "${{hostport##*:}}" 2>&1 \
        | head -n 1 | tr -d '\r' || true)
  echo "fetch $hostport: $got" >&2
done
echo "checking $value as $(id -u)" >&2
printf '[{{"v": "%s", "uid": "%s", "probe": "%s"}}]' "$value" "$(id -u)" "$seen"
"""

IN = f"""#!/bin/sh
set -e
{_FIELD}
payload=$(cat)
v=$(echo "$payload" | field v)
echo "$v" > "$1/version"
echo "$BUILD_ID" > "$1/build_id"
echo "fetched $v into $1" >&2
printf '{{"version": {{"v": "%s"}}, "metadata": [{{"name": "where", "value": "%s"}}]}}' \\
  "$v" "$(pwd)"
"""

OUT = f"""#!/bin/sh
set -e
{_FIELD}
payload=$(cat)
from=$(echo "$payload" | field from)
v=$(cat "$1/$from/value")
printf '{{"version": {{"v": "%s"}}, "metadata": []}}' "$v"
"""


def push_echo_type(url: str, repository: str, tag: str, workdir: Path, *,
                   auth: tuple[str, str] | None = None, marker: str = "") -> str:
    """Push the `echo` type image; answer its digest. `marker` changes the image (a
    file /marker), so a second push under the same tag is a new digest."""
    scripts = workdir / "echo-type-scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"bin/busybox": BUSYBOX}
    for name, text in (("check", CHECK), ("in", IN), ("out", OUT), ("marker", marker)):
        path = scripts / name
        path.write_text(text)
        path.chmod(0o755)
        files[f"opt/resource/{name}" if name != "marker" else "marker"] = path
    base, base_id = push.layer({"bin/busybox": BUSYBOX},
                               {f"bin/{a}": "busybox" for a in APPLETS})
    top, top_id = push.layer({k: v for k, v in files.items() if k != "bin/busybox"})
    config = push.image_config([base_id, top_id], entrypoint=["/bin/sh"], created=None,
                               env=["PATH=/bin", "ECHO_TYPE=1"])
    return push.push(url, repository, tag, config=config, layers=[base, top], auth=auth)


Entry = tuple[str, str, str]  # kind (f, d, l symlink, h hard link), name, data or target


def tar_bytes(*entries: Entry, dir_mode: int = 0o755) -> bytes:
    """A tar (PAX) holding `entries` in this order: kind f(ile), d(ir), l(symlink, data =
    target), h(ard link, data = target)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data.encode()))
                continue
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, dir_mode
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, data
            elif kind == "h":
                info.type, info.linkname = tarfile.LNKTYPE, data
            tar.addfile(info)
    return raw.getvalue()
