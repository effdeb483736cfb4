"""The hops of the demo story and its timeline: each hop's wall time and duration.

A hop is one link of the loop a reader must see happen (commit → build → image →
release commit → pods → page). The story reports each hop as it starts and ends to a
`Watcher` (the CLI draws it live or prints lines); a hop that fails raises `HopFailed`
naming the hop, the tail of the log that explains it, and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from headwater.errors import HeadwaterError


@dataclass
class Hop:
    name: str
    started: float  # time.time()
    ended: float | None = None
    detail: str = ""

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


class HopFailed(HeadwaterError):
    """A hop did not happen: which one, why, the log tail that shows it, what to do."""

    def __init__(self, hop: str, why: str, log_tail: str = "", todo: str = "") -> None:
        super().__init__(f"{hop}: {why}")
        self.hop, self.why, self.log_tail, self.todo = hop, why, log_tail, todo


@dataclass
class Watcher:
    """Called when a hop starts and when it ends (the CLI's display)."""

    on_start: Callable[[Hop], None] = lambda hop: None
    on_end: Callable[[Hop], None] = lambda hop: None


@dataclass
class Timeline:
    watcher: Watcher = field(default_factory=Watcher)
    hops: list[Hop] = field(default_factory=list)

    def start(self, name: str) -> Hop:
        hop = Hop(name, time.time())
        self.hops.append(hop)
        self.watcher.on_start(hop)
        return hop

    def end(self, hop: Hop, detail: str = "") -> None:
        hop.ended, hop.detail = time.time(), detail
        self.watcher.on_end(hop)


def format_timeline(hops: list[Hop]) -> list[str]:
    """One line per hop: wall time it ended (UTC), its duration, the time since the
    first hop began, and what it saw."""
    if not hops:
        return []
    origin = hops[0].started
    lines = []
    for hop in hops:
        end = hop.ended or hop.started
        wall = time.strftime("%H:%M:%S", time.gmtime(end))
        lines.append(f"{wall}  {hop.seconds:6.1f}s  +{end - origin:6.1f}s  "
                     f"{hop.name:<22} {hop.detail}")
    return lines
