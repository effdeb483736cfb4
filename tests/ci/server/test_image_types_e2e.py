"""A pipeline whose resource type is an image in a registry (Concourse's usual way):
the server pulls it, the checker and the build run its scripts in the sandbox."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from headwater.ci.resources.process import find_bwrap
from headwater.devstack.registry import Registry
from tests.ci.resources.images import push_echo_type
from tests.ci.server.conftest import Fly, Server, wait_for

pytestmark = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")


@pytest.fixture
def server_args(auth_registry: Registry) -> tuple[str, ...]:
    """The built-in types and image pulls reach that registry only when allowed."""
    return ("--task-allow", auth_registry.host)


def test_a_resource_type_from_an_image_checks_gets_and_puts(
        ci_server: Server, fly: Fly, auth_registry: Registry, tmp_path: Path) -> None:
    push_echo_type(auth_registry.url, "types/echo-e2e", "1.0", tmp_path,
                   auth=auth_registry.auth)
    assert auth_registry.username and auth_registry.password
    pipeline = tmp_path / "p.yml"
    pipeline.write_text(textwrap.dedent(f"""
        resource_types:
        - name: echo
          type: registry-image
          source:
            repository: 127.0.0.1:{auth_registry.port}/types/echo-e2e
            tag: "1.0"
            username: ((registry.username))
            password: ((registry.password))
        resources:
        - name: thing
          type: echo
          source: {{value: first}}
          check_every: 1s
        jobs:
        - name: use
          plan:
          - get: thing
            trigger: true
          - task: show
            config:
              platform: linux
              inputs: [{{name: thing}}]
              outputs: [{{name: art}}]
              run:
                path: sh
                args: [-c, 'echo "got $(cat thing/version) in build $(cat thing/build_id)";
                            echo second > art/value']
          - put: thing
            params: {{from: art}}
        """))
    code, out = fly("set-pipeline", "-p", "img", "-c", str(pipeline), "-n",
                    "-v", f"registry.username={auth_registry.username}",
                    "-v", f"registry.password={auth_registry.password}")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "img")
    assert code == 0, out

    def finished() -> str | None:
        code, out = fly("builds", "-j", "img/use")
        return out if code == 0 and ("succeeded" in out or "errored" in out
                                     or "failed" in out) else None

    wait_for(finished, timeout=60)
    code, log = fly("watch", "-j", "img/use", "-b", "1")
    assert code == 0, log
    assert "got first in build" in log
    assert "fetched first into /tmp/build/get" in log  # the type's stderr, from the sandbox
    assert auth_registry.password not in log
    with ci_server.api() as api:
        rows = api.get("/teams/main/pipelines/img/resources/thing/versions").json()
    # The check's version and the put's (the check runs as root, the host hidden).
    versions = [r["version"] for r in rows]
    assert {"v": "second"} in versions
    assert any(v.get("v") == "first" and v.get("uid") == "0" for v in versions)
    assert len(list((ci_server.data_dir / "resource-images").iterdir())) == 1
