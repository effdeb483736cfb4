"""Resource types from images: layers unpacked with whiteouts and confined to the root,
and Concourse scripts run from a real registry's image in the bubblewrap sandbox."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from headwater.ci.plan import ResourceTypeRef
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.image import ImageResourceType
from headwater.ci.resources.netns import Allowed, NetworkPolicy, find_slirp4netns
from headwater.ci.resources.process import find_bwrap
from headwater.ci.resources.rootfs import ImageSource, ResourceImages, sweep, unpack_layer
from headwater.ci.resources.types import ResourceTypes
from headwater.devstack.registry import Registry
from tests.ci.resources.images import push_echo_type, tar_bytes

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
needs_sandbox_net = pytest.mark.skipif(find_bwrap() is None or find_slirp4netns() is None,
                                       reason="bubblewrap or slirp4netns is not installed")


def _layer(*entries: tuple[str, str, str]) -> tarfile.TarFile:
    """A tar of (kind, name, data): kind f(ile), d(ir), l(symlink, data = target),
    h(ard link, data = target)."""
    return tarfile.open(fileobj=io.BytesIO(tar_bytes(*entries, dir_mode=0o555)), mode="r")


def test_layers_apply_in_order_with_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    unpack_layer(_layer(("d", "etc", ""), ("f", "etc/a", "1"), ("f", "etc/b", "2"),
                        ("d", "var/cache", ""), ("f", "var/cache/x", "x"),
                        ("f", "bin/tool", "old")), root)
    unpack_layer(_layer(("f", "etc/.wh.a", ""), ("f", "var/cache/.wh..wh..opq", ""),
                        ("f", "var/cache/y", "y"), ("f", "bin/tool", "new"),
                        ("h", "bin/same", "bin/tool")), root)
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["b"]
    assert sorted(p.name for p in (root / "var/cache").iterdir()) == ["y"]
    assert (root / "bin/tool").read_text() == "new"
    assert os.stat(root / "bin/same").st_ino == os.stat(root / "bin/tool").st_ino
    # A read-only directory of the image stays writable for us (later layers add to it).
    assert (root / "etc").stat().st_mode & 0o700 == 0o700


def test_entries_never_land_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    # An absolute symlink to a directory, then a file under it: it resolves in the root.
    unpack_layer(_layer(("l", "lib", str(outside)), ("l", "up", "../../..")), root)
    unpack_layer(_layer(("f", "lib/libc.so", "c"), ("f", "up/escaped", "e")), root)
    assert list(outside.iterdir()) == []
    assert (root / outside.relative_to("/") / "libc.so").read_text() == "c"
    assert (root / "escaped").read_text() == "e"
    with pytest.raises(ResourceError, match="leaves the root filesystem"):
        unpack_layer(_layer(("f", "../evil", "e")), root)
    assert not (tmp_path / "evil").exists()


def test_symlinks_inside_the_image_keep_working_as_in_a_merged_usr(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    unpack_layer(_layer(("d", "usr/bin", ""), ("d", "usr/lib", ""), ("l", "bin", "usr/bin"),
                        ("l", "lib", "/usr/lib"), ("l", "usr/lib/libc.so", "libc.so.6")), root)
    unpack_layer(_layer(("f", "bin/sh", "shell"), ("f", "lib/libc.so.6", "c"),
                        ("h", "bin/ash", "usr/bin/sh"), ("f", "lib/x", "x")), root)
    assert (root / "bin").is_symlink() and (root / "lib").is_symlink()
    assert (root / "usr/bin/sh").read_text() == "shell"
    assert os.stat(root / "usr/bin/ash").st_ino == os.stat(root / "usr/bin/sh").st_ino
    assert (root / "usr/lib/libc.so.6").read_text() == "c"
    assert (root / "usr/lib/x").read_text() == "x"
    assert os.readlink(root / "usr/lib/libc.so") == "libc.so.6"


def test_a_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ResourceError, match="too many levels of symbolic links"):
        unpack_layer(_layer(("l", "a", "b"), ("l", "b", "/a"), ("f", "a/file", "x")), root)
    with pytest.raises(ResourceError, match="too many levels of symbolic links"):
        unpack_layer(_layer(("l", "self", "../self"), ("f", "self/x", "x")), root)


def test_the_source_names_the_image_and_bad_sources_are_clear_errors() -> None:
    src = ImageSource.parse("git", {"repository": "concourse/git-resource"})
    assert (src.repository, src.tag) == ("docker.io/concourse/git-resource", "latest")
    assert ImageSource.parse("t", {"repository": "127.0.0.1:5000/t", "tag": "1.2"}).image \
        == "127.0.0.1:5000/t:1.2"
    with pytest.raises(ResourceError, match="needs `repository`"):
        ImageSource.parse("t", {})
    with pytest.raises(ResourceError, match="`username` and `password` go together"):
        ImageSource.parse("t", {"repository": "x/y", "username": "me"})
    with pytest.raises(ResourceError, match="resource type 't': invalid"):
        ImageSource.parse("t", {"repository": "x/y", "tag": "-bad"})


async def _noop(_: str) -> None:
    return None


@needs_bwrap
async def test_an_image_type_checks_gets_and_puts_in_its_sandbox(
        auth_registry: Registry, tmp_path: Path) -> None:
    digest = push_echo_type(auth_registry.url, "types/echo", "1", tmp_path,
                            auth=auth_registry.auth)
    images = ResourceImages(tmp_path / "images")
    source = {"repository": f"127.0.0.1:{auth_registry.port}/types/echo", "tag": "1",
              "username": auth_registry.username, "password": auth_registry.password}
    rtype = ImageResourceType("echo", source, images)
    logs: list[str] = []

    async def log(text: str) -> None:
        logs.append(text)

    probe = tmp_path / "secret-host-file"
    probe.write_text("not for the sandbox")
    versions = await rtype.check({"value": "v1", "probe": str(probe)}, None, log=log)
    # Root in its own user namespace; the host's files out of sight; /tmp and $HOME
    # writable although the image's root is read-only.
    assert versions == [{"v": "v1", "uid": "0", "probe": "hidden"}]
    assert "checking v1 as 0" in "".join(logs)

    dest = tmp_path / "get"
    fetched = await rtype.get({}, {"v": "v1"}, {}, dest, log=log, env={"BUILD_ID": "42"})
    assert fetched.version == {"v": "v1"}
    assert [(m.name, m.value) for m in fetched.metadata] == [("where", "/tmp/build/get")]
    assert (dest / "version").read_text() == "v1\n"
    assert (dest / "build_id").read_text() == "42\n"

    work = tmp_path / "put"
    (work / "art").mkdir(parents=True)
    (work / "art" / "value").write_text("v2")
    put = await rtype.put({}, {"from": "art"}, work, log=log)
    assert put.version == {"v": "v2"}

    assert images.pulls == 1  # three scripts, one pull
    assert (tmp_path / "images" / digest.replace(":", "-") / "rootfs" / "opt/resource/in").is_file()


@needs_bwrap
async def test_a_new_push_of_the_tag_is_pulled_and_failures_name_the_type(
        auth_registry: Registry, tmp_path: Path) -> None:
    base = {"repository": f"127.0.0.1:{auth_registry.port}/types/echo2",
            "username": auth_registry.username, "password": auth_registry.password}
    first = push_echo_type(auth_registry.url, "types/echo2", "latest", tmp_path,
                           auth=auth_registry.auth, marker="one")
    images = ResourceImages(tmp_path / "images", resolve_ttl=0)
    assert (await images.rootfs("echo", base)).digest == first
    second = push_echo_type(auth_registry.url, "types/echo2", "latest", tmp_path,
                            auth=auth_registry.auth, marker="two")
    got = await images.rootfs("echo", base)
    assert (got.digest, (got.path / "marker").read_text()) == (second, "two")
    assert got.env["ECHO_TYPE"] == "1"

    wrong = {**base, "password": "wrong"}
    with pytest.raises(ResourceError, match=r"resource type 'echo': pulling .*types/echo2"):
        await ResourceImages(tmp_path / "other").rootfs("echo", wrong)
    missing = {**base, "tag": "nope"}
    with pytest.raises(ResourceError, match=r"resource type 'echo': pulling .*echo2:nope"):
        await images.rootfs("echo", missing)

    types = ResourceTypes.default(images_dir=tmp_path / "images")
    rtype = types.resolve("echo", [ResourceTypeRef(name="echo", type="registry-image",
                                                   source=base)])
    assert isinstance(rtype, ImageResourceType)
    with pytest.raises(ResourceError, match=r"(?s)resource type 'echo' .* /opt/resource/check "
                                            r"failed with exit status 3.*asked to fail"):
        await rtype.check({"value": "x", "fail": "yes"}, None, log=_noop)


@needs_sandbox_net
async def test_an_image_types_scripts_reach_only_the_allowed_host_loopback_services(
        auth_registry: Registry, tmp_path: Path) -> None:
    push_echo_type(auth_registry.url, "types/echo-net", "1", tmp_path, auth=auth_registry.auth)
    source = {"repository": f"127.0.0.1:{auth_registry.port}/types/echo-net", "tag": "1",
              "username": auth_registry.username, "password": auth_registry.password}

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
        await writer.drain()
        writer.close()

    allowed, other = [await asyncio.start_server(hello, "127.0.0.1", 0) for _ in range(2)]
    async with allowed, other:
        a, o = (s.sockets[0].getsockname()[1] for s in (allowed, other))
        # The registry the image came from is on the host's loopback too: not allowed.
        urls = [f"127.0.0.1:{a}", f"127.0.0.1:{o}", f"127.0.0.1:{auth_registry.port}"]
        rtype = ImageResourceType("echo", source, ResourceImages(tmp_path / "images"),
                                  network=NetworkPolicy(allow=(Allowed("127.0.0.1", a),)))
        logs: list[str] = []

        async def log(text: str) -> None:
            logs.append(text)

        await rtype.check({"value": "v1", "fetch": " ".join(urls)}, None, log=log)
    fetched = [line for line in "".join(logs).splitlines() if line.startswith("fetch ")]
    assert fetched[0] == f"fetch {urls[0]}: HTTP/1.0 200 OK"
    assert [line.endswith("Connection refused") for line in fetched[1:]] == [True, True], \
        fetched


def test_the_sweep_removes_images_unused_for_a_while_and_broken_pulls(tmp_path: Path) -> None:
    old = time.time() - 8 * 86400
    for name in ("sha256-old", "sha256-recent", "sha256-broken", ".pull-crashed"):
        (tmp_path / name / "rootfs").mkdir(parents=True)
    for name in ("sha256-old", "sha256-recent"):
        (tmp_path / name / "env.json").write_text("{}")
    os.utime(tmp_path / "sha256-old" / "env.json", (old, old))
    os.utime(tmp_path / ".pull-crashed", (old, old))
    (tmp_path / ".pull-running").mkdir()  # another pull, in progress: left alone
    removed = sweep(tmp_path, 7 * 86400)
    assert sorted(p.name for p in removed) == [".pull-crashed", "sha256-broken", "sha256-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pull-running", "sha256-recent"]
