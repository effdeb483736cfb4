"""Build events: stored first, then fanned out live to whoever watches the build.

The store keeps every event with a sequence number per build; `Hub` only carries
the new ones to open streams. A watcher subscribes *before* it reads what is
stored and then skips what it already saw by sequence number, so no event falls in
the gap between the two.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

END = "end"  # a pseudo-event that closes streams when a build is over


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    payload: dict[str, Any]


class Hub:
    def __init__(self) -> None:
        self._subs: dict[int, set[asyncio.Queue[Event]]] = defaultdict(set)

    def publish(self, build_id: int, event: Event) -> None:
        for queue in self._subs.get(build_id, ()):
            queue.put_nowait(event)

    def close(self, build_id: int) -> None:
        for queue in self._subs.pop(build_id, ()):
            queue.put_nowait(Event(seq=-1, type=END, payload={}))

    @contextmanager
    def subscribe(self, build_id: int) -> Iterator[asyncio.Queue[Event]]:
        """A queue that receives the build's new events until the block ends."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subs[build_id].add(queue)
        try:
            yield queue
        finally:
            subs = self._subs.get(build_id)
            if subs is not None:
                subs.discard(queue)
                if not subs:
                    del self._subs[build_id]
