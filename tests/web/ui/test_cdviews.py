"""The CD page's pure parts: the newer tags of a container, the line after a form."""

from __future__ import annotations

import pytest

from headwater.cd.verbs import ContainerImages
from headwater.imagepolicy import TagInfo
from headwater.web.ui.cdroutes import done_message
from headwater.web.ui.cdviews import Newer, newer_tags

REPO = "127.0.0.1:5000/app"


def images(current: str | None, tags: list[str], image: str = "") -> ContainerImages:
    return ContainerImages("default:deployment/app", "app", image or f"{REPO}:{current}",
                           "semver:~1", current, tuple(TagInfo(t) for t in tags))


@pytest.mark.parametrize(("current", "ranked", "limit", "newer", "more"), [
    ("1.0.2", ["1.0.4", "1.0.3", "1.0.2", "1.0.1"], 5, ["1.0.4", "1.0.3"], 0),
    ("1.0.4", ["1.0.4", "1.0.3"], 5, [], 0),  # up to date
    ("0.9", ["1.0.1", "1.0.0"], 5, ["1.0.1", "1.0.0"], 0),  # current not allowed: all
    ("1.0.0", ["1.0.3", "1.0.2", "1.0.1", "1.0.0"], 2, ["1.0.3", "1.0.2"], 1),
    (None, [], 5, [], 0),
])
def test_newer_tags_are_those_ranked_above_the_current_one(
        current: str | None, ranked: list[str], limit: int, newer: list[str],
        more: int) -> None:
    shown, rest = newer_tags(images(current, ranked, "" if current else REPO), limit)
    assert shown == tuple(Newer(t, f"{REPO}:{t}") for t in newer)
    assert rest == more


def test_a_newer_tag_of_a_docker_hub_image_is_spelt_as_the_file_spells_it() -> None:
    shown, _ = newer_tags(images("1.25", ["1.26", "1.25"], "nginx:1.25"))
    assert shown == (Newer("1.26", "nginx:1.26"),)


@pytest.mark.parametrize(("action", "source", "commit", "shown"), [
    ("lock", "app", "a" * 40, "Locked: commit aaaaaaaaaaaa pushed to app; a sync is on its way."),
    ("release", "app", "none", "Released: nothing to change in app."),
    ("lock", "app", "<script>", ""),  # not a sha: nothing echoed
    ("lock", "Evil Site", "a" * 40, ""),  # not a source name
    ("phish", "app", "a" * 40, ""),
    (None, None, None, ""),
])
def test_the_line_after_a_form_echoes_only_known_words_and_a_sha(
        action: str | None, source: str | None, commit: str | None, shown: str) -> None:
    assert done_message(action, source, commit) == shown
