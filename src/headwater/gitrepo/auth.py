"""How git reaches a remote: an ssh deploy key, an https token, or nothing at all.

`GitAuth.env(url)` turns the credentials into environment variables for one git
command, never into argv, so they do not show in `ps` or in error messages:

- ssh (`ssh://`, `git+ssh://`, `user@host:path`): GIT_SSH_COMMAND with the key, only
  that key, no prompts, and host keys checked against `known_hosts` (or, without one,
  learnt on first contact into a file the caller keeps next to its working copy);
- https: an `Authorization: Basic` header (`x-access-token:<token>`, as GitHub and
  Gitea accept) set through GIT_CONFIG_COUNT/KEY/VALUE and scoped to the remote URL;
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

    def env(self, url: str, *, learned_hosts: Path | None = None) -> dict[str, str]:
        """Environment variables that let git reach `url` without prompting anyone.

        `learned_hosts` is where host keys seen for the first time are written when no
        `known_hosts` was given (StrictHostKeyChecking=accept-new).
        """
        env = {"GIT_TERMINAL_PROMPT": "0"}
        kind = transport(url)
        if kind == "ssh" and self.ssh_key is not None:
            env["GIT_SSH_COMMAND"] = self._ssh_command(learned_hosts)
        if kind == "http" and self.token:
            # A header rather than credentials in the URL: nothing lands in argv,
            # .git/config or git's messages. Scoped so no other host receives it.
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{_without_userinfo(url)}.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {self._basic()}",
            }
        return env

    def secrets(self, url: str) -> tuple[str, ...]:
        """Every string that must never be shown for `url` with these credentials."""
        mine = (self.token, self._basic()) if self.token else ()
        return (*mine, *url_secrets(url))

    def _basic(self) -> str:
        return base64.b64encode(f"x-access-token:{self.token}".encode()).decode()

    def _ssh_command(self, learned_hosts: Path | None) -> str:
        argv = ["ssh", "-i", str(self.ssh_key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes"]
        hosts = self.known_hosts or learned_hosts
        if hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={hosts}"]
        strict = "yes" if self.known_hosts is not None else "accept-new"
        argv += ["-o", f"StrictHostKeyChecking={strict}"]
        # git runs this value through /bin/sh; shlex.join quotes every path for it.
        return shlex.join(argv)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
