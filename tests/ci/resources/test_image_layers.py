"""Hostile resource type images: each attack is a real image, its layers crafted tar by
tar, pushed to a real registry and pulled by `ResourceImages`. Nothing may be created,
linked, emptied or removed outside the image's root; layers over the limits stop the
pull with an error naming the image and the layer, and leave nothing behind."""

from __future__ import annotations

import gzip
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.rootfs import ImageLimits, ResourceImages, Rootfs
from headwater.devstack.registry import Registry
from headwater.registry import push
from tests.ci.resources.images import Entry, tar_bytes


def _layer(*entries: Entry) -> tuple[push.Blob, str]:
    """A gzipped tar layer holding `entries` in this order, and its diff id."""
    raw = tar_bytes(*entries)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    return push.Blob(gzip.compress(raw, mtime=0), push.LAYER_GZIP), diff_id


class Images:
    """Pushes layered images to the registry and pulls them into `cache`."""

    def __init__(self, registry: Registry, cache: Path) -> None:
        self.registry, self.cache = registry, cache

    def push(self, *layers: tuple[push.Blob, str]) -> dict[str, str]:
        repository = f"evil/{uuid.uuid4().hex[:8]}"
        config = push.image_config([d for _, d in layers], entrypoint=["/bin/sh"],
                                   created=None)
        push.push(self.registry.url, repository, "1", config=config,
                  layers=[b for b, _ in layers], auth=self.registry.auth)
        assert self.registry.username and self.registry.password  # the auth registry's
        return {"repository": f"{self.registry.host}/{repository}", "tag": "1",
                "username": self.registry.username, "password": self.registry.password}

    async def pull(self, source: dict[str, str], limits: ImageLimits | None = None
                   ) -> Rootfs:
        return await ResourceImages(self.cache, limits=limits or ImageLimits()).rootfs(
            "evil", source)


@pytest.fixture
def images(auth_registry: Registry, tmp_path: Path) -> Images:
    return Images(auth_registry, tmp_path / "images")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory, with a host file, that no image may touch."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret").write_text("host secret")
    return directory


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"


async def test_a_relative_symlink_climbing_out_then_a_file_under_it_stays_in_the_root(
        images: Images, tmp_path: Path) -> None:
    source = images.push(_layer(("l", "etc", "../../.."), ("f", "etc/passwd", "root::0:0")))
    rootfs = await images.pull(source)
    # `..` stops at the image's `/`: the file lands at the root of the image.
    assert (rootfs.path / "passwd").read_text() == "root::0:0"
    assert not (tmp_path / "passwd").exists()  # where `etc/../../..` would have led


async def test_an_absolute_symlink_to_a_host_dir_then_a_file_under_it_stays_in_the_root(
        images: Images, outside: Path) -> None:
    source = images.push(_layer(("l", "etc", str(outside)), ("f", "etc/passwd", "x"),
                                ("l", "slash", "/"), ("f", "slash/at-root", "y")))
    rootfs = await images.pull(source)
    _untouched(outside)
    assert (rootfs.path / outside.relative_to("/") / "passwd").read_text() == "x"
    assert (rootfs.path / "at-root").read_text() == "y"


async def test_a_symlink_from_one_layer_and_a_file_under_it_in_the_next_stay_in_the_root(
        images: Images, outside: Path) -> None:
    source = images.push(_layer(("l", "lib", str(outside)), ("l", "up", "../../../..")),
                         _layer(("f", "lib/evil.so", "e"), ("f", "up/escaped", "u"),
                                ("d", "lib/sub", ""), ("f", "lib/sub/deeper", "d")))
    rootfs = await images.pull(source)
    _untouched(outside)
    inside = rootfs.path / outside.relative_to("/")
    assert (inside / "evil.so").read_text() == "e"
    assert (inside / "sub" / "deeper").read_text() == "d"
    assert (rootfs.path / "escaped").read_text() == "u"


async def test_whiteouts_through_a_symlink_never_remove_host_files(
        images: Images, outside: Path) -> None:
    source = images.push(_layer(("l", "d", str(outside)), ("l", "e", "../../..")),
                         _layer(("f", "d/.wh.secret", ""), ("f", "d/.wh..wh..opq", ""),
                                ("f", f"e{outside}/.wh.secret", "")))
    await images.pull(source)
    _untouched(outside)


