"""docker-image through a real build: a task writes the context, the put builds and
pushes it (its output streamed into the build log), the implicit get follows; a
failing Dockerfile line errors the build with the step in the log."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from headwater import devstack
from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, Put
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None or os.geteuid() != 0,
                                 reason="image builds need buildah, as root")]

CONTEXT = (
    "mkdir -p src/www version\n"
    "cp /bin/busybox src/busybox\n"
    "echo hello > src/www/index.html\n"
    "printf 'FROM scratch\\nCOPY busybox /bin/busybox\\n"
    'RUN ["/bin/busybox","--install","-s","/bin"]\\nCOPY www /www\\n%s\\n'
    "CMD httpd -f -p 8080 -h /www\\n' \"$EXTRA\" > src/Dockerfile\n"
    "echo 1.0.1 > version/version\n")



def plan(repository: str, extra: str = "") -> Do:
    return Do(id="do", steps=[
        sh("context", CONTEXT, outputs=[{"name": "src"}, {"name": "version"}],
           params={"EXTRA": extra}),
        Put(id="put", name="image", resource="image", type="docker-image",
            source={"repository": repository},
            params={"build": "src", "tag_file": "version/version"},
            get_params={"skip_download": True}),
    ])


async def build(tmp_path: Path, builds: BuildahSettings, p: Do) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    builtins: dict[str, Any] = {"docker-image": DockerImageResource(buildah=builds)}
    status = await run_build(p, ctx=make_ctx(tmp_path / "build", builtins=builtins),
                             delegate=delegate)
    return status, delegate


async def test_a_build_pushes_the_image_and_streams_buildahs_output(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    status, d = await build(tmp_path, builds, plan(f"{stack.registry.host}/{registry_repo}"))
    assert status == "succeeded", d.errors()
    [(resource, fetched)] = d.outputs
    assert resource == "image" and fetched.version["digest"].startswith("sha256:")
    log = d.log("put", "stderr")
    assert "STEP 1/5: FROM scratch" in log
    assert f"pushing {stack.registry.host}/{registry_repo}:1.0.1 (docker format)" in log
    # Lines arrive as buildah writes them: one log event per line.
    assert all(p["payload"].count("\n") == 1 for p in d.of("log", "put"))
    assert d.of("finish-get", "put/get")[0]["version"] == fetched.version
    assert (tmp_path / "build").exists()


async def test_a_failing_dockerfile_line_errors_the_build_with_the_step_in_the_log(
        tmp_path: Path, builds: BuildahSettings, stack: devstack.StackInfo,
        registry_repo: str) -> None:
    repository = f"{stack.registry.host}/{registry_repo}"
    status, d = await build(tmp_path, builds, plan(repository, 'RUN ["/bin/sh","-c","exit 7"]'))
    assert status == "errored"
    [message] = d.errors()
    assert message.startswith(
        f"resource 'image': docker-image {repository}: building the image failed")
    assert "exit 7" in message
    assert 'STEP 5/6: RUN ["/bin/sh","-c","exit 7"]' in d.log("put", "stderr")
    assert d.outputs == []
