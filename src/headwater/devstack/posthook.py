"""The local stack's `post-receive` hook: POST each pushed ref to headwater, signed.

Each repository gets a copy of this file as its hook, with `STATE_DIR` filled in
(`hooks.install_post_receive`), run by the system's Python with `-IS`: the standard
library only, no import of headwater, and nothing that breaks when the checkout or
virtualenv that created the repository goes away. Git runs it in the bare repository. It reads the
refs git gives on stdin, then forks: the parent returns at once, so the push never
waits, and the child, detached from git's pipes, POSTs to the URL in
`STATE_DIR/hooks/server.json` one generic payload per ref,
`{"url", "urls", "ref", "before", "after"}`, with every URL the stack serves the
repository at (git://, ssh://, https://, from stack.json), signed with
`STATE_DIR/hooks/secret` in `X-Hub-Signature-256`. No server file, no secret, an
unreachable server, a timeout (2 s): the child gives up quietly and appends one line
to `STATE_DIR/logs/post-receive.log` (never the secret). The hook always exits 0.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import urllib.request
from pathlib import Path

STATE_DIR = ""  # the stack's state directory: set in each installed copy
TARGET_FILE = "server.json"
SECRET_FILE = "secret"  # noqa: S105 (a file name)
TIMEOUT = 2.0
MAX_REFS = 64


def repo_urls(state_dir: Path, repo: Path) -> list[str]:
    """The URLs the stack serves `repo` at (stack.json's ports), git:// first."""
    stack = json.loads((state_dir / "stack.json").read_text())
    ports, user = stack.get("ports", {}), stack.get("user", "root")
    name = repo.resolve().relative_to((state_dir / "git" / "repos").resolve()).as_posix()
    urls = []
    if "git" in ports:
        urls.append(f"git://127.0.0.1:{ports['git']}/{name}")
    if "ssh" in ports:
        urls.append(f"ssh://{user}@127.0.0.1:{ports['ssh']}/{name}")
    if "git-http" in ports:
        urls.append(f"https://127.0.0.1:{ports['git-http']}/{name}")
    return urls


def payloads(urls: list[str], lines: list[str]) -> list[bytes]:
    """One generic payload per `old new ref` line of git's stdin."""
    out = []
    for line in lines[:MAX_REFS]:
        parts = line.split()
        if len(parts) != 3:
            continue
        before, after, ref = parts
        out.append(json.dumps({"url": urls[0], "urls": urls, "ref": ref, "before": before,
                               "after": after}).encode())
    return out


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(state_dir: Path, repo: Path, lines: list[str]) -> None:
    hooks = state_dir / "hooks"
    try:
        url = json.loads((hooks / TARGET_FILE).read_text())["url"]
        secret = (hooks / SECRET_FILE).read_text().strip()
    except (OSError, ValueError, KeyError, TypeError):
        return  # no server started with --stack: nothing to tell
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return
    try:
        bodies = payloads(repo_urls(state_dir, repo), lines)
    except (OSError, ValueError):
        return
    for body in bodies:
        request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body),
            "User-Agent": "headwater-post-receive"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                answer.read(65536)
        except OSError as e:
            _note(state_dir, f"post-receive: {repo.name}: {url}: {type(e).__name__}: "
                  f"{getattr(e, 'reason', None) or getattr(e, 'code', '') or e}")


def _note(state_dir: Path, line: str) -> None:
    try:
        with (state_dir / "logs" / "post-receive.log").open("a") as f:
            f.write(line.replace("\n", " ") + "\n")
    except OSError:
        pass


def main(argv: list[str]) -> int:
    given = argv[1] if len(argv) > 1 else STATE_DIR
    if not given:
        return 0
    state_dir, repo = Path(given), Path.cwd()
    lines = sys.stdin.read(1 << 16).splitlines()
    if not (state_dir / "hooks" / TARGET_FILE).exists():
        return 0  # no server started with --stack: nothing to tell, no child
    if os.fork():
        return 0  # the push goes on; the child tells the server
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # git waits for its pipes to close, not for us
    try:
        send(state_dir, repo, lines)
    finally:
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
