"""How git reaches a remote: an ssh deploy key, an https token, or nothing at all.

`GitAuth.env(url)` turns the credentials into environment variables for one git
command, never into argv, so they do not show in `ps` or in error messages:

- ssh (`ssh://`, `git+ssh://`, `user@host:path`): GIT_SSH_COMMAND with the key, only
  that key, no prompts, and host keys checked against `known_hosts` (or, without one,
  learnt on first contact into a file the caller keeps next to its working copy);
- https: an `Authorization: Basic` header (`x-access-token:<token>`, as GitHub and
  Gitea accept, or `username:password` as Concourse's git-resource takes them) set
  through GIT_CONFIG_COUNT/KEY/VALUE and scoped to the remote URL, with the CA bundle
  to trust (`ca_file`) or, when asked, no TLS verification at all;
- git://, file:// and plain paths need nothing.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from headwater.gitrepo.errors import url_secrets

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def transport(url: str) -> str:
    """"ssh", "http", "git" or "file": how git will reach `url` (as git decides it)."""
    if m := _SCHEME.match(url):
        scheme = m.group(1).lower()
        if scheme in ("ssh", "git+ssh", "ssh+git"):
            return "ssh"
        if scheme in ("http", "https"):
            return "http"
        return "git" if scheme == "git" else "file"
    # scp-like syntax: a colon before the first slash ("git@host:org/repo.git").
    head, colon, _ = url.partition(":")
    return "ssh" if colon and "/" not in head else "file"


@dataclass(frozen=True)
class GitAuth:
    """Credentials for one remote: an ssh key (with its known_hosts) or an https token."""

    ssh_key: Path | None = None
    known_hosts: Path | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    skip_tls_verify: bool = False

    def env(self, url: str, *, learned_hosts: Path | None = None) -> dict[str, str]:
        """Environment variables that let git reach `url` without prompting anyone.

        `learned_hosts` is where host keys seen for the first time are written when no
        `known_hosts` was given (StrictHostKeyChecking=accept-new).
        """
        env = {"GIT_TERMINAL_PROMPT": "0"}
        kind = transport(url)
        if kind == "ssh" and self.ssh_key is not None:
            env["GIT_SSH_COMMAND"] = self._ssh_command(learned_hosts)
        if kind == "http":
            env |= _config_env(self._http_config(url))
            if self.ca_file is not None:
                # git lets GIT_SSL_CAINFO, when inherited (many CI images set it to the
                # system bundle), win over any http.sslCAInfo: override it too.
                env["GIT_SSL_CAINFO"] = str(self.ca_file)
        return env

    def secrets(self, url: str) -> tuple[str, ...]:
        """Every string that must never be shown for `url` with these credentials."""
        basic = self._basic()
        mine = tuple(s for s in (self.token, self.password, basic) if s)
        return (*mine, *url_secrets(url))

    def _http_config(self, url: str) -> list[tuple[str, str]]:
        # A header rather than credentials in the URL: nothing lands in argv,
        # .git/config or git's messages. Scoped so no other host receives it.
        scope = f"http.{_without_userinfo(url)}"
        config: list[tuple[str, str]] = []
        if basic := self._basic():
            config.append((f"{scope}.extraHeader", f"Authorization: Basic {basic}"))
        if self.ca_file is not None:
            config.append((f"{scope}.sslCAInfo", str(self.ca_file)))
        if self.skip_tls_verify:
            config.append((f"{scope}.sslVerify", "false"))
        return config

    def _basic(self) -> str | None:
        if self.token:
            pair = f"x-access-token:{self.token}"
        elif self.username is not None or self.password is not None:
            pair = f"{self.username or ''}:{self.password or ''}"
        else:
            return None
        return base64.b64encode(pair.encode()).decode()

    def _ssh_command(self, learned_hosts: Path | None) -> str:
        argv = ["ssh", "-i", str(self.ssh_key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes"]
        hosts = self.known_hosts or learned_hosts
        if hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={hosts}"]
        strict = "yes" if self.known_hosts is not None else "accept-new"
        # LogLevel=ERROR: ssh's "Permanently added ... to the list of known hosts" (and
        # other warnings) would open every error message; its errors still come through.
        argv += ["-o", f"StrictHostKeyChecking={strict}", "-o", "LogLevel=ERROR"]
        # git runs this value through /bin/sh; shlex.join quotes every path for it.
        return shlex.join(argv)


def _config_env(config: list[tuple[str, str]]) -> dict[str, str]:
    """git configuration passed through the environment (git >= 2.31), never argv."""
    if not config:
        return {}
    env = {"GIT_CONFIG_COUNT": str(len(config))}
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
