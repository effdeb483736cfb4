"""The seed pipeline's use of `semver`, through a real server and real builds: the
resource as the blog post declares it (git driver, branch `version`, file `version`,
`private_key: {{rguichard_pkey}}`), a job that gets it with `bump: patch` and puts it
back with `file: version/version`, against the stack's ssh git server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from headwater.devstack import StackInfo
from tests.ci.resources.semverhelpers import branch_file, branch_log, push_branch
from tests.ci.server.conftest import Fly, Server
from tests.gitseed import push_url

pytestmark = pytest.mark.stack

PIPELINE = """\
resources:
  - name: version
    type: semver
    source:
      driver: git
      uri: {{app_ssh_uri}}
      branch: version
      file: version
      private_key: {{rguichard_pkey}}
jobs:
  - name: "Docker Build"
    public: false
    plan:
      - get: version
        params:
          bump: patch
      - task: tag
        config:
          platform: linux
          inputs: [{name: version}]
          run: {path: sh, args: [-c, 'echo "would tag the image $(cat version/version)"']}
      - put: version
        params:
          file: version/version
"""


@pytest.fixture
def server_args(stack_server_args: tuple[str, ...]) -> tuple[str, ...]:
    return stack_server_args


def test_get_bump_patch_then_put_file_moves_the_version_branch(
        stack: StackInfo, git_repo: str, ci_server: Server, fly: Fly, tmp_path: Path) -> None:
    bare = stack.git.repos / git_repo
    push_branch(push_url(stack, git_repo), tmp_path / "seed", "version",
                {"version": "1.0.0\n"}, ssh_command=stack.git.ssh_command())
    (tmp_path / "pipeline.yml").write_text(PIPELINE)
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "app_ssh_uri": push_url(stack, git_repo),
        "rguichard_pkey": stack.git.deploy_key.read_text()}))
    code, out = fly("set-pipeline", "-p", "helloworld", "-c", str(tmp_path / "pipeline.yml"),
                    "-l", str(tmp_path / "vars.yml"), "-n")
    assert code == 0, out
    code, out = fly("unpause-pipeline", "-p", "helloworld")
    assert code == 0, out

    code, out = fly("check-resource", "-r", "helloworld/version")
    assert code == 0, out
    assert "1.0.0" in out
    for previous, expected in (("1.0.0", "1.0.1"), ("1.0.1", "1.0.2")):
        code, out = fly("trigger-job", "-j", "helloworld/Docker Build", "-w")
        assert code == 0, out
        assert f"bumped locally from {previous} to {expected}\n" in out
        assert f"set the version to {expected}\n" in out
        assert f"would tag the image {expected}\n" in out
        assert branch_file(bare, "version", "version") == expected
    assert branch_log(bare, "version")[:2] == ["bump to 1.0.2", "bump to 1.0.1"]
    # the checker reads the branch as the puts left it
    code, out = fly("check-resource", "-r", "helloworld/version")
    assert code == 0, out
    assert "1.0.2" in out
    key_lines = [ln for ln in stack.git.deploy_key.read_text().splitlines()
                 if ln and not ln.startswith("-----")]
    code, log = fly("watch", "-j", "helloworld/Docker Build", "-b", "2")
    assert code == 0, log
    assert not any(line in log for line in key_lines)
