"""One build's events on their way to the store and the live hub: capped and batched.

A task may print gigabytes, in thousands of small chunks. Two rules keep that cheap:

- **a cap per build** (`max_bytes`, the server's `--max-build-log-size`, 100 MB by
  default): the log output that fits is kept, then one last log line (on a line of
  its own) says the log was truncated at that many bytes, and further output is
  dropped. The task runs on
  (as Concourse, the log is not the task); progress events (`finish-task`, `status`,
  `error`...) are always kept.
- **batched writes**: events wait in a buffer and a writer task stores them in one
  transaction per batch (every `batch_interval` seconds, or as soon as `batch_bytes`
  of them wait), then publishes them to the hub with the sequence numbers the store
  gave them. Any event but a log line (the end of a step, the build's status) is a
  flush point: `add` returns once it is stored, as before batching. `close` stores
  what is left; the runner calls it before it marks the build finished.

Order is the order of `add` calls; a buffer over `4 * batch_bytes` makes `add` wait
for the writer, so a store slower than the task holds the task's output back rather
than growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from headwater import log as hwlog
from headwater.ci.events import Event, Hub, size

_log = hwlog.get("buildlog")

MAX_BUILD_LOG_SIZE = 100 * 2**20


@dataclass(frozen=True)
class BuildLogSettings:
    max_bytes: int = MAX_BUILD_LOG_SIZE
    batch_interval: float = 0.1  # seconds an event may wait to be stored
    batch_bytes: int = 64 * 2**10  # log output that makes a batch at once


class EventWriter(Protocol):
    async def add_events(self, build_id: int,
                         events: list[tuple[str, dict[str, Any]]]) -> int: ...


def truncation_notice(limit: int) -> str:
    return (f"headwater: build log truncated at {limit} bytes (the server's "
            "--max-build-log-size); further output is dropped, the build goes on\n")


def cap(text: str, used: int, limit: int) -> tuple[str, bool]:
    """What of `text` fits after `used` bytes of a log capped at `limit` bytes, and
    whether some of it did not fit. Cut at a character boundary, never inside one."""
    data = text.encode()
    room = max(limit - used, 0)
    if len(data) <= room:
        return text, False
    return data[:room].decode(errors="ignore"), True


class BuildLog:
    """The events of build `build_id`, capped, batched, stored, then published."""

    def __init__(self, store: EventWriter, hub: Hub, build_id: int,
                 settings: BuildLogSettings) -> None:
        self._store = store
        self._hub = hub
        self._build_id = build_id
        self._settings = settings
        self._used = 0  # log output bytes kept so far
        self._line_open = False  # the kept output ends inside a line
        self.truncated = False
        self._buffer: list[tuple[str, dict[str, Any]]] = []
        self._buffered = 0  # rough bytes in the buffer
        self._added = 0  # events handed to add(), in order
        self._stored = 0  # of those, how many the store has
        self._pending = asyncio.Event()  # the buffer holds something
        self._now = asyncio.Event()  # ... that should not wait for the interval
        self._progress = asyncio.Event()  # replaced after each write
        self._closing = False
        self._error: BaseException | None = None
        self._writer: asyncio.Task[None] | None = None

    async def log(self, origin: dict[str, Any], text: str, fields: dict[str, Any]) -> None:
        """Log output of one step (redacted already), kept while under the cap."""
        if self.truncated or not text:
            return
        kept, over = cap(text, self._used, self._settings.max_bytes)
        self._used += len(kept.encode())
        if kept:
            self._line_open = not kept.endswith("\n")
            await self.add("log", {**fields, "origin": origin, "payload": kept})
        if over:
            self.truncated = True
            _log.warning("build log truncated", build=self._build_id,
                         limit=self._settings.max_bytes)
            notice = truncation_notice(self._settings.max_bytes)
            await self.add("log", {**fields, "origin": {**origin, "source": "stderr"},
                                   "payload": "\n" + notice if self._line_open else notice})

    async def add(self, type: str, payload: dict[str, Any]) -> None:
        """Queue one event; a non-log event waits until it is stored."""
        self._raise_failure()
        if self._closing:
            raise RuntimeError(f"build {self._build_id}: event {type!r} after the log closed")
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(),
                                               name=f"build-log-{self._build_id}")
        self._buffer.append((type, payload))
        self._buffered += size(payload)
        self._added += 1
        self._pending.set()
        flush = type != "log"
        if flush or self._buffered >= self._settings.batch_bytes:
            self._now.set()
        if flush:
            await self._stored_up_to(self._added)
        elif self._buffered >= 4 * self._settings.batch_bytes:
            await self._stored_up_to(self._added - len(self._buffer) + 1)

    async def close(self) -> None:
        """Store what waits and stop the writer; a write that failed is logged."""
        self._closing = True
        self._pending.set()
        self._now.set()
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._error is not None:
            _log.error("build events lost", build=self._build_id, error=str(self._error))

    async def _stored_up_to(self, count: int) -> None:
        while self._stored < count:
            self._raise_failure()
            await self._progress.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"storing the events of build {self._build_id} failed: "
                               f"{self._error}") from self._error

    async def _write_loop(self) -> None:
        while True:
            await self._pending.wait()
            if not self._now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._now.wait(), self._settings.batch_interval)
            batch, self._buffer, self._buffered = self._buffer, [], 0
            self._pending.clear()
            self._now.clear()
            if batch:
                try:
                    last = await self._store.add_events(self._build_id, batch)
                except Exception as e:  # the build's next add() raises it
                    self._error = e
                    self._wake_waiters()
                    return
                first = last - len(batch) + 1
                for i, (type, payload) in enumerate(batch):
                    self._hub.publish(self._build_id, Event(seq=first + i, type=type,
                                                            payload=payload))
                self._stored += len(batch)
                self._wake_waiters()
            if self._closing and not self._buffer:
                return

    def _wake_waiters(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()
