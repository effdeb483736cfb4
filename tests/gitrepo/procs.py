"""What the tests look for in /proc: live processes and their command lines."""

from __future__ import annotations

import os
from pathlib import Path


def live_processes() -> dict[int, bytes]:
    """pid -> NUL-separated command line of every process that is not a zombie."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] not in "ZX":
            found[int(entry.name)] = cmdline
    return found


def children() -> set[int]:
    """The live direct children of this (the test) process."""
    me = os.getpid()
    kids = set()
    for pid in live_processes():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
            kids.add(pid)
    return kids


def mentioning(text: str) -> list[bytes]:
    """Command lines of live processes that contain `text`."""
    return [cmd for cmd in live_processes().values() if text.encode() in cmd]
