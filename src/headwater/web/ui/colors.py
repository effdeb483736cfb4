"""The status colours of the UI (Concourse's), and the contrast rule they must pass.

Each status has a background and the text colour drawn on it; `contrast` is WCAG 2's
contrast ratio, and a test holds every pair to 4.5:1 (AA for normal text). The CSS
reads the same table (`ui.css` is checked against it by a test), so there is one copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    background: str  # "#rrggbb"
    text: str


# Concourse's palette: green succeeded, red failed, orange errored, brown aborted,
# yellow running (started), blue paused, grey pending or no build yet. Darkened or
# lightened where needed so the text on them reads at 4.5:1.
STATUS: dict[str, Colour] = {
    "succeeded": Colour("#11c560", "#000000"),
    "failed": Colour("#b51f1f", "#ffffff"),
    "errored": Colour("#f5a623", "#000000"),
    "aborted": Colour("#8b572a", "#ffffff"),
    "started": Colour("#f8d81c", "#000000"),
    "pending": Colour("#9b9b9b", "#000000"),
    "paused": Colour("#2f6fc4", "#ffffff"),
    "none": Colour("#4a4a4a", "#ffffff"),
}


# A CD source's state (`cd.reasons`) shown in the same colours: Ready as a success,
# Failed as a failure, Stalled (a user error, waits for a new commit) as errored.
CD_STATE: dict[str | None, str] = {"Ready": "succeeded", "Failed": "failed",
                                   "Stalled": "errored", None: "pending"}


def status_key(status: str | None, *, paused: bool = False) -> str:
    """The key of `STATUS` a job or build shows: paused wins, no build is "none"."""
    if paused:
        return "paused"
    return status if status in STATUS else "none"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance of "#rrggbb"."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, from 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
