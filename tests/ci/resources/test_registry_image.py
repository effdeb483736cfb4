"""registry-image and docker-image against the stack's real registry, with real buildah:
builds from FROM scratch + static busybox, pushes, the manifest type read back, check,
get in each format, errors, and what a build's RUN steps cannot reach."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tarfile
from pathlib import Path

import httpx
import pytest

from headwater import devstack
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings
from headwater.devstack.registry import Registry
from headwater.registry.push import MANIFEST_V2, OCI_MANIFEST
from tests.ci.builds.helpers import pids_with, sleeper, wait_for

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None or os.geteuid() != 0,
                                 reason="image builds need buildah, as root")]

HTTPD = ('FROM scratch\nCOPY busybox /bin/busybox\n'
         'RUN ["/bin/busybox","--install","-s","/bin"]\nCOPY www /www\n'
         'ENV GREETING=hello\nCMD httpd -f -p 8080 -h /www\n')



class Logs:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, text: str) -> None:
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def make_context(workdir: Path, dockerfile: str = HTTPD, *, tag: str = "1.0.1") -> Path:
    """The put's directory: `src/` (a build context) and `version/version`."""
    src = workdir / "src"
    (src / "www").mkdir(parents=True)
    shutil.copy("/bin/busybox", src / "busybox")
    (src / "www" / "index.html").write_text("hello from headwater\n")
    (src / "Dockerfile").write_text(dockerfile)
    (workdir / "version").mkdir()
    (workdir / "version" / "version").write_text(tag + "\n")
    return workdir


def manifest_type(registry: str, repo: str, ref: str, auth: tuple[str, str] | None = None
                  ) -> str:
    accept = ", ".join([MANIFEST_V2, OCI_MANIFEST])
    r = httpx.get(f"http://{registry}/v2/{repo}/manifests/{ref}",
                  headers={"Accept": accept}, auth=auth)
    r.raise_for_status()
    return str(json.loads(r.content)["mediaType"])


