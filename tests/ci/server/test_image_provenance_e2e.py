"""Image provenance on what a real build stores: a `headwater server` on the stack runs
a job (git get with trigger, docker-image put built with buildah, as the seed
pipeline's), twice; `CI.image_provenance` over that server's store names the build
that pushed a tag (the newest when the tag moved), the digest, when the put ended, and
the commit the build took, with its time and subject. A digest names its own build;
an image no build pushed has none."""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.ci.build.local import LocalExecutor
from headwater.ci.resources.types import ResourceTypes
from headwater.ci.service import CI, CISettings, ImageProvenance
from headwater.devstack import StackInfo
from headwater.store import Store
from tests.ci.server.conftest import Fly, Server, wait_for
from tests.gitseed import plain_git, push_url

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None,
                                 reason="the image build needs buildah")]

JOB = "provenance/build"
DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def server_args(stack_server_args: tuple[str, ...]) -> tuple[str, ...]:
    return stack_server_args


def _commit(work: Path, page: str, message: str, ssh: list[str]) -> str:
    (work / "page").write_text(page)
    plain_git("add", "-A", cwd=work)
    plain_git("commit", "-q", "-m", message, cwd=work)
    plain_git(*ssh, "push", "-q", "origin", "HEAD:refs/heads/master", cwd=work)
    return plain_git("rev-parse", "HEAD", cwd=work)


def _finished(fly: Fly, count: int) -> list[dict[str, Any]] | None:
    code, out = fly("builds", "-j", JOB, "--json")
    assert code == 0, out
    rows: list[dict[str, Any]] = json.loads(out)
    done = [b for b in rows if b["status"] not in ("pending", "started")]
    return rows if len(done) >= count and len(done) == len(rows) else None


def _digest(stack: StackInfo, repo: str, tag: str) -> str:
    found = httpx.head(f"{stack.registry.url}/v2/{repo}/manifests/{tag}", timeout=10,
                       headers={"Accept": f"{DOCKER_V2S2}, {OCI_MANIFEST}"})
    assert found.status_code == 200
    return found.headers["Docker-Content-Digest"]


async def _provenance(server: Server, images: list[str]) -> list[ImageProvenance | None]:
    """`CI.image_provenance` over the server's own store (its SQLite, its key)."""
    async with await Store.open(None, data_dir=server.data_dir) as store:
        ci = CI(store, types=ResourceTypes.default(), executor=LocalExecutor(bwrap=None),
                settings=CISettings(data_dir=server.data_dir / "reader"))
        return [await ci.image_provenance(image) for image in images]


def test_provenance_names_the_build_its_put_time_and_commit(
        stack: StackInfo, git_repo: str, ci_server: Server, fly: Fly,
        *, registry_repo: str, tmp_path: Path) -> None:
    work = tmp_path / "app"
    ssh = ["-c", f"core.sshCommand={stack.git.ssh_command()}"]
    plain_git("init", "-q", "--initial-branch=master", str(work))
    plain_git("remote", "add", "origin", push_url(stack, git_repo), cwd=work)
    (work / "Dockerfile").write_text("FROM scratch\nCOPY page /page\n")
    first = _commit(work, "one\n", "the first page\n\nwith a body", ssh)
    image = f"{stack.registry.host}/{registry_repo}"
    pipeline = tmp_path / "p.yml"
    pipeline.write_text(textwrap.dedent(f"""\
        resources:
        - name: app
          type: git
          source: {{uri: "{stack.git.git_url(git_repo)}", branch: master}}
          check_every: 1s
        - name: app-image
          type: docker-image
          source: {{repository: "{image}", tag: "1.0"}}
        jobs:
        - name: build
          plan:
          - get: app
            trigger: true
          - put: app-image
            params: {{build: app}}
        """))
    code, out = fly("set-pipeline", "-p", "provenance", "-c", str(pipeline), "-n")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "provenance")[0] == 0
    builds: list[dict[str, Any]] = wait_for(  # type: ignore[assignment]
        lambda: _finished(fly, 1), timeout=240)
    assert [b["status"] for b in builds] == ["succeeded"], fly("watch", "-j", JOB)[1]
    first_digest = _digest(stack, registry_repo, "1.0")

    second = _commit(work, "two\n", "a second page", ssh)
    builds = wait_for(lambda: _finished(fly, 2), timeout=240)  # type: ignore[assignment]
    assert [b["status"] for b in builds] == ["succeeded", "succeeded"]
    second_digest = _digest(stack, registry_repo, "1.0")
    assert second_digest != first_digest

    by_tag, by_first_digest, unknown_tag, elsewhere = asyncio.run(_provenance(ci_server, [
        f"{image}:1.0", f"{image}@{first_digest}", f"{image}:9.9",
        f"{stack.registry.host}/other-{uuid.uuid4().hex[:6]}:1.0"]))
    assert unknown_tag is None and elsewhere is None

    # The tag moved: the newest build that pushed it, with its commit.
    assert by_tag is not None
    assert (by_tag.build.job_name, by_tag.build.name) == ("build", "2")
    assert (by_tag.resource, by_tag.digest) == ("app-image", second_digest)
    assert by_tag.commit is not None
    assert (by_tag.commit.resource, by_tag.commit.ref, by_tag.commit.subject) == (
        "app", second, "a second page")
    committed = datetime.fromtimestamp(
        int(plain_git("log", "-1", "--format=%ct", second, cwd=work)), UTC)
    assert by_tag.commit.committed_at == committed
    build = by_tag.build
    assert build.start_time and build.end_time and by_tag.pushed_at
    assert build.start_time <= by_tag.pushed_at <= build.end_time

    # The first digest is the first build's.
    assert by_first_digest is not None
    assert by_first_digest.build.name == "1" and by_first_digest.digest == first_digest
    assert by_first_digest.commit is not None
    assert (by_first_digest.commit.ref, by_first_digest.commit.subject) == (
        first, "the first page")
