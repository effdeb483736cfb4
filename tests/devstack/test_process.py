"""Daemons are real processes: pid files, logs, start-up failures named with their log."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from headwater import devstack
from headwater.devstack import ports, process
from headwater.devstack.errors import ComponentFailed
from headwater.devstack.layout import Layout


def _layout(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path)
    layout.create()
    return layout


def test_start_records_the_pid_and_stop_waits_for_the_process(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    proc = process.start("sleeper", ["sleep", "60"], layout=layout)
    assert process.is_alive(proc)
    assert process.load("sleeper", layout=layout) == proc
    process.stop(proc, layout)
    assert not process.is_alive(proc)
    assert process.load("sleeper", layout=layout) is None


def test_a_reused_pid_is_not_taken_for_the_recorded_process(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    proc = process.start("sleeper", ["sleep", "60"], layout=layout)
    impostor = process.Proc(proc.name, proc.pid, proc.start_time + 1, proc.log)
    try:
        assert not process.is_alive(impostor)
        process.stop(impostor, layout)  # must not signal the live process
        assert process.is_alive(proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        os.waitpid(proc.pid, 0)


def test_a_component_that_dies_at_start_up_is_named_with_its_log(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    proc = process.start("broken", ["sh", "-c", "echo 'bind: address in use' >&2; exit 3"],
                         layout=layout)
    with pytest.raises(ComponentFailed) as e:
        process.wait_until(proc, lambda: False, what="ready", timeout=10)
    message = str(e.value)
    assert message.startswith("broken exited during start-up")
    assert "bind: address in use" in message
    assert str(layout.logs / "broken.log") in message


def test_a_busy_port_moves_to_another() -> None:
    taken: set[int] = set()
    free = ports.pick(None, taken)
    assert ports.is_free(free)
    with socket.socket() as s:
        s.bind(("127.0.0.1", free))
        s.listen()
        moved = ports.pick(free, set())
        assert moved != free
        assert ports.accepts(free)
    assert ports.pick(free, set()) == free  # free again: the recorded port is kept


def test_down_stops_the_server_headwater_demo_registered(tmp_path: Path) -> None:
    """`headwater demo` records its `headwater server` as the stack process
    `headwater-server`: `headwater down` stops it like any other."""
    layout = _layout(tmp_path)
    proc = process.start("headwater-server", ["sleep", "60"], layout=layout)
    try:
        done = devstack.down(tmp_path)
        assert done[0] == f"stopped headwater-server (pid {proc.pid})"
        assert not process.is_alive(proc)
    finally:
        process.stop(proc, layout)
