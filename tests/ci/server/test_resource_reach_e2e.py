"""A pipeline author cannot make the server's own resource code read its disk or talk
to its loopback services: the built-in types check where a URL leads before they
connect (ci/resources/reach.py), through a real `headwater server` without
--resource-local-paths, --task-allow or --stack."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.ci.resources.gitrepos import Upstream
from tests.ci.server.conftest import Fly, Server

PIPELINE = """
resources:
- name: disk
  type: git
  source: {{uri: "{local}", branch: main}}
- name: api
  type: git
  source: {{uri: "http://127.0.0.1:{port}/api/v1/info", branch: main}}
- name: named
  type: git
  source: {{uri: "ssh://git@localhost:{port}/repo.git", branch: main}}
- name: metadata
  type: semver
  source: {{driver: git, uri: "http://169.254.169.254/latest.git", branch: v, file: v}}
- name: image
  type: registry-image
  source: {{repository: "127.0.0.1:{port}/team/app", tag: latest}}
jobs:
- name: j
  plan:
  - in_parallel: [{{get: disk}}, {{get: api}}, {{get: named}}, {{get: metadata}}, {{get: image}}]
"""


@pytest.mark.parametrize(("resource", "said"), [
    ("disk", "is a path on the server's machine"),
    ("api", "is 127.0.0.1, an address of the server's own machine"),
    ("named", "is 127.0.0.1, an address of the server's own machine"),
    ("metadata", "169.254.169.254:80 is 169.254.169.254"),
    ("image", "is 127.0.0.1, an address of the server's own machine"),
])
def test_built_in_types_refuse_the_servers_disk_and_loopback(
        ci_server: Server, fly: Fly, tmp_path: Path, resource: str, said: str) -> None:
    up = Upstream(tmp_path / "up")
    up.commit({"secret.txt": "the server's own repository"}, "first")
    path = tmp_path / "p.yml"
    path.write_text(textwrap.dedent(PIPELINE.format(local=up.uri, port=ci_server.port)))
    code, out = fly("set-pipeline", "-p", "p", "-c", str(path), "-n")
    assert code == 0, out
    code, out = fly("check-resource", "-r", f"p/{resource}")
    assert code != 0
    shown = " ".join(out.split())
    assert said in shown, shown
    assert "--task-allow" in shown or "use a URL of a Git server" in shown
    code, out = fly("resource-versions", "-r", f"p/{resource}")
    assert "the server's own repository" not in out
    requests = [line for line in ci_server.log.read_text().splitlines()
                if "/api/v1/info" in line and "GET" in line]
    assert requests == []  # refused before any connection
