"""fluxctl's verbs against the stack's real Git server and registry: each acts through
one commit whose diff is the annotation or image lines, and a user's mistake (bad
pattern, locked workload, unknown workload) exits 2 with nothing committed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from headwater import log as hwlog
from headwater.cli import fluxctl
from headwater.devstack import StackInfo
from headwater.registry import push
from tests.gitseed import Seed, plain_git, push_url

pytestmark = pytest.mark.stack

WID = "default:deployment/app"
FILE = "deploy/app.yaml"


def manifest(image: str, annotations: dict[str, str] | None = None, sidecar: str = "") -> str:
    notes = "".join(f'\n    {k}: "{v}"' for k, v in (annotations or {}).items())
    block = f"\n  annotations:{notes}" if notes else ""
    side = f"\n      - name: sidecar\n        image: {sidecar}" if sidecar else ""
    return f"""---
apiVersion: v1
kind: Namespace
metadata:
  name: default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: default{block}
spec:
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: {image}  # built by CI{side}
"""


@dataclass
class Repo:
    stack: StackInfo
    name: str
    seed: Seed
    work: Path

    @property
    def bare(self) -> tuple[str, str]:
        return ("--git-dir", str(self.stack.git.repos / self.name))

    def git(self, *args: str) -> str:
        return plain_git(*self.bare, *args)

    def head(self) -> str:
        return self.git("rev-parse", "main")

    def diff(self, rev: str = "main") -> list[str]:
        """The changed lines of a commit, `+`/`-` prefixed."""
        out = self.git("show", "--format=", "-U0", rev)
        return [line for line in out.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))]

    def message(self, rev: str = "main") -> str:
        return self.git("log", "-1", "--format=%B", rev).strip()

    def file(self, rev: str = "main") -> str:
        return self.git("show", f"{rev}:{FILE}")

    def run(self, *args: str) -> Result:
        app = typer.Typer()
        app.callback()(lambda: hwlog.setup("info"))  # logs to stderr, as `headwater` does
        fluxctl.register(app)
        return CliRunner().invoke(app, [
            *args, "--git-url", push_url(self.stack, self.name), "--git-branch", "main",
            "--git-ssh-key", str(self.stack.git.deploy_key),
            "--git-known-hosts", str(self.stack.git.known_hosts),
            "--git-path", "deploy", "--workdir", str(self.work)])


@pytest.fixture
def repo(stack: StackInfo, git_repo: str, tmp_path: Path) -> Repo:
    return Repo(stack, git_repo, Seed(stack, git_repo, tmp_path / "seed"), tmp_path / "work")


def push_image(stack: StackInfo, repo: str, tag: str, created: str) -> str:
    layer, diff_id = push.layer_from_bytes({"version": tag.encode()})
    config = push.image_config([diff_id], entrypoint=["/version"], created=created)
    push.push(stack.registry.url, repo, tag, config=config, layers=[layer])
    return f"{stack.registry.host}/{repo}:{tag}"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def refused(repo: Repo, result: Result, *words: str) -> None:
    """Exit 2, the words in the message, and no commit."""
    assert result.exit_code == 2, result.output
    for w in words:
        assert w in result.output, result.output


# -- policy verbs


def test_automate_and_deautomate_commit_only_the_annotation(repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0")})
    before = repo.head()
    assert "Commit pushed" in ok(repo.run("automate", "-w", WID)).output
    assert repo.message() == f"Automated: {WID}"
    assert repo.diff() == ["+  annotations:", '+    fluxcd.io/automated: "true"']
    assert repo.git("rev-parse", "main^") == before

    # Already automated: nothing to commit.
    automated = repo.head()
    assert "Nothing to commit" in ok(repo.run("automate", "-w", WID)).output
    assert repo.head() == automated

    ok(repo.run("deautomate", "-w", WID))
    assert repo.message() == f"Deautomated: {WID}"
    assert repo.diff() == ["-  annotations:", '-    fluxcd.io/automated: "true"']


def test_lock_with_message_and_user_then_unlock(repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0",
                                     {"flux.weave.works/automated": "true"})})
    ok(repo.run("lock", "-w", WID, "-m", "incident 42", "--user", "Alice <alice@example.com>"))
    assert repo.message() == f"incident 42\n\n- Locked: {WID}"
    assert repo.diff() == ['+    fluxcd.io/locked: "true"',
                           '+    fluxcd.io/locked_user: "Alice <alice@example.com>"',
                           '+    fluxcd.io/locked_msg: "incident 42"']
    who = repo.git("log", "-1", "--format=%an <%ae>|%cn <%ce>", "main")
    assert who == "Alice <alice@example.com>|headwater <headwater@localhost>"

    ok(repo.run("unlock", "-w", WID))
    assert repo.message() == f"Unlocked: {WID}"
    assert sorted(repo.diff()) == sorted(['-    fluxcd.io/locked: "true"',
                                          '-    fluxcd.io/locked_user: "Alice <alice@example.com>"',
                                          '-    fluxcd.io/locked_msg: "incident 42"'])
    assert 'flux.weave.works/automated: "true"' in repo.file()


def test_policy_tag_keeps_the_key_spelling_and_tag_all_sets_every_container(
        repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0",
                                     {"flux.weave.works/tag.app": "glob:1.*"},
                                     sidecar="registry.example/side:2.0")})
    ok(repo.run("policy", "-w", WID, "--tag", "app=semver:~1.0"))
    assert repo.message() == f"Updated policies: {WID}"
    assert repo.diff() == ['-    flux.weave.works/tag.app: "glob:1.*"',
                           '+    flux.weave.works/tag.app: "semver:~1.0"']

    ok(repo.run("policy", "-w", WID, "--tag-all", "glob:2.*"))
    assert repo.diff() == ['-    flux.weave.works/tag.app: "semver:~1.0"',
                           '+    flux.weave.works/tag.app: "glob:2.*"',
                           '+    fluxcd.io/tag.sidecar: "glob:2.*"']

    ok(repo.run("policy", "-w", WID, "--tag", "sidecar=*"))
    assert repo.diff() == ['-    fluxcd.io/tag.sidecar: "glob:2.*"']


def test_a_bad_policy_or_container_or_workload_commits_nothing(repo: Repo) -> None:
    head = repo.seed.commit({FILE: manifest("registry.example/app:1.0.0")})
    refused(repo, repo.run("policy", "-w", WID, "--tag", "app=semver:~~1"),
            WID, "fluxcd.io/tag.app", "semver:~~1")
    refused(repo, repo.run("policy", "-w", WID, "--tag-all", "regexp:(unclosed"),
            "fluxcd.io/tag_all", "regexp:(unclosed")
    refused(repo, repo.run("policy", "-w", WID, "--tag", "nope=glob:*1"), WID, "'nope'")
    refused(repo, repo.run("lock", "-w", "default:deployment/other"),
            "default:deployment/other", "not found")
    refused(repo, repo.run("automate", "-w", "deployment"), "invalid workload")
    assert repo.head() == head


# -- release and rollback


def test_release_update_image_changes_only_the_image_line(repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0",
                                     sidecar="registry.example/side:2.0")})
    result = ok(repo.run("release", "-w", WID, "--update-image", "registry.example/app:1.2.0",
                         "--user", "Bob <bob@example.com>"))
    assert "app: registry.example/app:1.2.0" in result.output
    assert repo.message() == f"Release registry.example/app:1.2.0 to {WID}"
    assert repo.diff() == ["-        image: registry.example/app:1.0.0  # built by CI",
                           "+        image: registry.example/app:1.2.0  # built by CI"]
    assert repo.git("log", "-1", "--format=%an", "main") == "Bob"

    head = repo.head()
    refused(repo, repo.run("release", "-w", WID, "--update-image", "other.example/x:1"),
            WID, "no container uses other.example/x")
    assert repo.head() == head


def test_a_locked_workload_is_released_only_with_force(repo: Repo) -> None:
    head = repo.seed.commit({FILE: manifest("registry.example/app:1.0.0", {
        "fluxcd.io/locked": "true", "fluxcd.io/locked_msg": "frozen"})})
    refused(repo, repo.run("release", "-w", WID, "--update-image", "registry.example/app:2"),
            WID, "locked", "fluxcd.io/locked", "frozen", "--force")
    assert repo.head() == head

    ok(repo.run("release", "-w", WID, "--update-image", "registry.example/app:2", "--force",
                "-m", "hotfix"))
    assert repo.message() == "hotfix"
    assert repo.diff() == ["-        image: registry.example/app:1.0.0  # built by CI",
                           "+        image: registry.example/app:2  # built by CI"]


def test_rollback_restores_the_previous_image_and_locks(repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0",
                                     {"fluxcd.io/automated": "true"})})
    repo.seed.commit({"deploy/other.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                           "metadata: {name: c}\n"})
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.1",
                                     {"fluxcd.io/automated": "true"})}, "Auto-release")
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.1", {
        "fluxcd.io/automated": "true", "fluxcd.io/tag.app": "semver:~1.0"})})

    result = ok(repo.run("rollback", "-w", WID))
    assert "app: registry.example/app:1.0.0 (locked)" in result.output
    assert repo.message() == f"Rollback {WID} to registry.example/app:1.0.0"
    assert sorted(repo.diff()) == sorted([
        '+    fluxcd.io/locked: "true"',
        "-        image: registry.example/app:1.0.1  # built by CI",
        "+        image: registry.example/app:1.0.0  # built by CI"])

    # Locked: automation and a plain release leave it alone.
    refused(repo, repo.run("release", "-w", WID, "--update-image", "registry.example/app:1.0.1"),
            "locked")


def test_rollback_without_an_earlier_image_commits_nothing(repo: Repo) -> None:
    head = repo.seed.commit({FILE: manifest("registry.example/app:1.0.0")})
    refused(repo, repo.run("rollback", "-w", WID), WID, "no earlier image")
    assert repo.head() == head


# -- listing


def test_list_workloads_table_and_json(repo: Repo) -> None:
    repo.seed.commit({FILE: manifest("registry.example/app:1.0.0", {
        "flux.weave.works/automated": "true", "fluxcd.io/tag.app": "semver:~1.0"},
        sidecar="registry.example/side:2.0")})
    lines = ok(repo.run("list-workloads")).stdout.splitlines()
    assert lines[0].split() == ["WORKLOAD", "CONTAINER", "IMAGE", "POLICY"]
    assert lines[1].split() == [WID, "app", "registry.example/app:1.0.0",
                                "automated,tag.app=semver:~1.0"]
    assert lines[2].split() == ["sidecar", "registry.example/side:2.0"]

    data = json.loads(ok(repo.run("list-workloads", "--json")).stdout)
    assert [(d["id"], d["file"], d["automated"], d["locked"]) for d in data] == [
        (WID, FILE, True, False)]
    assert [(c["name"], c["policy"]) for c in data[0]["containers"]] == [
        ("app", "semver:~1.0"), ("sidecar", "glob:*")]


def test_list_images_and_release_all_latest_from_the_registry(
        repo: Repo, stack: StackInfo, registry_repo: str) -> None:
    v100 = push_image(stack, registry_repo, "1.0.0", "2024-01-01T00:00:00Z")
    push_image(stack, registry_repo, "1.0.1", "2024-01-02T00:00:00Z")
    push_image(stack, registry_repo, "1.1.0", "2024-01-03T00:00:00Z")
    push_image(stack, registry_repo, "latest", "2024-01-04T00:00:00Z")
    repo.seed.commit({FILE: manifest(v100, {"fluxcd.io/tag.app": "semver:~1.0"})})

    data = json.loads(ok(repo.run("list-images", "-w", WID, "--json")).stdout)
    assert [(d["container"], d["current"], d["error"]) for d in data] == [("app", "1.0.0", None)]
    assert [(a["tag"], a["current"]) for a in data[0]["available"]] == [
        ("1.0.1", False), ("1.0.0", True)]
    assert data[0]["available"][0]["created"] == "2024-01-02T00:00:00Z"

    lines = ok(repo.run("list-images")).stdout.splitlines()
    assert lines[0].split() == ["WORKLOAD", "CONTAINER", "IMAGE", "CREATED"]
    assert lines[1].split() == [WID, "app", v100.rpartition(":")[0]]
    assert lines[2].split()[:2] == ["|", "1.0.1"] and "02 Jan 24" in lines[2]
    assert lines[3].split()[:2] == ["'->", "1.0.0"]

    ok(repo.run("release", "-w", WID, "--update-all-images"))
    assert repo.message() == f"Release all latest to {WID}"
    assert repo.diff() == [f"-        image: {v100}  # built by CI",
                           f"+        image: {v100[:-len('1.0.0')]}1.0.1  # built by CI"]
