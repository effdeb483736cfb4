"""The stack's webhook files: its secret (made once, 0600), the server's target file
(removed only by the server that wrote it), the post-receive hook, and the registry
config that carries the secret (0600)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from headwater.devstack import hooks, registry


def test_the_stack_secret_is_made_once_and_private(tmp_path: Path) -> None:
    secret = hooks.ensure_secret(tmp_path)
    assert len(secret) == 64
    assert hooks.ensure_secret(tmp_path) == secret
    assert (tmp_path / "hooks" / "secret").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "hooks").stat().st_mode & 0o777 == 0o700


def test_a_server_removes_only_its_own_target(tmp_path: Path) -> None:
    target = hooks.write_target(tmp_path, "http://127.0.0.1:1/")
    assert json.loads(target.read_text()) == {"url": "http://127.0.0.1:1/api/v1/hooks/git"}
    assert target.stat().st_mode & 0o777 == 0o600
    hooks.write_target(tmp_path, "http://127.0.0.1:2")  # another server took over
    hooks.clear_target(tmp_path, "http://127.0.0.1:1")
    assert target.exists()
    hooks.clear_target(tmp_path, "http://127.0.0.1:2")
    assert not target.exists()
    hooks.clear_target(tmp_path, "http://127.0.0.1:2")  # gone already: no error


def test_the_post_receive_hook_is_a_self_contained_copy(tmp_path: Path) -> None:
    repo = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    hook = hooks.install_post_receive(repo, tmp_path / "state dir")
    text = hook.read_text()
    assert text.startswith("#!") and text.splitlines()[0].endswith(" -IS")
    assert f"STATE_DIR = {str(tmp_path / 'state dir')!r}" in text
    assert "import headwater" not in text and "from headwater" not in text
    assert hook.stat().st_mode & 0o111
    # run as git runs it, without a server file: exits 0 at once, says nothing
    done = subprocess.run([str(hook)], cwd=repo, input="a b refs/heads/main\n",
                          capture_output=True, text=True, check=False, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_registry_config_sends_pushes_with_the_secret_and_stays_private(
        tmp_path: Path) -> None:
    notify = hooks.registry_notifications("http://127.0.0.1:8080/api/v1/hooks/registry",
                                          "s" * 64)
    registry.prepare(tmp_path, port=5999, auth=False, notifications=notify)
    config = tmp_path / "config.yml"
    assert config.stat().st_mode & 0o777 == 0o600
    [endpoint] = yaml.safe_load(config.read_text())["notifications"]["endpoints"]
    assert endpoint["url"] == "http://127.0.0.1:8080/api/v1/hooks/registry"
    assert endpoint["headers"] == {"Authorization": ["Bearer " + "s" * 64]}
    assert "pull" in endpoint["ignore"]["actions"]


def test_up_gives_the_hook_to_repositories_made_by_hand_and_keeps_the_users_own(
        tmp_path: Path) -> None:
    repos = tmp_path / "git" / "repos"
    for name in ("a.git", "group/b.git", "mine.git"):
        subprocess.run(["git", "init", "-q", "--bare", str(repos / name)], check=True)
    own = repos / "mine.git" / "hooks" / "post-receive"
    own.write_text("#!/bin/sh\necho mine\n")
    done = hooks.install_missing(repos, tmp_path)
    assert sorted(p.parent.parent.name for p in done) == ["a.git", "b.git"]
    assert own.read_text() == "#!/bin/sh\necho mine\n"
    assert hooks.install_missing(repos, tmp_path) == []
