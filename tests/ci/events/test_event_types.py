"""Build events are one class per kind, read back from their JSON as the same class.

The JSON is Concourse's (`atc/event/events.go`) and what the store and the SSE route
already hold; `watch` parses it with these classes, so the module stays light.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from headwater.buildstatus import BuildStatus
from headwater.ci import eventtypes as ev

STEP = ev.Origin("task")

# (event, its JSON data exactly as stored and sent)
CASES: list[tuple[ev.BuildEvent, str, dict[str, object]]] = [
    (ev.Log(origin=ev.Origin("task", "stderr"), payload="hi\n", time=1.5), "log",
     {"origin": {"id": "task", "source": "stderr"}, "payload": "hi\n", "time": 1.5}),
    (ev.InitializeTask(origin=STEP), "initialize-task", {"origin": {"id": "task"}}),
    (ev.StartTask(origin=STEP), "start-task", {"origin": {"id": "task"}}),
    (ev.FinishTask(origin=STEP, exit_status=3), "finish-task",
     {"origin": {"id": "task"}, "exit_status": 3}),
    (ev.InitializeGet(origin=STEP), "initialize-get", {"origin": {"id": "task"}}),
    (ev.StartGet(origin=STEP), "start-get", {"origin": {"id": "task"}}),
    (ev.FinishGet(origin=STEP, exit_status=0, version={"ref": "a"},
                  metadata=[{"name": "n", "value": "v"}]), "finish-get",
     {"origin": {"id": "task"}, "exit_status": 0, "version": {"ref": "a"},
      "metadata": [{"name": "n", "value": "v"}]}),
    (ev.InitializePut(origin=STEP), "initialize-put", {"origin": {"id": "task"}}),
    (ev.StartPut(origin=STEP), "start-put", {"origin": {"id": "task"}}),
    (ev.FinishPut(origin=STEP, exit_status=0), "finish-put",
     {"origin": {"id": "task"}, "exit_status": 0, "version": {}, "metadata": []}),
    (ev.Initialize(origin=STEP), "initialize", {"origin": {"id": "task"}}),
    (ev.Start(origin=STEP), "start", {"origin": {"id": "task"}}),
    (ev.Finish(origin=STEP, exit_status=0, succeeded=True), "finish",
     {"origin": {"id": "task"}, "exit_status": 0, "succeeded": True}),
    (ev.Error(origin=STEP, message="boom"), "error",
     {"origin": {"id": "task"}, "message": "boom"}),
    (ev.Error(message="headwater error: x"), "error", {"message": "headwater error: x"}),
    (ev.Status(status=BuildStatus.SUCCEEDED, time=2.0), "status",
     {"status": "succeeded", "time": 2.0}),
]


@pytest.mark.parametrize(("event", "kind", "data"), CASES,
                         ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(CASES)])
def test_each_event_writes_concourses_json_and_reads_back_as_the_same_class(
        event: ev.BuildEvent, kind: str, data: dict[str, object]) -> None:
    assert event.kind == kind
    assert event.to_data() == data
    assert ev.parse(kind, data) == event
    assert ev.from_envelope(ev.envelope(kind, data)) == event
    assert json.loads(ev.envelope(kind, data)) == {"event": kind, "data": data}


def test_an_event_of_an_unknown_kind_or_shape_is_kept_as_it_came() -> None:
    unknown = ev.parse("selected-worker", {"worker": "w1", "time": 3.0})
    assert unknown == ev.Unknown(name="selected-worker", data={"worker": "w1", "time": 3.0},
                                 time=3.0)
    assert unknown.kind == "selected-worker"
    assert unknown.to_data() == {"worker": "w1", "time": 3.0}
    broken = ev.parse("finish-task", {"origin": {"id": "t"}})  # no exit_status
    assert isinstance(broken, ev.Unknown)


def test_the_end_of_a_stream_is_no_event() -> None:
    assert ev.from_envelope("{}") is None


def test_the_event_module_loads_no_pydantic_nor_engine() -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "-c",
                        "import headwater.ci.eventtypes"],
                       capture_output=True, text=True, check=True, timeout=60)
    modules = {line.split("|")[2].strip() for line in r.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    assert "headwater.ci.eventtypes" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] == "pydantic"
                   or (m.startswith("headwater.") and m not in {
                       "headwater.ci", "headwater.ci.eventtypes", "headwater.buildstatus"}))
    assert heavy == []
