"""What a user sees when a get or put of the seed pipeline's types fails (issue 13
point 7), through real builds of the engine against the real stack: a bad private key,
an unreachable repository, a failing Dockerfile line, a push the registry refuses and a
missing tag file each error the step with `resource '<name>': ` and the cause, the
failing Dockerfile line is in the build log, and neither the key nor a password
appears anywhere in the build's events."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.plan import Do, Get, Put
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.git import GitResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings
from headwater.ci.resources.semver import SemverResource
from headwater.devstack import StackInfo
from headwater.devstack.ports import pick
from headwater.devstack.registry import Registry
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh
from tests.gitseed import push_url

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None or os.geteuid() != 0,
                                 reason="image builds need buildah, as root")]

CONTEXT = (
    "mkdir -p src version\n"
    "cp /bin/busybox src/busybox\n"
    "printf 'FROM scratch\\nCOPY busybox /bin/busybox\\n%s\\n' \"$LINE\" > src/Dockerfile\n"
    "echo 1.0.1 > version/version\n")


@dataclass(frozen=True)
class Case:
    step: Get | Put
    context_line: str | None  # a docker-image put's last Dockerfile line; None: no context
    cause: tuple[str, ...]  # words of the error's cause
    in_log: str = ""  # what the step's log must show as well


def _key(tmp_path: Path) -> str:
    """A well-formed ssh private key the git server does not know."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stranger",
                    "-f", str(tmp_path / "stranger")], check=True)
    return (tmp_path / "stranger").read_text()


def _image_put(repository: str, auth: Registry, *, password: str | None = None,
               tag_file: str = "version/version") -> Put:
    return Put(id="image", name="image-helloworld", resource="image-helloworld",
               type="docker-image",
               source={"repository": repository, "username": auth.username,
                       "password": password or auth.password},
               params={"build": "src", "tag_file": tag_file},
               get_params={"skip_download": True})


def _cases(stack: StackInfo, git_repo: str, auth: Registry, key: str) -> dict[str, Case]:
    repository = f"{auth.host}/errors/{uuid.uuid4().hex[:8]}"
    ssh_uri = push_url(stack, git_repo)
    return {
        "bad private key": Case(
            Put(id="version", name="version", resource="version", type="semver",
                source={"driver": "git", "uri": ssh_uri, "branch": "version",
                        "file": "version", "private_key": key},
                params={"bump": "patch"}, no_get=True),
            None, ("Permission denied", "publickey")),
        "malformed private key": Case(
            Get(id="git", name="git", resource="git", type="git",
                source={"uri": ssh_uri, "branch": "master",
                        "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n"
                                       "c2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n"
                                       "-----END OPENSSH PRIVATE KEY-----\n"},
                version={"ref": "0" * 40}),
            None, ("private key",)),
        "unreachable repo": Case(
            Get(id="git", name="git", resource="git", type="git",
                source={"uri": stack.git.git_url("no-such-repo.git"), "branch": "master"},
                version={"ref": "0" * 40}),
            None, ("no-such-repo.git", "no such repository")),
        "unreachable host": Case(
            Get(id="git", name="git", resource="git", type="git",
                source={"uri": f"git://127.0.0.1:{pick(None, set())}/app.git",
                        "branch": "master"},
                version={"ref": "0" * 40}),
            None, ("git fetch of", "unable to connect", "Connection refused")),
        "failing Dockerfile line": Case(
            _image_put(repository, auth), 'RUN ["/bin/busybox", "false"]',
            ("building the image failed",), in_log='RUN ["/bin/busybox", "false"]'),
        "refused push": Case(
            _image_put(repository, auth, password="not-the-password-" + uuid.uuid4().hex),
            "CMD [\"/bin/busybox\"]", ("pushing", "unauthorized: authentication required")),
        "missing tag file": Case(
            _image_put(repository, auth, tag_file="version/tag"), "CMD [\"/bin/busybox\"]",
            ("tag_file", "version/tag")),
    }


CASES = ("bad private key", "malformed private key", "unreachable repo", "unreachable host",
         "failing Dockerfile line", "refused push", "missing tag file")


@pytest.fixture(params=CASES)
def row(request: pytest.FixtureRequest, stack: StackInfo, git_repo: str,
         auth_registry: Registry, tmp_path: Path) -> tuple[Case, str]:
    """One row of the table, and the private key it may hold."""
    key = _key(tmp_path)
    return _cases(stack, git_repo, auth_registry, key)[request.param], key


async def test_a_failing_get_or_put_names_the_resource_and_the_cause_and_no_secret(
        row: tuple[Case, str], auth_registry: Registry, builds: BuildahSettings,
        tmp_path: Path) -> None:
    case, key = row
    steps: list[Any] = []
    if case.context_line is not None:
        steps.append(sh("context", CONTEXT, outputs=[{"name": "src"}, {"name": "version"}],
                        params={"LINE": case.context_line}))
    steps.append(case.step)
    builtins: dict[str, Any] = {
        "git": GitResource(scratch=tmp_path / "scratch"),
        "semver": SemverResource(scratch=tmp_path / "scratch"),
        "docker-image": DockerImageResource(buildah=builds)}
    (tmp_path / "scratch").mkdir()
    delegate = RecordingDelegate()
    status = await run_build(Do(id="do", steps=steps),
                             ctx=make_ctx(tmp_path / "build", builtins=builtins),
                             delegate=delegate)

    assert status == "errored", delegate.errors()
    [message] = delegate.errors()
    said = " ".join(message.split())
    assert said.startswith(f"resource '{case.step.resource}': "), said
    for word in case.cause:
        assert word.lower() in said.lower(), said
    if case.in_log:
        assert case.in_log in delegate.log(case.step.id), delegate.log(case.step.id)
    events = json.dumps([e.payload for e in delegate.events])
    secrets = [auth_registry.password or "", *key.splitlines()[1:-1],
               str(case.step.source.get("password", ""))]
    for secret in filter(None, secrets):
        assert secret not in events
    if "private_key" in case.step.source:
        assert "PRIVATE KEY" not in events
        assert "Warning: Permanently added" not in said  # ssh's chatter is not the cause
