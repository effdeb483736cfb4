"""When a timer of the controller's loop syncs: `due`, a pure decision, as a table."""

from __future__ import annotations

from typing import Literal

import pytest

from headwater.cd.controller import due

Timer = Literal["poll", "interval"]


@pytest.mark.parametrize(("timer", "revision", "before", "synced", "stalled", "syncs"), [
    # A poll syncs a revision that moved, or one not yet synced well.
    ("poll", "B", "A", "A", "", True),
    ("poll", "A", "A", "", "", True),
    ("poll", "A", "A", "A", "", False),   # nothing new: the interval corrects drift
    # The interval syncs again whatever was checked out (drift, passing failures).
    ("interval", "A", "A", "A", "", True),
    ("interval", "B", "B", "A", "", True),
    # A revision that failed with a user error is synced by neither timer...
    ("poll", "B", "B", "A", "B", False),
    ("interval", "B", "B", "A", "B", False),
    ("poll", "B", "A", "A", "B", False),  # even fetched anew (the request's sync stalled it)
    # ...until a new revision arrives.
    ("poll", "C", "B", "A", "B", True),
    ("interval", "C", "C", "A", "B", True),
])
def test_a_timer_syncs_unless_the_revision_is_stalled(  # noqa: PLR0917 (a table row)
    timer: Timer, revision: str, before: str, synced: str, stalled: str, syncs: bool
) -> None:
    assert due(timer, revision=revision, before=before, synced=synced, stalled=stalled) is syncs
