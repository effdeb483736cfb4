"""The local stack's webhooks: its Git server and registry tell headwater of each push.

Everything lives under `<state dir>/hooks/`:

- `secret` (0600): the stack's webhook secret, made on first use and kept. The
  post-receive hook signs with it (HMAC-SHA256, GitHub's header) and the registry
  sends it as a bearer token; `headwater server --stack` accepts it as the hook `stack`.
- `server.json` (0600): where the server listens, `{"url": ...}`, written by
  `headwater server --stack` when it starts and removed when it stops. The
  post-receive hook reads it at each push: without it (no server) the hook does nothing.

Each repository `gitserver.create_repo` makes gets a `post-receive` hook, a copy of
`posthook.py` (stdlib only, so a push does not pay for importing headwater): it forks,
the push returns at once, and the child POSTs the generic payload with a short timeout;
a missing or unreachable server never blocks or fails a push.

The registry's notifications are configured when `up` starts it (distribution reads its
config once): the endpoint is `headwater up --hook-url URL`, by default the server's
default address. Distribution queues events in memory and retries a failing endpoint
with backoff (`threshold` failures, then `backoff` between tries), so pushes made while
the server is down arrive once it is up; the queue lives as long as the registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from headwater.devstack import posthook
from headwater.devstack.pki import write_private

DEFAULT_HOOK_URL = "http://127.0.0.1:8080/api/v1/hooks/registry"
GIT_HOOK_PATH = "/api/v1/hooks/git"
REGISTRY_HOOK_PATH = "/api/v1/hooks/registry"
SYSTEM_PYTHON = "/usr/bin/python3"


def hooks_dir(state_dir: Path) -> Path:
    return state_dir / "hooks"


def ensure_secret(state_dir: Path) -> str:
    """The stack's webhook secret, made (0600, atomically) the first time."""
    path = hooks_dir(state_dir) / posthook.SECRET_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def write_target(state_dir: Path, server_url: str) -> Path:
    """Tell the stack's post-receive hooks where the server is (`server.json`)."""
    path = hooks_dir(state_dir) / posthook.TARGET_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(path, json.dumps({"url": server_url.rstrip("/") + GIT_HOOK_PATH}).encode())
    return path


def clear_target(state_dir: Path, server_url: str) -> None:
    """Remove `server.json` if it still names this server (another may have taken over)."""
    path = hooks_dir(state_dir) / posthook.TARGET_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("url") == server_url.rstrip("/") + GIT_HOOK_PATH:
            path.unlink()


def install_post_receive(repo: Path, state_dir: Path) -> Path:
    """The `post-receive` hook of the bare repository `repo`: a copy of posthook.py
    that knows `state_dir`, run by the system's Python (isolated, stdlib only)."""
    hook = repo / "hooks" / "post-receive"
    hook.parent.mkdir(exist_ok=True)
    source = Path(posthook.__file__ or "").read_text()
    marker = 'STATE_DIR = ""'
    python = SYSTEM_PYTHON if Path(SYSTEM_PYTHON).exists() else sys.executable
    hook.write_text(f"#!{python} -IS\n# headwater: tell the server of this push "
                    "(devstack/posthook.py)\n"
                    + source.replace(marker, f"STATE_DIR = {str(state_dir)!r}", 1))
    hook.chmod(0o755)
    return hook


def install_missing(repos: Path, state_dir: Path) -> list[Path]:
    """Give the post-receive hook to each bare repository under `repos` without one
    (made by hand with `git init --bare`); a hook of the user's own is left alone."""
    done = []
    for config in sorted(repos.glob("**/config")):
        repo = config.parent
        if (repo / "HEAD").is_file() and (repo / "objects").is_dir() and \
                not (repo / "hooks" / "post-receive").exists():
            done.append(install_post_receive(repo, state_dir))
    return done


def registry_notifications(url: str, secret: str) -> dict[str, Any]:
    """distribution's `notifications:` section: manifest pushes to `url`, with the secret
    as a bearer token, retried with backoff while headwater is not listening."""
    return {"events": {"includereferences": True}, "endpoints": [{
        "name": "headwater", "url": url, "headers": {"Authorization": [f"Bearer {secret}"]},
        "timeout": "2s", "threshold": 3, "backoff": "2s",
        "ignore": {"mediatypes": ["application/octet-stream"], "actions": ["pull"]},
    }]}
