"""Whether two Git URLs name the same repository, as a push webhook needs to decide.

A forge announces a push with its repository's URLs (GitHub's `clone_url`, `ssh_url`,
`git_url`, `html_url`; GitLab's `git_http_url`, `git_ssh_url`; ...) and a pipeline or
a CD source names the repository its own way: `https://host/org/app.git`,
`git@host:org/app`, `ssh://git@host:2222/org/app/`. `repo_key` reduces each to
`host/path`: no scheme, no user or password, no port, no `.git` suffix, no trailing
slash, lower case. Ports are dropped because one repository is served on several
(ssh on 22 or 2222, https on 443, git:// on 9418, the local stack's on free ports);
two different servers on one host with the same path then look alike, and a hook
checks both, which costs a check, never a wrong version. Local paths and `file://`
URLs keep their path, with an empty host.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def repo_key(url: str) -> str:
    """`host/path` of a Git URL (scheme URL, scp-like `user@host:path`, local path)."""
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        host = (parts.hostname or "") if parts.scheme.lower() != "file" else ""
        path = parts.path
    else:
        head, colon, rest = text.partition(":")
        if colon and "/" not in head and not head.startswith("["):
            host, path = head.rpartition("@")[2], rest  # scp-like ssh
        else:
            host, path = "", text
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    return f"{host}/{path}".lower()


def same_repository(a: str, b: str) -> bool:
    return repo_key(a) == repo_key(b)


def any_same(url: str, keys: frozenset[str]) -> bool:
    """Whether `url` names one of the repositories whose `repo_key`s are `keys`."""
    return bool(url) and repo_key(url) in keys
