"""Automation's commit messages: Flux's, or the user's template; the marker line; [ci skip] last."""

from __future__ import annotations

import pytest

from headwater.cd.automation import AUTOMATION_TRAILER, ImagePolicy, SetterRelease, commit_message
from headwater.cd.source import Source, SourceError


def _releases(*images: str) -> list[SetterRelease]:
    policy = ImagePolicy("flux-system:app", "127.0.0.1:5000/app", "semver:~1.0")
    return [SetterRelease("app.yaml", policy, i) for i in images]


def test_one_image_is_flux_s_auto_release_message() -> None:
    assert commit_message(_releases("r/app:1.0.1"), ci_skip=False) == (
        f"Auto-release r/app:1.0.1\n\n{AUTOMATION_TRAILER}\n")


def test_several_images_are_listed_and_ci_skip_follows_a_blank_line() -> None:
    assert commit_message(_releases("r/b:2", "r/a:1", "r/b:2"), ci_skip=True) == (
        "Auto-release multiple (2) images\n\n - r/a:1\n - r/b:2\n\n"
        f"{AUTOMATION_TRAILER}\n\n[ci skip]\n")
    assert commit_message(_releases("r/a:1"), ci_skip=True,
                          ci_skip_message="[skip ci]") == ("Auto-release r/a:1\n\n"
                                                           f"{AUTOMATION_TRAILER}\n\n"
                                                           "[skip ci]\n")


def test_a_template_names_image_images_and_count() -> None:
    message = commit_message(_releases("r/a:1", "r/b:2"), ci_skip=False,
                             template="chore: release {count}: {image}\n\n{images}")
    assert message == f"chore: release 2: r/a:1\n\nr/a:1\nr/b:2\n\n{AUTOMATION_TRAILER}\n"


def test_a_template_with_an_unknown_field_is_refused_naming_it() -> None:
    with pytest.raises(SourceError, match=r"git-release-template: .*'tag'"):
        Source(git_url="file:///x", git_release_template="release {tag}")
