"""Tasks in their images: image_resource pulled from the stack's registry (once per
digest, in the cache resource types share), run with bubblewrap over the image's root
with a writable overlay, as `run.user`, in `run.dir`, with inputs, outputs, caches,
params and the image's Env; `image:` from an artifact in rootfs format; privileged
only when asked."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from headwater import devstack
from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import Do, Plan, Task
from headwater.ci.resources.process import find_bwrap
from headwater.ci.resources.rootfs import Guard, ResourceImages
from headwater.registry import DEFAULT_INSECURE_HOSTS, Credentials, Reference, RegistryClient
from tests.ci.builds.helpers import RecordingDelegate, make_ctx
from tests.ci.builds.taskimages import OS_RELEASE, push_test_image, write_layout

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")]


class CountingClient(RegistryClient):
    """The real registry client, counting the blobs it downloads (the registry's hits)."""

    downloads: ClassVar[list[str]] = []

    async def download(self, repo: Reference | str, digest: str, dest: Path, *,
                       max_bytes: int) -> int:
        CountingClient.downloads.append(digest)
        return await super().download(repo, digest, dest, max_bytes=max_bytes)


def counting(credentials: Mapping[str, Credentials], insecure: frozenset[str],
             guard: Guard) -> RegistryClient:
    return CountingClient(credentials=credentials,
                          insecure_hosts=DEFAULT_INSECURE_HOSTS | insecure, guard=guard)


def image_source(stack: devstack.StackInfo, repo: str, tag: str = "1") -> dict[str, Any]:
    reg = stack.registry
    source: dict[str, Any] = {"repository": f"{reg.host}/{repo}", "tag": tag}
    if reg.auth:
        source["username"], source["password"] = reg.auth
    return source


def task(name: str, script: str, *, image: dict[str, Any] | None = None,
         step_image: str | None = None, **config: Any) -> Task:
    step: dict[str, Any] = {k: config.pop(k) for k in (
        "privileged", "input_mapping", "output_mapping", "params", "network") if k in config}
    if step_image:
        step["image"] = step_image
    body: dict[str, Any] = {"platform": "linux",
                            "run": {"path": "sh", "args": ["-ec", script],
                                    **config.pop("run", {})}, **config}
    if image is not None:
        body["image_resource"] = {"type": "registry-image", "source": image}
    return Task(id=name, name=name, config=body, **step)


async def build(workdir: Path, plan: Plan, executor: LocalExecutor, *, build_id: int = 1,
                **ctx: Any) -> RecordingDelegate:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(workdir / f"build-{build_id}",
                                                executor=executor, build_id=build_id, **ctx),
                             delegate=delegate)
    assert status == "succeeded", (delegate.errors(), [e.payload for e in delegate.events
                                                       if e.type == "log"])
    return delegate


@pytest.fixture
def pushed(stack: devstack.StackInfo, registry_repo: str) -> dict[str, Any]:
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    return image_source(stack, registry_repo)


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(kill_grace=2.0, images=ResourceImages(tmp_path / "images",
                                                               client=counting))


async def test_a_task_sees_its_images_root_not_the_hosts(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    d = await build(tmp_path, task("look", """
        cat /etc/os-release
        test ! -e /etc/shadow && echo "no shadow"
        test ! -e /usr/bin/python3 && echo "no host programs"
        echo "IMAGE_VAR=$IMAGE_VAR PATH=$PATH HOME=$HOME"
        echo written > /etc/new-file && cat /etc/new-file
        id -u; pwd
    """, image=pushed), executor)
    out = d.log("look", "stdout").splitlines()
    assert out[:2] == OS_RELEASE.splitlines()
    assert "no shadow" in out and "no host programs" in out
    assert "IMAGE_VAR=from-image PATH=/bin HOME=/root" in out
    assert "written" in out  # `/` is writable, as a Concourse container's
    assert out[-2:] == ["0", "/tmp/build/" + _hash8("look")]
    assert "running in " in d.log("look", "stderr")


async def test_the_image_root_is_a_fresh_copy_for_every_task(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        task("write", "echo mine > /etc/os-release; rm /bin/ls", image=pushed),
        task("read", "cat /etc/os-release; test -e /bin/ls && echo has-ls", image=pushed)])
    d = await build(tmp_path, plan, executor)
    assert d.log("read", "stdout").splitlines() == [*OS_RELEASE.splitlines(), "has-ls"]
    rootfs = next((tmp_path / "images").glob("sha256-*/rootfs"))
    assert (rootfs / "etc/os-release").read_text() == OS_RELEASE  # the cache untouched


