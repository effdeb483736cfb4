"""Attacks on tasks in images: each test performs one and shows it fails.

- reading the host (its /etc/shadow, the server's data dir, another build's files)
  from a task in an image: the host is not mounted at all;
- links out of a pulled image (`/escape -> /`, `/tmp -> /oldroot/...`, which bubblewrap
  would follow from its own root to create directories on the host);
- an `image:` artifact whose `rootfs` is a link to the host's `/`, or whose `/tmp` is;
- `rootfs_uri: raw:///` (the host's own root as a task's image);
- an image over the size limit.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from headwater import devstack
from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import Do, Plan
from headwater.ci.resources.process import find_bwrap
from headwater.ci.resources.rootfs import ImageLimits, ResourceImages
from tests.ci.builds.helpers import RecordingDelegate, make_ctx
from tests.ci.builds.taskimages import (
    BUSYBOX,
    OS_RELEASE,
    escape_layer,
    push_test_image,
    write_layout,
)
from tests.ci.builds.test_task_image import image_source, task

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")]


async def run(workdir: Path, plan: Plan, executor: LocalExecutor,
              **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(workdir, executor=executor, **ctx),
                             delegate=delegate)
    return status, delegate


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(kill_grace=2.0, images=ResourceImages(tmp_path / "images"),
                         hidden=(tmp_path / "data",))


async def test_a_task_in_an_image_sees_nothing_of_the_host(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path, host: Path) -> None:
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    other_build = tmp_path / "builds" / "41"
    (other_build / "secret").mkdir(parents=True)
    (other_build / "secret" / "canary").write_text("other build's secret\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "server.db").write_text("server secret\n")
    probes = ["/etc/shadow", str(host / "canary"), str(data / "server.db"),
              str(other_build / "secret" / "canary"), "/proc/1/root/etc/shadow",
              "/home/builder/../../etc/shadow"]
    script = "".join(f"cat {p} 2>/dev/null && echo 'SEEN {p}' || echo 'hidden {p}'\n"
                     for p in probes)
    status, d = await run(tmp_path / "builds" / "42",
                          task("probe", script, image=image_source(stack, registry_repo)),
                          executor)
    assert status == "succeeded", d.errors()
    out = d.log("probe", "stdout")
    assert out.splitlines() == [f"hidden {p}" for p in probes]


async def test_links_out_of_a_pulled_image_stay_inside_it(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    host_dir = Path("/tmp") / f"hw-escape-{uuid.uuid4().hex[:8]}"
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth,
                    extra=[escape_layer(host_dir)])
    script = """
        cat /escape/etc/os-release; cat /hostetc/os-release; cat /up/up/etc/os-release
        test ! -e /escape/etc/shadow && echo "no shadow"
        echo x > /tmp/written && echo "tmp is the image's own"
    """
    try:
        status, d = await run(tmp_path / "b", task("escape", script,
                                                   image=image_source(stack, registry_repo)),
                              executor)
        assert status == "succeeded", d.errors()
        assert d.log("escape", "stdout").splitlines() == [
            *OS_RELEASE.splitlines() * 3, "no shadow", "tmp is the image's own"]
        assert not host_dir.exists()  # bwrap never followed /tmp -> /oldroot/...
    finally:
        if host_dir.exists():
            host_dir.rmdir()


async def test_an_artifact_image_whose_rootfs_links_to_the_host_is_refused(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    source = image_source(stack, registry_repo)
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    make = task("make", "ln -s / img/rootfs; echo '{}' > img/metadata.json",
                image=source, outputs=[{"name": "img"}])
    use = task("use", "cat /etc/shadow", step_image="img")
    status, d = await run(tmp_path / "b", Do(id="do", steps=[make, use]), executor)
    assert status == "errored"
    assert any("has no directory rootfs/ (a symbolic link there is refused" in e
               for e in d.errors())
    assert d.log("use") == ""


async def test_an_artifact_image_whose_tmp_leads_to_the_host_is_refused(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    host_dir = Path("/tmp") / f"hw-escape-{uuid.uuid4().hex[:8]}"
    source = image_source(stack, registry_repo)
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    make = task("make", f"""
        mkdir -p img/rootfs/bin && cp /bin/busybox img/rootfs/bin/sh
        ln -s /oldroot{host_dir} img/rootfs/tmp
        echo '{{"env": [], "user": ""}}' > img/metadata.json
    """, image=source, outputs=[{"name": "img"}])
    use = task("use", "true", step_image="img")
    try:
        status, d = await run(tmp_path / "b", Do(id="do", steps=[make, use]), executor)
        assert status == "errored"
        assert any("the image's /tmp is a symbolic link" in e for e in d.errors())
        assert not host_dir.exists()
    finally:
        if host_dir.exists():
            host_dir.rmdir()


async def test_rootfs_uri_raw_only_under_the_servers_rootfs_dirs(
        tmp_path: Path) -> None:
    allowed = tmp_path / "rootfs"
    (allowed / "tiny" / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, allowed / "tiny" / "bin" / "sh")
    executor = LocalExecutor(kill_grace=2.0, rootfs_dirs=[allowed])

    def raw(uri: str) -> Plan:
        step = task("raw", "cat /etc/shadow || echo 'no shadow'")
        assert step.config is not None
        return step.model_copy(update={"config": {**step.config, "rootfs_uri": uri}})

    for uri in ("raw:///", f"raw://{allowed}", f"raw://{allowed}/tiny/../../.."):
        status, d = await run(tmp_path / f"b{len(uri)}", raw(uri), executor)
        assert status == "errored", uri
        assert any("is not under a directory this server allows" in e
                   for e in d.errors()), d.errors()
        assert d.log("raw", "stdout") == ""
    status, d = await run(tmp_path / "ok", raw(f"raw://{allowed}/tiny"), executor)
    assert status == "succeeded", d.errors()
    assert d.log("raw", "stdout") == "no shadow\n"


async def test_an_image_over_the_size_limit_is_refused_with_the_limit_named(
        stack: devstack.StackInfo, registry_repo: str, tmp_path: Path) -> None:
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    executor = LocalExecutor(kill_grace=2.0, images=ResourceImages(
        tmp_path / "images", limits=ImageLimits(unpacked_bytes=100_000)))
    status, d = await run(tmp_path / "b", task("big", "true",
                                               image=image_source(stack, registry_repo)),
                          executor)
    assert status == "errored"
    assert any("over its limit of 100000 bytes unpacked" in e for e in d.errors()), \
        d.errors()
    assert not list((tmp_path / "images").glob("sha256-*"))


@pytest.mark.parametrize("attack", ["link", "tampered"])
async def test_an_oci_layout_blob_linked_to_the_host_or_tampered_is_refused(
        attack: str, executor: LocalExecutor, tmp_path: Path, host: Path) -> None:
    workdir = tmp_path / "b"
    write_layout(workdir / "img")
    blobs = workdir / "img" / "oci" / "blobs" / "sha256"
    layer = max(blobs.iterdir(), key=lambda p: p.stat().st_size)  # busybox's layer
    layer.unlink()
    if attack == "link":
        layer.symlink_to(host / "canary")
    else:
        layer.write_bytes(b"not the layer")
    status, d = await run(workdir, task("use", "true", step_image="img"), executor,
                          inputs=("img",))
    assert status == "errored"
    expected = "a link is never followed" if attack == "link" else \
        "does not match its digest"
    assert any(expected in e for e in d.errors()), d.errors()
    assert not list((tmp_path / "images").glob("sha256-*"))


async def test_an_image_cached_before_mount_points_were_made_real_is_pulled_again(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    # A cache entry as older versions left it (env.json, no metadata.json), whose /tmp
    # is still a link that bubblewrap would follow to the host.
    digest = push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    host_dir = Path("/tmp") / f"hw-escape-{uuid.uuid4().hex[:8]}"
    old = tmp_path / "images" / digest.replace(":", "-")
    (old / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, old / "rootfs" / "bin" / "sh")
    (old / "rootfs" / "tmp").symlink_to(f"/oldroot{host_dir}")
    (old / "env.json").write_text('{"PATH": "/bin"}')
    try:
        status, d = await run(tmp_path / "b", task("t", "cat /etc/os-release",
                                                   image=image_source(stack, registry_repo)),
                              executor)
        assert status == "succeeded", d.errors()
        assert d.log("t", "stdout").splitlines() == OS_RELEASE.splitlines()
        assert not (old / "rootfs" / "tmp").is_symlink()
        assert not host_dir.exists()
    finally:
        if host_dir.exists():
            shutil.rmtree(host_dir)


async def test_a_cache_the_task_replaced_by_a_link_is_not_kept_nor_followed(
        tmp_path: Path, host: Path) -> None:
    caches = tmp_path / "task-caches"
    step = task("c", f"rm -rf .cache && ln -s {host} .cache", caches=[{"path": ".cache"}])
    status, d = await run(tmp_path / "b", step, LocalExecutor(kill_grace=2.0),
                          task_caches=caches)
    assert status == "succeeded", d.errors()
    assert "cache '.cache' not kept" in d.log("c", "stderr")
    assert sorted(os.listdir(host)) == ["canary", "out"]  # not moved
    assert os.listdir(caches) == []
