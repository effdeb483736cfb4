"""The stack's HTTPS Git endpoint: the Git server's repositories over TLS, with credentials.

`git http-backend` behind a small aiohttp process (`githttpd.py`) rather than nginx +
fcgiwrap: one more Debian daemon pair, a socket between them and auth rules in nginx's
config language would buy nothing over a hundred lines of Python that the stack starts
and stops like every other component, under one pid, with the password compared in
constant time and never written to a log line.

What `prepare` makes, under `git/http/` of the stack (secrets 0600, kept across `up`s
so a URL and credentials handed out once keep working): a password for the user
`headwater`, a token, a certificate for 127.0.0.1 and localhost issued by the stack's
CA (`pki/ca.crt`, the one the Kubernetes API uses), and the server's config. Every
request needs credentials, clone included; see githttpd.py for what is accepted.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from headwater.devstack import probe, process
from headwater.devstack.layout import Layout
from headwater.devstack.pki import CA, write_private
from headwater.gitrepo.auth import GitAuth

USERNAME = "headwater"
NAME = "git-http"  # the component's name: run/git-http.pid, logs/git-http.log


@dataclass(frozen=True)
class GitHttp:
    port: int
    repos: Path
    ca_file: Path
    home: Path
    username: str = USERNAME
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)

    def url(self, repo: str) -> str:
        return f"https://127.0.0.1:{self.port}/{repo}"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def token_file(self) -> Path:
        return self.home / "token"

    @property
    def log_file(self) -> Path:
        return Layout(self.home.parents[1]).logs / f"{NAME}.log"

    def basic_auth(self) -> GitAuth:
        """The user and password, trusting the stack's CA."""
        return GitAuth(username=self.username, password=self.password, ca_file=self.ca_file)

    def token_auth(self) -> GitAuth:
        """The token (sent as `x-access-token:<token>`), trusting the stack's CA."""
        return GitAuth(token=self.token, ca_file=self.ca_file)


def _secret(path: Path) -> str:
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24).encode())
    return path.read_text().strip()


def load(layout: Layout, *, port: int, repos: Path) -> GitHttp:
    """The endpoint `prepare` set up in `layout` (credentials read from their files)."""
    home = layout.sub("git", "http")
    return GitHttp(port=port, repos=repos, ca_file=layout.pki / "ca.crt", home=home,
                   password=(home / "password").read_text().strip(),
                   token=(home / "token").read_text().strip())


def prepare(layout: Layout, *, port: int, repos: Path) -> GitHttp:
    home = layout.sub("git", "http")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    _secret(home / "password")
    _secret(home / "token")
    cert, key = CA(layout.pki).issue(NAME, cn="127.0.0.1", server=True,
                                     hosts=("127.0.0.1", "localhost"))
    config = {"port": port, "repos": str(repos), "cert": str(cert), "key": str(key),
              "username": USERNAME, "password_file": str(home / "password"),
              "token_file": str(home / "token")}
    write_private(home / "config.json", json.dumps(config, indent=2).encode())
    return load(layout, port=port, repos=repos)


def healthy(server: GitHttp) -> bool:
    """Answering over TLS with the stack's certificate, and asking for credentials."""
    return probe.status(server.url(""), ca=server.ca_file) == 401


def start(layout: Layout, server: GitHttp) -> process.Proc:
    proc = process.start(NAME, [sys.executable, "-m", "headwater.devstack.githttpd",
                                str(server.home / "config.json")], layout=layout)
    process.wait_until(proc, lambda: healthy(server), what="answering over TLS", timeout=20)
    return proc
