"""Which resources and CD sources a push concerns: pure decisions, table tests."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.cd.source import Source
from headwater.cd.triggers import source_matches
from headwater.ci.triggers import git_source_matches, image_name, image_source_matches
from headwater.gitrepo.urls import repo_key

PUSHED = frozenset(repo_key(u) for u in ("https://github.com/org/app.git",
                                         "git@github.com:org/app.git"))


@pytest.mark.parametrize(("source", "branch", "tag", "wanted"), [
    ({"uri": "https://github.com/org/app", "branch": "main"}, "main", None, True),
    ({"uri": "ssh://git@github.com:22/org/app.git", "branch": "main"}, "main", None, True),
    ({"uri": "https://github.com/org/app", "branch": "dev"}, "main", None, False),
    ({"uri": "https://github.com/org/app"}, "main", None, True),  # the remote's default
    ({"uri": "https://github.com/org/other", "branch": "main"}, "main", None, False),
    ({"branch": "main"}, "main", None, False),
    ({"uri": "https://github.com/org/app", "tag_filter": "v*"}, None, "v1", True),
    ({"uri": "https://github.com/org/app", "branch": "main"}, None, "v1", False),
])
def test_a_git_resource_follows_the_pushed_repository_and_branch(
        source: dict[str, Any], branch: str | None, tag: str | None, wanted: bool) -> None:
    assert git_source_matches(source, PUSHED, branch=branch, tag=tag) is wanted


@pytest.mark.parametrize(("source", "image", "wanted"), [
    ({"repository": "127.0.0.1:5000/app"}, "127.0.0.1:5000/app", True),
    ({"repository": "127.0.0.1:5000/app", "tag": "latest"}, "127.0.0.1:5000/app", True),
    ({"repository": "127.0.0.1:5000/app"}, "127.0.0.1:5000/app2", False),
    ({"repository": "busybox"}, "docker.io/library/busybox", True),
    ({"repository": "127.0.0.1:5001/app"}, "127.0.0.1:5000/app", False),
    ({}, "127.0.0.1:5000/app", False),
])
def test_an_image_resource_follows_the_pushed_repository(
        source: dict[str, Any], image: str, wanted: bool) -> None:
    assert image_source_matches(source, image_name(image) or "") is wanted


@pytest.mark.parametrize(("url", "branch", "pushed", "wanted"), [
    ("ssh://git@github.com/org/app", "main", "main", True),
    ("ssh://git@github.com/org/app", "main", "dev", False),
    ("ssh://git@github.com/org/app", "main", None, False),  # a tag push
    ("ssh://git@github.com/org/other", "main", "main", False),
])
def test_a_cd_source_follows_the_pushed_repository_and_branch(
        url: str, branch: str, pushed: str | None, wanted: bool) -> None:
    source = Source(git_url=url, git_branch=branch)
    assert source_matches(source, PUSHED, pushed) is wanted
