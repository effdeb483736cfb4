"""Which Git URLs name the same repository: what push webhooks match resources and
sources with."""

from __future__ import annotations

import pytest

from headwater.gitrepo.urls import repo_key, same_repository


@pytest.mark.parametrize(("a", "b"), [
    ("https://github.com/org/app.git", "git@github.com:org/app.git"),
    ("https://github.com/org/app", "ssh://git@github.com/org/app.git"),
    ("https://github.com/org/app/", "ssh://git@github.com:22/org/app"),
    ("https://user:pass@github.com/org/app.git", "git://github.com/org/app"),
    ("https://GitHub.com/Org/App.git", "git@github.com:org/app"),
    ("ssh://root@127.0.0.1:33529/repo-1.git", "git://127.0.0.1:42765/repo-1.git"),
    ("https://127.0.0.1:8443/repo-1.git", "ssh://root@127.0.0.1:33529/repo-1"),
    ("ssh://gitea@localhost:2222/gitea/webhooks.git", "http://localhost:3000/gitea/webhooks"),
    ("file:///srv/git/app.git", "/srv/git/app"),
    ("  https://host/a/b.git  ", "https://host/a/b"),
])
def test_the_same_repository_spelled_differently(a: str, b: str) -> None:
    assert same_repository(a, b), (repo_key(a), repo_key(b))


@pytest.mark.parametrize(("a", "b"), [
    ("https://github.com/org/app.git", "https://github.com/org/app2.git"),
    ("https://github.com/org/app.git", "https://gitlab.com/org/app.git"),
    ("git@github.com:org/app.git", "git@github.com:other/app.git"),
    ("https://host/group/sub/app", "https://host/group/app"),
    ("file:///srv/git/app.git", "https://srv/git/app.git"),
])
def test_different_repositories(a: str, b: str) -> None:
    assert not same_repository(a, b)
