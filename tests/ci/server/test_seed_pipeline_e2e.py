"""The seed blog post's pipeline, as written, on the real stack (issue 13 point 6).

`examples/helloworld/ci/pipeline.yml` (the post's pipeline, only its URIs and image
repository made `{{vars}}`) is set on a real `headwater server` with a vars file giving
the post's `rguichard_pkey` (the stack's deploy key) and `dh-rguichard-passwd` (the
password of a registry with auth on, user `rguichard` as the post's source says). The
app repository is on the stack's git server: branch `master` holds the example app
(a copy of /bin/busybox next to its Dockerfile), branch `version` the file `version`.
A commit to master runs job "Docker Build": the image is pushed as Docker v2 schema 2
with the bumped tag and the version branch moves; a `[ci skip]` commit builds nothing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.devstack import StackInfo
from headwater.devstack.registry import Registry
from tests.ci.resources.semverhelpers import branch_file, push_branch
from tests.ci.server.conftest import Fly, wait_for
from tests.conftest import started_auth_registry
from tests.gitseed import plain_git, push_url

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None,
                                 reason="the image build needs buildah")]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "helloworld"
JOB = "helloworld/Docker Build"
DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def seed_registry() -> Iterator[Registry]:
    """A registry with auth on whose one user is the post's `rguichard` (the pipeline's
    `username` is kept as written)."""
    with started_auth_registry("rguichard") as reg:
        yield reg


@pytest.fixture
def server_args(stack_server_args: tuple[str, ...], seed_registry: Registry
                ) -> tuple[str, ...]:
    """The stack's git server and the auth registry are loopback services: allowed."""
    return (*stack_server_args, "--task-allow", seed_registry.host)


class App:
    """A clone of the app repository's `master`, pushed over ssh with the deploy key."""

    def __init__(self, stack: StackInfo, repo: str, work: Path) -> None:
        self.work = work
        self.ssh = ["-c", f"core.sshCommand={stack.git.ssh_command()}"]
        plain_git("init", "-q", "--initial-branch=master", str(work))
        plain_git("remote", "add", "origin", push_url(stack, repo), cwd=work)
        for name in ("index.html", "Dockerfile"):
            shutil.copy(EXAMPLE / name, work / name)
        shutil.copytree(EXAMPLE / "deploy", work / "deploy")
        shutil.copy("/bin/busybox", work / "busybox")
        self.commit("helloworld", "the app of the blog post")

    def commit(self, text: str, message: str) -> str:
        (self.work / "index.html").write_text(f"<h1>{text}</h1>\n")
        plain_git("add", "-A", cwd=self.work)
        plain_git("commit", "-q", "-m", message, cwd=self.work)
        plain_git(*self.ssh, "push", "-q", "origin", "HEAD:refs/heads/master", cwd=self.work)
        return plain_git("rev-parse", "HEAD", cwd=self.work)


def _builds(fly: Fly) -> list[dict[str, Any]]:
    code, out = fly("builds", "-j", JOB, "--json")
    assert code == 0, out
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def _finished(fly: Fly, count: int) -> list[dict[str, Any]] | None:
    rows = _builds(fly)
    done = [b for b in rows if b["status"] not in ("pending", "started")]
    return done if len(done) >= count and len(done) == len(rows) else None


def _manifest(reg: Registry, repo: str, tag: str) -> httpx.Response:
    return httpx.get(f"{reg.url}/v2/{repo}/manifests/{tag}", auth=reg.auth, timeout=10,
                     headers={"Accept": f"{DOCKER_V2S2}, {OCI_MANIFEST}"})


def _pull_rootfs(source: dict[str, str], dest: Path) -> None:
    """A registry-image get of the source's tag in format rootfs, into `dest`."""
    image = RegistryImageResource()

    async def quiet(line: str) -> None:
        return None

    async def pull() -> None:
        [version] = await image.check(source, None, log=quiet)
        await image.get(source, version, {"format": "rootfs"}, dest, log=quiet)

    asyncio.run(pull())