async def test_run_user_and_run_dir_are_honoured(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        task("make", "mkdir -p src/sub && echo hi > src/sub/file",
             outputs=[{"name": "src"}], image=pushed),
        task("as-builder", 'id -u; id -g; whoami; echo "$USER $HOME"; pwd; cat file',
             image=pushed, inputs=[{"name": "src"}],
             run={"user": "builder", "dir": "src/sub"}),
        task("as-uid", "id -u; id -g", image=pushed, run={"user": "1000:staff"}),
    ])
    d = await build(tmp_path, plan, executor)
    assert d.log("as-builder", "stdout").splitlines() == [
        "1000", "1000", "builder", "builder /home/builder",
        f"/tmp/build/{_hash8('as-builder')}/src/sub", "hi"]
    assert d.log("as-uid", "stdout").splitlines() == ["1000", "50"]


async def test_an_unknown_run_user_is_a_clear_error(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    delegate = RecordingDelegate()
    status = await run_build(task("who", "true", image=pushed, run={"user": "nobody-here"}),
                             ctx=make_ctx(tmp_path / "b", executor=executor),
                             delegate=delegate)
    assert status == "errored"
    assert any("run.user 'nobody-here' is not in the image's /etc/passwd" in e
               for e in delegate.errors())


async def test_inputs_outputs_and_params_in_the_image(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    plan = Do(id="do", steps=[
        task("make", 'echo "$GREETING" > out/greeting', outputs=[{"name": "out"}],
             image=pushed, params={"GREETING": "hello from the image"}),
        task("use", "cat deps/in/greeting", image=pushed,
             inputs=[{"name": "in", "path": "deps/in"}], input_mapping={"in": "out"}),
    ])
    d = await build(tmp_path, plan, executor)
    assert d.log("use", "stdout") == "hello from the image\n"
    assert (tmp_path / "build-1" / "out" / "greeting").read_text() == "hello from the image\n"


async def test_caches_persist_across_builds_of_a_job_and_not_across_jobs(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    caches = tmp_path / "task-caches"
    script = ("cat .cache/runs 2>/dev/null || echo none; "
              "echo \"build $BUILD_ID\" >> .cache/runs")

    def step() -> Task:
        return task("compile", script, image=pushed, caches=[{"path": ".cache"}])

    first = await build(tmp_path, step(), executor, build_id=1, job="unit",
                        task_caches=caches)
    second = await build(tmp_path, step(), executor, build_id=2, job="unit",
                         task_caches=caches)
    other = await build(tmp_path, step(), executor, build_id=3, job="other",
                        task_caches=caches)
    one_off = await build(tmp_path, step(), executor, build_id=4, job=None, pipeline=None,
                          task_caches=caches)
    assert first.log("compile", "stdout") == "none\n"
    assert second.log("compile", "stdout") == "build 1\n"
    assert other.log("compile", "stdout") == "none\n"
    assert one_off.log("compile", "stdout") == "none\n"
    assert len(list(caches.iterdir())) == 2  # unit's and other's; none for the one-off


async def test_an_image_is_pulled_once_per_digest_for_tasks_and_resource_types(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    digest = push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth)
    source = image_source(stack, registry_repo)
    CountingClient.downloads = []
    first = await build(tmp_path, task("a", "true", image=source), executor, build_id=1)
    second = await build(tmp_path, task("a", "true", image=source), executor, build_id=2)
    assert executor.images is not None
    # A resource type of the same image shares the cache.
    rootfs = await executor.images.rootfs("from-type", source)
    assert len(CountingClient.downloads) == 2  # its two layers, once
    assert executor.images.pulls == 1
    assert rootfs.digest == digest
    assert "(pulled)" in first.log("a", "stderr")
    assert "(pulled)" not in second.log("a", "stderr")
    assert f"@{digest}" in second.log("a", "stderr")


async def test_the_image_from_an_artifact_in_rootfs_format(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    # A task builds the artifact registry-image's `format: rootfs` writes: rootfs/ and
    # metadata.json (as a get of that resource would).
    make = task("build-image", """
        mkdir -p img/rootfs/bin img/rootfs/etc
        cp /bin/busybox img/rootfs/bin/busybox
        for a in sh cat id; do ln -s busybox img/rootfs/bin/$a; done
        echo 'ID=from-artifact' > img/rootfs/etc/os-release
        echo 'root:x:0:0:root:/root:/bin/sh' > img/rootfs/etc/passwd
        echo 'ci:x:4242:4242::/home/ci:/bin/sh' >> img/rootfs/etc/passwd
        echo '{"env": ["PATH=/bin", "FROM_METADATA=yes"], "user": "ci"}' > img/metadata.json
    """, image=pushed, outputs=[{"name": "img"}])
    # The step's image: wins over the config's image_resource (Concourse's precedence).
    use = task("use", 'cat /etc/os-release; id -u; echo "$FROM_METADATA"', image=pushed,
               step_image="img")
    d = await build(tmp_path, Do(id="do", steps=[make, use]), executor)
    assert d.log("use", "stdout").splitlines() == ["ID=from-artifact", "4242", "yes"]
    assert "running in artifact img" in d.log("use", "stderr")


async def test_privileged_only_when_the_step_says_so(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    script = "grep CapEff /proc/self/status"
    plan = Do(id="do", steps=[task("plain", script, image=pushed),
                              task("root", script, image=pushed, privileged=True)])
    d = await build(tmp_path, plan, executor)
    assert d.log("plain", "stdout").split() == ["CapEff:", "0000000000000000"]
    assert d.log("root", "stdout").split()[1] != "0000000000000000"


def _hash8(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


async def test_without_overlay_the_image_is_read_only_and_tmp_home_are_writable(
        pushed: dict[str, Any], tmp_path: Path) -> None:
    # What a server that cannot mount (not root) gives: the image read-only, tmpfs
    # where tasks write.
    executor = LocalExecutor(kill_grace=2.0, images=ResourceImages(tmp_path / "images"),
                             overlay=False)
    d = await build(tmp_path, task("ro", """
        echo x > /etc/new 2>/dev/null && echo "etc writable" || echo "etc read-only"
        echo x > /tmp/new && echo x > "$HOME/new" && echo "tmp and home writable"
        echo x > out/file && cat /etc/os-release
    """, image=pushed, outputs=[{"name": "out"}], run={"user": "builder"}), executor)
    assert d.log("ro", "stdout").splitlines() == [
        "etc read-only", "tmp and home writable", *OS_RELEASE.splitlines()]
    assert (tmp_path / "build-1" / "out" / "file").read_text() == "x\n"


async def test_the_image_from_an_artifact_in_oci_layout_unpacked_once(
        executor: LocalExecutor, tmp_path: Path) -> None:
    digests = []
    for build_id in (1, 2):
        workdir = tmp_path / f"build-{build_id}"
        digests.append(write_layout(workdir / "img"))
        d = await build(tmp_path, task("use", 'cat /etc/os-release; echo "$FROM_LAYOUT"',
                                       step_image="img"), executor, build_id=build_id,
                        inputs=("img",))
        assert d.log("use", "stdout").splitlines() == ["ID=from-layout", "yes"]
        assert f"artifact img@{digests[0]}" in d.log("use", "stderr")
    assert executor.images is not None and executor.images.pulls == 1  # once per digest


async def test_rootfs_uri_docker_is_pulled_like_an_image_resource(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    if stack.registry.auth:
        pytest.skip("rootfs_uri carries no credentials: needs a registry without auth")
    push_test_image(stack.registry.url, registry_repo)
    step = task("uri", "cat /etc/os-release")
    assert step.config is not None
    step = step.model_copy(update={"config": {
        **step.config, "rootfs_uri": f"docker://{stack.registry.host}/{registry_repo}#1"}})
    d = await build(tmp_path, step, executor)
    assert d.log("uri", "stdout").splitlines() == OS_RELEASE.splitlines()


async def test_a_task_in_an_image_with_network_gets_the_sandbox_resolver(
        pushed: dict[str, Any], executor: LocalExecutor, tmp_path: Path) -> None:
    d = await build(tmp_path, task("net", "cat /etc/resolv.conf", image=pushed,
                                   network=True), executor)
    assert "nameserver 10.0.2.3" in d.log("net", "stdout")


async def test_the_images_own_user_is_the_default(
        stack: devstack.StackInfo, registry_repo: str, executor: LocalExecutor,
        tmp_path: Path) -> None:
    push_test_image(stack.registry.url, registry_repo, auth=stack.registry.auth,
                    user="builder")
    d = await build(tmp_path, task("who", 'id -u; echo "$HOME ${USER:-unset}"',
                                   image=image_source(stack, registry_repo)), executor)
    assert d.log("who", "stdout").splitlines() == ["1000", "/home/builder unset"]
