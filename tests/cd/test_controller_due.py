"""When a timer of the controller's loop syncs (`due`), and when a request is answered
by the last sync (`already_synced`): pure decisions, as tables."""

from __future__ import annotations

from typing import Literal

import pytest

from headwater.cd.controller import already_synced, due

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


@pytest.mark.parametrize(("revisions", "synced", "scan", "skipped"), [
    (["B"], "B", False, True),        # the hook of the release commit synced just now
    (["B", "B"], "B", False, True),   # two hooks of it, joined
    (["C"], "B", False, False),       # a new commit
    (["B", "C"], "B", False, False),  # joined with a new one
    ([""], "B", False, False),        # no revision named (`headwater sync`, a bare hook)
    (["B", ""], "B", False, False),
    (["B"], "", False, False),        # nothing synced yet (or the last sync failed)
    ([], "B", False, False),
    (["B"], "B", True, False),        # a scan is asked: image automation runs anyway
])
def test_a_request_for_the_revision_synced_last_is_answered_by_that_sync(
    revisions: list[str], synced: str, scan: bool, skipped: bool
) -> None:
    assert already_synced(revisions, synced=synced, scan=scan) is skipped
