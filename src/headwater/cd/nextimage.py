"""A container's next image: the one rule automation and `release --update-all-images` share.

fluxd keeps two copies of it (daemon/images.go `calculateChanges` for automated
workloads, update/release_image.go `calculateImageUpdates` for `fluxctl release`); they
rank tags alike and differ in one check, which `imagepolicy.decide` names with its
`trigger`: a release does not refuse a time-ordered policy's tag whose creation time is
unknown. `next_image` is that decision for one container, plus what headwater adds the
same way for both: an image without a tag (a digest pin) is left alone by automation
only, as before, and the new image is spelt as the file spells the old one.
"""

from __future__ import annotations

from collections.abc import Sequence

from headwater.imagepolicy import Pattern, TagInfo, Trigger, decide
from headwater.registry import Reference, parse

__all__ = ["Trigger", "next_image", "spelt"]


def spelt(current: str, new: Reference) -> str:
    """`new` spelt as the file spells the image: `nginx:1.0` stays short."""
    short = new.registry == "docker.io" and not current.startswith("docker.io/")
    return new.familiar() if short else str(new)


def next_image(image: str, pattern: Pattern, tags: Sequence[TagInfo], *,
               trigger: Trigger) -> str | None:
    """The image to write for a container now on `image` (None: leave it), given the
    usable `tags` of its repository. Raises InvalidReference for a bad `image` and
    UnsupportedPatternError for a policy headwater cannot evaluate."""
    ref = parse(image)
    if ref.tag is None and trigger is Trigger.AUTOMATED:
        return None
    decision = decide(pattern, tags, ref.tag or "", trigger=trigger)
    if not decision.update or decision.latest is None:
        return None
    return spelt(image, ref.with_tag(decision.latest.tag))
