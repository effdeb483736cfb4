"""Pure parts of the pages: the step tree from a plan and progress events (names only,
never params), and the last check error in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from headwater.ci.plan import PLAN, Do, Get, InParallel, OnFailure, Put, Task, Timeout
from headwater.store import Event
from headwater.web.ui.steps import flatten, step_tree
from headwater.web.ui.views import explain_check_error

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _event(seq: int, kind: str, **data: Any) -> Event:
    return Event(seq=seq, type=kind, payload=data, time=NOW)


PLAN_NODE = OnFailure(id="1", step=Do(id="2", steps=[
    InParallel(id="3", steps=[Get(id="4", name="repo", resource="repo", type="git",
                                  source={"private_key": "SECRET-KEY"})]),
    Timeout(id="5", seconds=300, step=Task(id="6", name="unit",
                                           params={"TOKEN": "SECRET-TOKEN"})),
    Put(id="7", name="image", resource="image", type="registry-image")]),
    hook=Task(id="8", name="notify"))


def test_the_step_tree_names_steps_and_carries_their_progress() -> None:
    events = [
        _event(1, "initialize-get", origin={"id": "4"}, time=10.0),
        _event(2, "start-get", origin={"id": "4"}, time=11.0),
        _event(3, "finish-get", origin={"id": "4"}, exit_status=0, version={"ref": "abc"},
               time=13.5),
        _event(4, "start-task", origin={"id": "6"}, time=14.0),
        _event(5, "finish-task", origin={"id": "6"}, exit_status=1, time=20.0),
        _event(6, "error", origin={"id": "8"}, message="boom", time=21.0),
    ]
    root = step_tree(PLAN.dump_json(PLAN_NODE).decode(), events)
    assert root is not None
    rows = [(v.id, v.label, v.leaf, v.state, v.duration, v.version) for v in flatten(root)]
    assert rows == [
        ("1", "on_failure", False, "pending", None, None),
        ("2", "do", False, "pending", None, None),
        ("3", "in_parallel", False, "pending", None, None),
        ("4", "get: repo", True, "succeeded", 2.5, {"ref": "abc"}),
        ("5", "timeout 300s", False, "pending", None, None),
        ("6", "task: unit", True, "failed", 6.0, None),
        ("7", "put: image", True, "pending", None, None),
        ("8", "on_failure: task: notify", True, "errored", None, None),
    ]
    assert "SECRET" not in repr(root)


def test_no_plan_yet_is_no_tree() -> None:
    assert step_tree(None, []) is None


@pytest.mark.parametrize(("error", "summary"), [
    ("headwater error: KeyError: 'x'", "headwater itself failed"),
    ("check timed out after 1h", "took too long"),
    ("fatal: Authentication failed for 'https://example.com/r.git'", "refused the credentials"),
    ("ssh: Could not resolve hostname example.invalid", "could not be reached"),
    ("unknown resource type 'mock'", "type is not known"),
    ("exit status 1: something odd", "check script failed"),
])
def test_a_check_error_is_explained_in_plain_words(error: str, summary: str) -> None:
    explained = explain_check_error(error)
    assert summary in explained.summary
    assert explained.detail == error
    assert explained.advice
