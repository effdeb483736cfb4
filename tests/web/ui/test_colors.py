"""The status colours are Concourse's, read at 4.5:1 (WCAG AA), and the CSS has them."""

from __future__ import annotations

from importlib import resources

import pytest

from headwater.web.ui.colors import STATUS, contrast, status_key


@pytest.mark.parametrize(("a", "b", "ratio"), [
    ("#000000", "#ffffff", 21.0), ("#ffffff", "#ffffff", 1.0), ("#777777", "#ffffff", 4.48),
])
def test_contrast_is_wcags_ratio(a: str, b: str, ratio: float) -> None:
    assert contrast(a, b) == pytest.approx(ratio, abs=0.01)


@pytest.mark.parametrize("status", sorted(STATUS))
def test_every_status_colour_reads_at_4_5_to_1(status: str) -> None:
    colour = STATUS[status]
    assert contrast(colour.background, colour.text) >= 4.5


@pytest.mark.parametrize(("status", "paused", "key"), [
    ("succeeded", False, "succeeded"), ("failed", True, "paused"), (None, False, "none"),
    ("weird", False, "none"),
])
def test_status_key(status: str | None, paused: bool, key: str) -> None:
    assert status_key(status, paused=paused) == key


def test_the_stylesheet_uses_the_same_colours() -> None:
    css = resources.files("headwater.web.ui").joinpath("static/ui.css").read_text()
    for name, colour in STATUS.items():
        rule = f".st-{name} {{ background: {colour.background}; color: {colour.text}; }}"
        assert rule in css, rule
