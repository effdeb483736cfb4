"""A container's next image, shared by automation and `release --update-all-images`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headwater.cd.nextimage import next_image
from headwater.imagepolicy import TagInfo, Trigger, parse_pattern

T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 1, 2, tzinfo=UTC)
AUTO, RELEASE = Trigger.AUTOMATED, Trigger.RELEASE


@pytest.mark.parametrize(("image", "policy", "tags", "trigger", "expected"), [
    # Both paths: the policy's first tag, spelt as the file spells the image.
    ("nginx:1.0.0", "semver:~1.0", [TagInfo("1.0.0"), TagInfo("1.0.1")], AUTO, "nginx:1.0.1"),
    ("nginx:1.0.0", "semver:~1.0", [TagInfo("1.0.0"), TagInfo("1.0.1")], RELEASE,
     "nginx:1.0.1"),
    ("docker.io/library/nginx:1.0.0", "semver:~1.0", [TagInfo("1.0.1")], AUTO,
     "docker.io/library/nginx:1.0.1"),
    ("127.0.0.1:5000/app:1.0.0", "semver:~1.0", [TagInfo("1.0.1")], RELEASE,
     "127.0.0.1:5000/app:1.0.1"),
    # Both paths: up to date, or nothing the policy admits.
    ("app:1.0.1", "semver:~1.0", [TagInfo("1.0.0"), TagInfo("1.0.1")], AUTO, None),
    ("app:1.0.1", "semver:~1.0", [TagInfo("1.0.0"), TagInfo("1.0.1")], RELEASE, None),
    ("app:1.0.0", "semver:~2.0", [TagInfo("1.0.1")], RELEASE, None),
    # Both paths: known creation times, time-ordered policy.
    ("app:a", "glob:*", [TagInfo("a", T1), TagInfo("b", T2)], AUTO, "app:b"),
    ("app:a", "glob:*", [TagInfo("a", T1), TagInfo("b", T2)], RELEASE, "app:b"),
    # fluxd's difference: an unknown creation time stops automation, not a release.
    ("app:a", "glob:*", [TagInfo("a"), TagInfo("b", T2)], AUTO, None),
    ("app:a", "glob:*", [TagInfo("a"), TagInfo("b", T2)], RELEASE, "app:b"),
    ("app:gone", "glob:*", [TagInfo("b", T2)], AUTO, None),
    ("app:gone", "glob:*", [TagInfo("b", T2)], RELEASE, "app:b"),
    # headwater's: automation leaves an image without a tag (a digest pin) alone.
    ("app@sha256:" + "a" * 64, "semver:~1.0", [TagInfo("1.0.1")], AUTO, None),
    ("app@sha256:" + "a" * 64, "semver:~1.0", [TagInfo("1.0.1")], RELEASE, "app:1.0.1"),
])
def test_next_image_is_one_rule_with_the_release_difference_named(
        image: str, policy: str, tags: list[TagInfo], trigger: Trigger,
        expected: str | None) -> None:
    assert next_image(image, parse_pattern(policy), tags, trigger=trigger) == expected