async def test_docker_image_builds_pushes_v2s2_then_checks_and_gets_it(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    host = stack.registry.host
    source = {"repository": f"{host}/{registry_repo}"}
    work = make_context(tmp_path / "put")
    logs = Logs()
    resource = DockerImageResource(buildah=builds)
    fetched = await resource.put(source, {"build": "src", "tag_file": "version/version",
                                          "tag_as_latest": True}, work, log=logs)
    digest = fetched.version["digest"]
    assert list(fetched.version) == ["digest"] and digest.startswith("sha256:")
    assert "STEP 1/6: FROM scratch" in logs.text  # buildah's output, line by line
    assert all(len(line) <= 4096 + 12 for line in logs.lines)
    for tag in ("1.0.1", "latest"):
        assert manifest_type(host, registry_repo, tag) == MANIFEST_V2
    assert list(builds.work_dir.iterdir()) == []  # the storage went with the put

    check_source = {**source, "tag": "1.0.1"}
    assert await resource.check(check_source, None, log=logs) == [{"digest": digest}]
    dest = tmp_path / "get"
    got = await resource.get(check_source, {"digest": digest}, {"rootfs": True}, dest,
                             log=logs)
    assert got.version == {"digest": digest}
    assert (dest / "digest").read_text() == digest
    assert (dest / "tag").read_text() == "1.0.1"
    assert (dest / "repository").read_text() == f"{host}/{registry_repo}"
    assert (dest / "image-id").read_text().startswith("sha256:")
    assert "GREETING=hello" in json.loads((dest / "metadata.json").read_text())["env"]
    with tarfile.open(dest / "rootfs.tar") as tar:
        assert {"bin/busybox", "bin/sh", "www/index.html"} <= set(tar.getnames())


async def test_registry_image_pushes_oci_and_gets_rootfs_layout_and_tarball(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    host = stack.registry.host
    source = {"repository": f"{host}/{registry_repo}", "tag": "1.0.1"}
    resource = RegistryImageResource(buildah=builds)
    logs = Logs()
    fetched = await resource.put(source, {"build": "src", "version": "2.0.0"},
                                 make_context(tmp_path / "put"), log=logs)
    digest = fetched.version["digest"]
    assert fetched.version == {"tag": "1.0.1", "digest": digest}
    assert manifest_type(host, registry_repo, "2.0.0") == OCI_MANIFEST
    assert await resource.check(source, None, log=logs) == [fetched.version]

    rootfs = tmp_path / "rootfs"
    await resource.get(source, fetched.version, {"format": "rootfs"}, rootfs, log=logs)
    assert (rootfs / "rootfs" / "www" / "index.html").read_text() == "hello from headwater\n"
    assert os.readlink(rootfs / "rootfs" / "bin" / "sh") == "/bin/busybox"
    metadata = json.loads((rootfs / "metadata.json").read_text())
    assert "GREETING=hello" in metadata["env"] and metadata["user"] == ""

    layout = tmp_path / "layout"
    await resource.get(source, fetched.version, {"format": "oci-layout"}, layout, log=logs)
    index = json.loads((layout / "oci" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    assert (layout / "oci" / "blobs" / "sha256" / digest.split(":")[1]).is_file()

    # `format: oci` writes a docker-save tarball; a put's `image` pushes it again, and
    # `format: docker` turns it into a Docker manifest.
    work = tmp_path / "again"
    await resource.get(source, fetched.version, {"format": "oci"}, work / "img", log=logs)
    again = await resource.put({**source, "tag": "copy"},
                               {"image": "img/*.tar", "format": "docker"}, work, log=logs)
    assert manifest_type(host, registry_repo, "copy") == MANIFEST_V2
    assert again.version["tag"] == "copy"


async def test_a_check_follows_the_tag_and_keeps_the_last_version_first(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    source = {"repository": f"{stack.registry.host}/{registry_repo}", "tag": "edge"}
    resource = RegistryImageResource(buildah=builds)
    logs = Logs()
    assert await resource.check(source, None, log=logs) == []  # no such tag yet
    first = await resource.put(source, {"build": "src"}, make_context(tmp_path / "a"),
                               log=logs)
    second = await resource.put(source, {"build": "src"},
                                make_context(tmp_path / "b", HTTPD + "LABEL v=2\n"), log=logs)
    assert first.version != second.version
    assert await resource.check(source, first.version, log=logs) == [first.version,
                                                                      second.version]


async def test_a_failing_dockerfile_line_fails_the_put_naming_resource_and_cause(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    dockerfile = HTTPD.replace("COPY www /www\n", 'COPY www /www\nRUN ["/bin/false"]\n')
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    logs = Logs()
    with pytest.raises(ResourceError) as raised:
        await DockerImageResource(buildah=builds).put(source, {"build": "src"},
                                        make_context(tmp_path, dockerfile), log=logs)
    message = str(raised.value)
    assert message.startswith(f"docker-image {stack.registry.host}/{registry_repo}: "
                              "building the image failed")
    assert 'STEP "RUN /bin/false"' in message  # buildah's own error names the step
    assert 'STEP 5/7: RUN ["/bin/false"]' in logs.text


async def test_a_missing_tag_file_fails_the_put_before_building(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    logs = Logs()
    with pytest.raises(ResourceError, match="the tag_file file 'version/nope' does not exist"):
        await DockerImageResource(buildah=builds).put(
            source, {"build": "src", "tag_file": "version/nope"}, make_context(tmp_path),
            log=logs)
    assert logs.lines == []


async def test_a_refused_push_says_so_and_never_shows_the_password(
        tmp_path: Path, builds: BuildahSettings, auth_registry: Registry) -> None:
    assert auth_registry.password
    wrong = "wrong-" + auth_registry.password
    source = {"repository": f"{auth_registry.host}/app", "username": "headwater",
              "password": wrong}
    logs = Logs()
    with pytest.raises(ResourceError) as raised:
        await DockerImageResource(buildah=builds).put(
            source, {"build": "src"}, make_context(tmp_path), log=logs)
    message = str(raised.value)
    assert "pushing" in message and "failed" in message
    assert "unauthorized" in message.lower() or "authentication" in message.lower()
    for secret in (wrong, auth_registry.password):
        assert secret not in message and secret not in logs.text
    with pytest.raises(ResourceError) as refused:
        await DockerImageResource(buildah=builds).check(source, None, log=logs)
    assert str(refused.value) == (
        f"docker-image {auth_registry.host}/app: check: the registry {auth_registry.host} "
        "refused the user 'headwater': check the source's username and password, and that "
        "the user may read this repository")
    assert list(builds.work_dir.iterdir()) == []  # the auth file went too

    # With the right password: pushed, then checked and fetched with it.
    good = {**source, "password": auth_registry.password}
    resource = DockerImageResource(buildah=builds)
    fetched = await resource.put(good, {"build": "src"}, make_context(tmp_path / "ok"),
                                 log=logs)
    assert await resource.check(good, None, log=logs) == [fetched.version]
    assert auth_registry.password not in logs.text


async def test_the_password_is_never_on_a_command_line(
        tmp_path: Path, builds: BuildahSettings, auth_registry: Registry) -> None:
    password = auth_registry.password
    assert password
    source = {"repository": f"{auth_registry.host}/app", "username": "headwater",
              "password": password}
    seen: list[str] = []
    done = asyncio.Event()

    def scan() -> None:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if password.encode() in cmdline or password.encode() in environ:
                seen.append(pid)

    async def watch() -> None:
        while not done.is_set():
            await asyncio.to_thread(scan)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        await DockerImageResource(buildah=builds).put(
            source, {"build": "src"},
            make_context(tmp_path, HTTPD + 'RUN ["/bin/sleep", "1"]\n'), log=Logs())
    finally:
        done.set()
        await watcher
    assert seen == []


async def test_run_steps_cannot_reach_the_host(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    """The attack: RUN steps call the host's loopback services (the registry) and read
    /proc for the host's processes; COPY follows a symlink to a host file."""
    canary = tmp_path / "canary"
    canary.write_text("host secret\n")
    port = stack.registry.port
    dockerfile = HTTPD + (
        f"RUN (printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 {port} "
        "> /reached 2>&1 || true); cat /proc/self/uid_map > /uidmap; "
        "ls /proc | grep -c '^[0-9]' > /pids\n")
    work = make_context(tmp_path / "put", dockerfile)
    resource = RegistryImageResource(buildah=builds)
    source = {"repository": f"{stack.registry.host}/{registry_repo}", "tag": "probe"}
    fetched = await resource.put(source, {"build": "src"}, work, log=Logs())
    dest = tmp_path / "get"
    await resource.get(source, fetched.version, {}, dest, log=Logs())
    root = dest / "rootfs"
    assert "HTTP/1" not in (root / "reached").read_text()
    assert (root / "uidmap").read_text().split() == ["0", "2000000000", "65536"]
    assert int((root / "pids").read_text()) < 10  # its own PID namespace

    (work / "src" / "leak").symlink_to(canary)
    leaking = HTTPD + "COPY leak /leak\n"
    (work / "src" / "Dockerfile").write_text(leaking)
    with pytest.raises(ResourceError, match="building the image failed"):
        await resource.put(source, {"build": "src"}, work, log=Logs())


async def test_a_build_context_through_a_symlink_is_refused(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    work = make_context(tmp_path / "put")
    (work / "host").symlink_to("/etc")
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    with pytest.raises(ResourceError, match="goes through a symbolic link"):
        await DockerImageResource(buildah=builds).put(source, {"build": "host"}, work, log=Logs())
    with pytest.raises(ResourceError, match="dockerfile file 'host/passwd'"):
        await DockerImageResource(buildah=builds).put(
            source, {"build": "src", "dockerfile": "host/passwd"}, work, log=Logs())


async def test_a_base_image_from_the_local_registry_builds(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    host = stack.registry.host
    resource = DockerImageResource(buildah=builds)
    base = {"repository": f"{host}/{registry_repo}", "tag": "base"}
    await resource.put(base, {"build": "src"}, make_context(tmp_path / "base"), log=Logs())
    child = f"FROM {host}/{registry_repo}:base\nRUN echo child > /child\n"
    logs = Logs()
    fetched = await resource.put({**base, "tag": "child"}, {"build": "src"},
                                 make_context(tmp_path / "child", child), log=logs)
    dest = tmp_path / "get"
    await RegistryImageResource(buildah=builds).get({"repository": f"{host}/{registry_repo}",
                                       "tag": "child"},
                                      {"tag": "child", **fetched.version}, {}, dest, log=logs)
    assert (dest / "rootfs" / "child").read_text() == "child\n"
    assert (dest / "rootfs" / "www" / "index.html").is_file()


async def test_registry_image_without_tag_checks_semver_tags(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    resource = RegistryImageResource(buildah=builds)
    work = make_context(tmp_path / "put")
    first = await resource.put(source, {"build": "src", "version": "1.0.0"}, work, log=Logs())
    second = await resource.put(source, {"build": "src", "version": "1.1.0",
                                         "additional_tags": "version/version"},
                                make_context(tmp_path / "b", HTTPD + "LABEL v=2\n"),
                                log=Logs())
    assert second.version["tag"] == "1.1.0"
    # 1.0.1 (the additional tag) names the same image as 1.1.0: one version, the newest.
    assert await resource.check(source, None, log=Logs()) == [first.version, second.version]
    assert await resource.check(source, second.version, log=Logs()) == [second.version]


async def test_docker_image_load_pushes_what_a_get_saved(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    host = stack.registry.host
    resource = DockerImageResource(buildah=builds)
    source = {"repository": f"{host}/{registry_repo}", "tag": "one"}
    pushed = await resource.put(source, {"build": "src"}, make_context(tmp_path / "put"),
                                log=Logs())
    work = tmp_path / "load"
    await resource.get(source, pushed.version, {"save": True}, work / "saved", log=Logs())
    assert (work / "saved" / "image").is_file()
    again = await resource.put({**source, "tag": "two"}, {"load": "saved"}, work, log=Logs())
    assert manifest_type(host, registry_repo, "two") == MANIFEST_V2
    # buildah writes the manifest and config again (new digests); the files are the same.
    await resource.get({**source, "tag": "two"}, again.version, {"rootfs": True},
                       tmp_path / "two", log=Logs())
    with tarfile.open(tmp_path / "two" / "rootfs.tar") as tar:
        page = tar.extractfile("www/index.html")
        assert page is not None and page.read() == b"hello from headwater\n"


async def test_run_steps_and_buildah_are_held_to_the_servers_limits(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str, cgroups: Cgroups) -> None:
    """The attack: a RUN step that takes 400 MiB when the server allows 256 MiB."""
    limits = Limits(memory=256 << 20)
    resource = DockerImageResource(buildah=builds, cgroups=cgroups, run_limits=limits)
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    await resource.put(source, {"build": "src"}, make_context(tmp_path / "ok"), log=Logs())
    hog = HTTPD + "RUN head -c 400m /dev/zero | tail > /dev/null\n"
    logs = Logs()
    with pytest.raises(ResourceError, match="building the image failed"):
        await resource.put(source, {"build": "src"}, make_context(tmp_path / "hog", hog),
                           log=logs)
    assert "STEP 7/7: RUN head -c 400m" in logs.text


async def test_an_image_param_never_pushes_a_host_file(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    """The attack: `image` names a tarball on the host, by an absolute path or `..`,
    while the put's directory holds a decoy at the same relative path."""
    resource = RegistryImageResource(buildah=builds)
    source = {"repository": f"{stack.registry.host}/{registry_repo}", "tag": "x"}
    pushed = await resource.put(source, {"build": "src"}, make_context(tmp_path / "a"),
                                log=Logs())
    host = tmp_path / "host"
    await resource.get(source, pushed.version, {"format": "oci"}, host, log=Logs())
    work = tmp_path / "put"
    decoy = work / host.relative_to("/")
    decoy.mkdir(parents=True)
    (decoy / "image.tar").write_text("not an image\n")
    for image in (str(host / "image.tar"), "../host/image.tar"):
        with pytest.raises(ResourceError, match="must be a path in the put's inputs"):
            await resource.put({**source, "tag": "stolen"}, {"image": image}, work,
                               log=Logs())
    assert await resource.check({**source, "tag": "stolen"}, None, log=Logs()) == []


async def test_an_add_that_downloads_is_refused(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    """The attack: ADD fetches a host loopback service's answer (the registry's catalog)
    into the image; buildah downloads on the host's network."""
    url = f"http://{stack.registry.host}/v2/_catalog"
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    logs = Logs()
    with pytest.raises(ResourceError, match=r"src/Dockerfile line 7: .*ADD of a URL"):
        await DockerImageResource(buildah=builds).put(
            source, {"build": "src"}, make_context(tmp_path, HTTPD + f"ADD {url} /catalog\n"),
            log=logs)
    assert "/v2/_catalog" not in logs.text  # refused before buildah ran


async def test_a_cancelled_put_leaves_no_process_nor_storage(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    command, seconds = sleeper()
    dockerfile = HTTPD + f'RUN ["/bin/{command.split()[0]}", "{seconds}"]\n'
    source = {"repository": f"{stack.registry.host}/{registry_repo}"}
    put = asyncio.ensure_future(DockerImageResource(buildah=builds).put(
        source, {"build": "src"}, make_context(tmp_path, dockerfile), log=Logs()))
    await wait_for(lambda: pids_with(seconds), timeout=60)
    put.cancel()
    with pytest.raises(asyncio.CancelledError):
        await put
    await wait_for(lambda: not pids_with(seconds) and not pids_with(str(builds.work_dir)))
    assert list(builds.work_dir.iterdir()) == []
