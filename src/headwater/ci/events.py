"""Build events: stored first, then fanned out live to whoever watches the build.

The store keeps every event with a sequence number per build; `Hub` only carries
the new ones to open streams. A watcher subscribes *before* it reads what is
stored and then skips what it already saw by sequence number, so no event falls in
the gap between the two.

Memory stays bounded whatever the log's size or the viewer's speed:

- `stream` reads the store a page at a time (`page_size` events), never a whole log;
- a subscription holds at most `limit` live events and `max_bytes` of them (more
  than a whole batch of the build log's writer, so a viewer that keeps up never
  lags). When a viewer falls that far
  behind, its queue is emptied and marked *lagged* instead of growing: the viewer
  then reads what it missed from the store, page by page, from its last sequence
  number, and goes back to live events (every event is stored before it is
  published, so the store always has what the queue dropped).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from headwater import log as hwlog
from headwater.store import models

_log = hwlog.get("events")

END = "end"  # a pseudo-event that closes streams when a build is over
LIVE_LIMIT = 10_000  # live events a subscription holds before its viewer reads the store
LIVE_BYTES = 4 * 2**20  # ... and their size (`size`)
PAGE_SIZE = 500  # stored events read at a time


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    payload: dict[str, Any]


def size(payload: dict[str, Any]) -> int:
    """About what an event weighs in memory: its log text and a fixed overhead."""
    return len(str(payload.get("payload", ""))) + 64


class Subscription:
    """One viewer's live events: at most `limit` of them, or the mark that it lagged."""

    def __init__(self, limit: int, max_bytes: int = LIVE_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.lagged = False
        self.lags = 0  # how many times it fell behind
        self.closed = False

    def __len__(self) -> int:
        return len(self._events)

    def push(self, event: Event) -> None:
        if self.lagged:
            return  # the viewer reads these from the store
        weight = size(event.payload)
        if len(self._events) >= self.limit or self.bytes + weight > self.max_bytes:
            self._events.clear()
            self.bytes = 0
            self.lagged = True
            self.lags += 1
        else:
            self._events.append(event)
            self.bytes += weight
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self) -> Event | None:
        """The next live event; None when the viewer lagged (it should read the store,
        then call `resume`) or the build is over (`closed`)."""
        while not self._events and not self.lagged and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        if self._events:
            event = self._events.popleft()
            self.bytes -= size(event.payload)
            return event
        return None

    def resume(self) -> None:
        """Take live events again (call it *before* reading the store, not after)."""
        self.lagged = False


class Hub:
    def __init__(self, *, limit: int = LIVE_LIMIT, max_bytes: int = LIVE_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self._subs: dict[int, set[Subscription]] = defaultdict(set)

    def publish(self, build_id: int, event: Event) -> None:
        for sub in self._subs.get(build_id, ()):
            sub.push(event)

    def close(self, build_id: int) -> None:
        for sub in self._subs.pop(build_id, ()):
            sub.close()

    def subscriptions(self, build_id: int) -> list[Subscription]:
        return list(self._subs.get(build_id, ()))

    @contextmanager
    def subscribe(self, build_id: int) -> Iterator[Subscription]:
        """A subscription that receives the build's new events until the block ends."""
        sub = Subscription(self.limit, self.max_bytes)
        self._subs[build_id].add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(build_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[build_id]


class EventSource(Protocol):
    """What `stream` needs of the store."""

    async def events(self, build_id: int, *, after: int = 0,
                     limit: int | None = None) -> list[models.Event]: ...

    async def build(self, build_id: int) -> models.Build | None: ...


async def stream(store: EventSource, hub: Hub, build_id: int, *, after: int = 0,
                 page_size: int = PAGE_SIZE) -> AsyncGenerator[Event]:
    """The build's events after `after`: stored ones, then live ones until it is over.

    It reads the store a page at a time whenever it has to catch up: at the start,
    after its live queue overflowed, and once the build is over (the events written
    between the last live one and the end)."""
    last = after
    with hub.subscribe(build_id) as sub:
        build = await store.build(build_id)
        if build is None or build.status.finished:
            sub.close()  # no end is coming: read what is stored and stop
        catch_up = True
        while True:
            if catch_up:
                over = sub.closed  # known over before this read: the read has it all
                page = await store.events(build_id, after=last, limit=page_size)
                for e in page:
                    last = e.seq
                    yield Event(seq=e.seq, type=e.type, payload=e.payload)
                if len(page) == page_size:
                    continue
                if over:
                    return
                catch_up = False
            event = await sub.next()
            if event is None:  # lagged, or the build is over: the rest is in the store
                if sub.lagged:
                    _log.info("viewer fell behind: reading the store", build=build_id,
                              after=last)
                sub.resume()
                catch_up = True
            elif event.seq > last:
                last = event.seq
                yield event