def test_the_seed_pipeline_builds_pushes_and_bumps_on_each_commit(
        stack: StackInfo, git_repo: str, seed_registry: Registry, fly: Fly,
        tmp_path: Path) -> None:
    bare = stack.git.repos / git_repo
    image_repo = f"osones/demo-{uuid.uuid4().hex[:8]}"
    assert seed_registry.password
    key = stack.git.deploy_key.read_text()
    app = App(stack, git_repo, tmp_path / "app")
    push_branch(push_url(stack, git_repo), tmp_path / "version", "version",
                {"version": "1.0.0\n"}, ssh_command=stack.git.ssh_command())
    vars_file = tmp_path / "vars.yml"  # holds the key and the password: 0600
    vars_file.touch(mode=0o600)
    vars_file.write_text(yaml.safe_dump({
        "app_git_uri": stack.git.git_url(git_repo),
        "app_ssh_uri": push_url(stack, git_repo),
        "image_repository": f"{seed_registry.host}/{image_repo}",
        "rguichard_pkey": key,
        "dh-rguichard-passwd": seed_registry.password}))
    code, out = fly("set-pipeline", "-p", "helloworld", "-c",
                    str(EXAMPLE / "ci" / "pipeline.yml"), "-l", str(vars_file), "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "helloworld")
    assert code == 0, out

    # The first check of `git` takes master's head: that commit builds 1.0.1.
    builds: list[dict[str, Any]] = wait_for(  # type: ignore[assignment]
        lambda: _finished(fly, 1), timeout=240)
    assert [b["status"] for b in builds] == ["succeeded"], fly("watch", "-j", JOB)[1]
    _, log = fly("watch", "-j", JOB, "-b", "1")
    # The repository came from a var: the log names it redacted, as Concourse would.
    assert "pushing ((redacted)):1.0.1 (docker format)" in log
    assert branch_file(bare, "version", "version") == "1.0.1"
    pushed = _manifest(seed_registry, image_repo, "1.0.1")
    assert pushed.status_code == 200, pushed.text
    assert json.loads(pushed.content)["mediaType"] == DOCKER_V2S2
    assert pushed.headers["Content-Type"] == DOCKER_V2S2

    # A second commit: 1.0.2.
    app.commit("hello again", "a second page")
    builds = wait_for(lambda: _finished(fly, 2), timeout=240)  # type: ignore[assignment]
    assert [b["status"] for b in builds] == ["succeeded", "succeeded"]
    assert branch_file(bare, "version", "version") == "1.0.2"
    assert _manifest(seed_registry, image_repo, "1.0.2").status_code == 200
    for build in ("1", "2"):  # neither the key nor the password is in a build's log
        _, log = fly("watch", "-j", JOB, "-b", build)
        assert "succeeded" in log
        assert seed_registry.password not in log
        assert not any(line in log for line in key.splitlines()[1:-1])

    # The image runs: its root, pulled back as a registry-image get (format rootfs),
    # holds the page of that commit and busybox's httpd.
    source = {"repository": f"{seed_registry.host}/{image_repo}", "tag": "1.0.2",
              "username": "rguichard", "password": seed_registry.password}
    _pull_rootfs(source, tmp_path / "image")
    root = tmp_path / "image" / "rootfs"
    assert (root / "www" / "index.html").read_text() == "<h1>hello again</h1>\n"
    assert (root / "bin" / "httpd").is_symlink() and (root / "bin" / "busybox").is_file()
    metadata = json.loads((tmp_path / "image" / "metadata.json").read_text())
    assert metadata["user"] == "65534:65534"

    # A [ci skip] commit is no version of `git`: a check runs, nothing builds.
    skipped = app.commit("docs only", "typo in the page [ci skip]")
    code, out = fly("check-resource", "-r", "helloworld/git")
    assert code == 0, out
    assert skipped[:7] not in out
    time.sleep(3)  # three scheduler ticks
    assert len(_builds(fly)) == 2
    assert branch_file(bare, "version", "version") == "1.0.2"
    assert _manifest(seed_registry, image_repo, "1.0.3").status_code == 404