async def test_the_mount_points_are_real_directories_of_the_root_never_symlinks(
        images: Images, outside: Path) -> None:
    # The sandbox mounts over /proc, /tmp, /etc/resolv.conf, /etc/hosts: bubblewrap
    # follows a link there from its own root, where the host's is reachable. The
    # image's links at those paths are replaced by real directories and files.
    source = images.push(_layer(("l", "etc", str(outside)), ("l", "proc", "/../../.."),
                                ("l", "tmp", "/oldroot" + str(outside))))
    rootfs = await images.pull(source)
    _untouched(outside)
    for name in ("etc", "proc", "tmp"):
        assert not (rootfs.path / name).is_symlink() and (rootfs.path / name).is_dir()
    assert sorted(p.name for p in (rootfs.path / "etc").iterdir()) == ["hosts",
                                                                       "resolv.conf"]


async def test_a_hard_link_to_a_symlink_to_a_host_file_links_the_symlink_not_the_file(
        images: Images, outside: Path) -> None:
    secret = outside / "secret"
    source = images.push(_layer(("l", "s", str(secret)), ("h", "h", "s")),
                         _layer(("h", "h2", "s")))
    rootfs = await images.pull(source)
    for name in ("h", "h2"):
        linked = rootfs.path / name
        # A symlink (resolved in the sandbox, where the host's file is not), never a
        # second name of the host's file that the sandbox could read.
        assert linked.is_symlink()
        assert os.lstat(linked).st_ino != os.stat(secret).st_ino
    _untouched(outside)


@pytest.mark.parametrize(("target", "error"), [
    ("../../outside/secret", r"'\.\./\.\./outside/secret' leaves the root filesystem"),
    ("/nope/secret", "hard link h to /nope/secret: no such file in the image"),
])
async def test_a_hard_link_out_of_the_root_is_refused(
        images: Images, outside: Path, target: str, error: str) -> None:
    source = images.push(_layer(("h", "h", target)))
    with pytest.raises(ResourceError, match=rf"evil/.*:1: layer 1 of 1: .*{error}"):
        await images.pull(source)
    _untouched(outside)
    assert list(images.cache.iterdir()) == []


async def test_a_layer_over_the_download_limit_is_refused_naming_image_and_layer(
        images: Images) -> None:
    small = _layer(("f", "a", "small"))
    big = _layer(*[("f", f"f{n}", os.urandom(600).hex()) for n in range(10)])
    source = images.push(small, big)
    limits = ImageLimits(layer_bytes=len(big[0].data) - 1)
    with pytest.raises(ResourceError, match=rf"evil/.*:1: layer 2 of 2 \({big[0].digest}\) "
                                            r"is larger than the limit of \d+ bytes per layer"):
        await images.pull(source, limits)
    assert list(images.cache.iterdir()) == []
    assert (await images.pull(source, ImageLimits(layer_bytes=len(big[0].data)))).path.is_dir()


async def test_an_image_over_the_unpacked_limit_is_refused_naming_image_and_layer(
        images: Images) -> None:
    # Highly compressible: a small download that unpacks large (a gzip bomb in small).
    source = images.push(_layer(("f", "a", "x" * 1000)),
                         _layer(("f", "b", "0" * 200_000)))
    with pytest.raises(ResourceError, match=r"evil/.*:1: layer 2 of 2: unpacking b takes the "
                                            r"image over its limit of 100000 bytes unpacked"):
        await images.pull(source, ImageLimits(unpacked_bytes=100_000))
    assert list(images.cache.iterdir()) == []


async def test_an_image_over_the_entries_limit_is_refused(images: Images) -> None:
    # Empty files cost no bytes, but each is an inode on the server's disk.
    source = images.push(_layer(*[("f", f"e{n}", "") for n in range(50)]))
    with pytest.raises(ResourceError, match=r"evil/.*:1: layer 1 of 1: unpacking e20 takes "
                                            r"the image over its limit of 20 entries"):
        await images.pull(source, ImageLimits(entries=20))
    assert list(images.cache.iterdir()) == []
