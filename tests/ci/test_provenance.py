"""Image provenance's decisions as tables: which put version is an image, which `get`
is a build's commit, the commit's time and subject from git-resource's metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from headwater.ci.provenance import (
    commit_input,
    commit_time,
    event_time,
    plan_gets,
    produced,
    same_repository,
    subject,
    wanted,
)

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@pytest.mark.parametrize(("image", "repository", "same"), [
    ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/app", True),
    ("127.0.0.1:5000/app@" + DIGEST, "127.0.0.1:5000/app", True),
    ("busybox:1", "docker.io/library/busybox", True),      # Docker Hub's spellings
    ("127.0.0.1:5000/app:1.0", "127.0.0.1:5000/other", False),
    ("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/app", False),
])
def test_the_resource_repository_is_the_image_repository(image: str, repository: str,
                                                         same: bool) -> None:
    ref = wanted(image)
    assert ref is not None
    assert same_repository(ref, {"repository": repository}) is same


@pytest.mark.parametrize("image", ["127.0.0.1:5000/app", "not an image!", ""])
def test_an_image_without_tag_or_digest_or_invalid_is_not_looked_for(image: str) -> None:
    assert wanted(image) is None


TAGS = [{"name": "repository", "value": "r"}, {"name": "tags", "value": "1.0.2 latest"}]


@pytest.mark.parametrize(("image", "version", "metadata", "match"), [
    # docker-image: {"digest"}, the tags in the put's metadata
    ("r:1.0.2", {"digest": DIGEST}, TAGS, True),
    ("r:latest", {"digest": DIGEST}, TAGS, True),
    ("r:1.0.3", {"digest": DIGEST}, TAGS, False),
    ("r:1.0.2", {"digest": DIGEST}, [], False),            # a check's version: no tags
    # registry-image: {"tag", "digest"}
    ("r:2.0", {"tag": "2.0", "digest": DIGEST}, [], True),
    ("r:2.1", {"tag": "2.0", "digest": DIGEST}, [], False),
    # by digest, whatever the tags
    ("r@" + DIGEST, {"digest": DIGEST}, [], True),
    ("r@" + DIGEST, {"tag": "2.0", "digest": OTHER}, TAGS, False),
])
def test_a_put_version_produced_the_image_by_tag_or_digest(
        image: str, version: dict[str, str], metadata: list[dict[str, str]],
        match: bool) -> None:
    ref = wanted(f"127.0.0.1:5000/{image}")
    assert ref is not None
    assert produced(ref, version, metadata) is match


PLAN: list[dict[str, Any]] = [
    {"get": "version", "params": {"bump": "patch"}},
    {"in_parallel": [{"get": "tools"}, {"get": "src", "resource": "app-git",
                                        "trigger": True}]},
    {"do": [{"get": "docs", "resource": "docs-git"}]},
    {"put": "image", "params": {"build": "src"}},
]
TYPES = {"version": "semver", "tools": "git", "app-git": "git", "docs-git": "git",
         "image": "docker-image"}


def test_plan_gets_walks_nested_steps_in_order() -> None:
    assert plan_gets(PLAN) == [("version", "version", False), ("tools", "tools", False),
                               ("src", "app-git", True), ("docs", "docs-git", False)]


@pytest.mark.parametrize(("inputs", "chosen"), [
    (["version", "tools", "src", "docs"], "src"),     # the triggering git get
    (["version", "tools", "docs"], "tools"),          # none triggers: the first git get
    (["version"], None),                              # no git input
    ([], None),
])
def test_the_commit_is_the_triggering_git_input_else_the_first(inputs: list[str],
                                                               chosen: str | None) -> None:
    assert commit_input(plan_gets(PLAN), inputs, TYPES) == chosen


def _meta(**fields: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in fields.items()]


@pytest.mark.parametrize(("metadata", "when"), [
    (_meta(committer_date="2026-01-02 03:04:05 +0100", author_date="2025-01-01 00:00:00 +0000"),
     datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)),
    (_meta(author_date="2026-01-02 03:04:05 +0000"), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (_meta(committer_date="yesterday", author_date="2026-01-02 03:04:05 +0000"),
     datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ([], None),
])
def test_the_commit_time_is_git_resources_committer_date_else_author_date(
        metadata: list[dict[str, str]], when: datetime | None) -> None:
    assert commit_time(metadata) == when


@pytest.mark.parametrize(("message", "first"), [
    ("a second page\n\nwith a body", "a second page"), ("  one line  ", "one line"),
    ("", ""),
])
def test_the_subject_is_the_first_line_of_the_message(message: str, first: str) -> None:
    assert subject(_meta(message=message)) == first
    assert subject([]) == ""


STORED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("payload", "when"), [
    ({"time": 1767225605.5}, datetime(2026, 1, 1, 0, 0, 5, 500000, tzinfo=UTC)),
    ({}, STORED), ({"time": "soon"}, STORED), ({"time": True}, STORED),
])
def test_an_events_time_is_its_time_field_else_when_stored(payload: dict[str, Any],
                                                           when: datetime) -> None:
    assert event_time(payload, STORED) == when
