"""`headwater demo` on the real stack: the seed story, hop by hop (issue 15 points 2-4).

The installed command runs twice against the stack (`HEADWATER_TEST_STACK`, or a fresh
one): the first run sets up what is missing (or reuses it), each run plays one release.
Its output is not a terminal, so each hop is a plain line as it starts and ends. After
each run: the page printed is the one of the new release, the version branch moved by
one patch, the release commit on master ends its body with `[ci skip]` and names the
new tag, the Deployment's pods run that tag, and the job has exactly one build per
human commit (the release commits built nothing). The server's token is in a 0600 file
and nowhere in the server's log or the command's output. The variant without
`--git-ci-skip` (`--no-git-ci-skip`: the story `helloworld-paths`, whose pipeline's git
resource has `ignore_paths: [deploy/]`) also builds once per human commit.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.devstack import StackInfo, process

pytestmark = [pytest.mark.stack,
              pytest.mark.skipif(shutil.which("buildah") is None,
                                 reason="the image build needs buildah")]

HEADWATER = Path(sys.executable).with_name("headwater")
HOPS = ["app repository", "image 1.0.0", "server", "pipeline", "commit", "build started",
        "image {v} pushed", "release commit", "pods ready", "page served", "no second build"]


def _git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def _version(bare: Path) -> str:
    if not bare.exists():
        return "1.0.0"
    return _git(bare, "show", "version:version")


def _next(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def _builds(stack: StackInfo, pipeline: str) -> list[dict[str, Any]]:
    demo = Path(stack.state_dir) / "demo"
    url = json.loads((demo / "server.json").read_text())["url"]
    token = (demo / "token").read_text().strip()
    r = httpx.get(f"{url}/api/v1/teams/main/pipelines/{pipeline}/jobs/Docker Build/builds",
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    rows: list[dict[str, Any]] = r.json()
    return rows


def _human_commits(bare: Path) -> int:
    """Commits to master that are not CD's releases, less the first (the app itself,
    which was there before the pipeline's first check)."""
    subjects = _git(bare, "log", "--format=%s", "master").splitlines()
    return len([s for s in subjects if not s.startswith("Auto-release")]) - 1


def _pods(stack: StackInfo, namespace: str) -> list[str]:
    assert stack.kubeconfig
    out = subprocess.run(
        [stack.kubectl or "kubectl", "--kubeconfig", stack.kubeconfig, "-n", namespace,
         "get", "pods", "-l", "app=helloworld", "-o", "json"],
        capture_output=True, text=True, check=True).stdout
    return [c["image"] for p in json.loads(out)["items"]
            if not p["metadata"].get("deletionTimestamp")
            for c in p["spec"]["containers"]]


def _play(stack: StackInfo, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """One `headwater demo` run of the story `name`, each of its hops checked."""
    bare = stack.git.repos / f"{name}.git"
    image = f"127.0.0.1:{stack.ports['registry']}/osones/demo-concourse-flux" + (
        "-paths" if name.endswith("-paths") else "")
    target = _next(_version(bare))
    done = subprocess.run([str(HEADWATER), "demo", "--state-dir", stack.state_dir, *flags],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr

    # Each hop, in order, as it starts and as it ends (plain lines: no terminal).
    started = [ln[2:] for ln in done.stderr.splitlines() if ln.startswith("… ")]
    ended = [ln[2:].split(" (", 1)[0] for ln in done.stderr.splitlines()
             if ln.startswith("✓ ")]
    hops = [h.format(v=target) for h in HOPS]
    assert started == hops, done.stderr
    assert ended == hops, done.stderr
    # The timeline: one line per hop, then where to look next.
    timeline = done.stdout.split("timeline", 1)[1]
    assert all(hop in timeline for hop in hops)
    assert f"the page now: <h1>Hello World, release {target}</h1>" in done.stdout
    assert f"export KUBECONFIG={stack.kubeconfig}" in done.stdout
    assert f"git clone {stack.git.git_url(name + '.git')}" in done.stdout
    assert f"/cd/releases/{name}/{_git(bare, 'rev-parse', 'master')}" in done.stdout

    # The hops really happened.
    assert _version(bare) == target
    release = _git(bare, "log", "-1", "--format=%B", "master")
    assert release.startswith(f"Auto-release {image}:{target}\n")
    assert f"{image}:{target}" in _git(bare, "show", "master:deploy/deployment.yaml")
    assert _pods(stack, name) == [f"{image}:{target}"]
    builds = _builds(stack, name)
    assert [b["status"] for b in builds] == ["succeeded"] * len(builds)
    assert len(builds) == _human_commits(bare)  # one build per human commit
    return done


def test_each_run_of_the_demo_plays_one_release_and_builds_once(stack: StackInfo) -> None:
    bare = stack.git.repos / "helloworld.git"
    for _ in range(2):
        done = _play(stack, "helloworld")
        # --git-ci-skip: the release commit's message ends with [ci skip], as fluxd's.
        assert _git(bare, "log", "-1", "--format=%B", "master").endswith("\n\n[ci skip]")

    # The server is a stack process (`headwater down` stops it) and its token is kept
    # 0600, in no log and no output.
    demo = Path(stack.state_dir) / "demo"
    proc = process.load("headwater-server", stack.layout)
    assert proc is not None and process.is_alive(proc)
    for secret in ("token", "vars.yml", "encryption-key"):
        assert stat.S_IMODE((demo / secret).stat().st_mode) == 0o600, secret
    token = (demo / "token").read_text().strip()
    key = (demo / "encryption-key").read_text().strip()
    assert token not in proc.log.read_text()
    assert token not in done.stdout + done.stderr
    # The server's database holds the pipeline's vars (the deploy key) encrypted, and
    # its key is in no argv (ps) and no log.
    deploy_key = stack.git.deploy_key.read_text().splitlines()[1]
    for db in (demo / "server").glob("headwater.db*"):
        assert deploy_key.encode() not in db.read_bytes(), db
    assert key not in Path(f"/proc/{proc.pid}/cmdline").read_text()
    assert key not in proc.log.read_text()


def test_without_ci_skip_the_git_resource_ignoring_deploy_still_builds_once(
        stack: StackInfo) -> None:
    """The other way to stop the loop: the CD source without `git-ci-skip` (its release
    commits say nothing), the pipeline's git resource with `ignore_paths: [deploy/]`."""
    bare = stack.git.repos / "helloworld-paths.git"
    _play(stack, "helloworld-paths", "--no-git-ci-skip")
    assert "[ci skip]" not in _git(bare, "log", "-1", "--format=%B", "master")
