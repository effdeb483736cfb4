"""A build's log as numbered lines, read a range at a time: what lets a 100 MB log open
at once and scroll to its end while the page holds only what is on screen.

The store keeps a log as events (one per chunk a step printed). The page asks for
lines `[start, start + count)`; the server answers from a sparse index per build:

- **one rule for lines** (`Splitter`): a line is the text of one step up to `\\n`; a
  step's output that starts while another step's line is open closes that line (in
  parallel steps do not glue their output together); a line longer than `MAX_LINE`
  characters is cut into lines of `MAX_LINE` (a 100 MB line stays pageable). The
  page's JS appends live output with the same rule (`ui.js` `appendLog`).
- **a sparse index** (`LineIndex`): every `CHECKPOINT_CHARS` of text it notes where
  the next line starts (line number, event seq, offset in its text). A range is read
  from the checkpoint before it, so a request reads at most one checkpoint's worth of
  events more than it answers, and the index of a 100 MB log is a few thousand
  tuples. It is built by reading the log once, a page of events at a time, and only as
  far as a request needs (the first screen needs the first page only); a running
  build's index grows from where it stopped.

`LogLines` keeps the indexes of the last few builds looked at (bounded) and answers
`lines()`; everything here is pure but the reads through `EventSource`.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from headwater.store import Event

MAX_LINE = 4096  # characters of one line; a longer one continues on the next
CHECKPOINT_CHARS = 64 * 1024  # text between two checkpoints of the index
READ_PAGE = 64  # events read from the store at a time to answer a range
INDEX_PAGE = 256  # ... and to index the log
MAX_COUNT = 1000  # lines one request may ask for
KEPT_INDEXES = 16  # builds whose index is kept


@dataclass(frozen=True)
class Line:
    n: int  # 0-based line number
    step: str  # the plan id of the step that printed it
    text: str
    open: bool = False  # the last line, not ended by a newline yet


@dataclass(frozen=True)
class Piece:
    """One log event's text: `seq` and its step (`origin.id`)."""

    seq: int
    step: str
    text: str


def pieces(events: Iterable[Event]) -> Iterator[Piece]:
    """The log text of `events`, skipping every other kind."""
    for e in events:
        if e.type != "log":
            continue
        origin = e.payload.get("origin")
        step = str(origin.get("id", "")) if isinstance(origin, dict) else ""
        text = e.payload.get("payload")
        if isinstance(text, str) and text:
            yield Piece(e.seq, step, text)


@dataclass
class Splitter:
    """Turns pieces into lines, numbering from `n` (the rule of the module docstring).

    `feed` yields each line once it is closed, with where the *next* line starts
    (seq, offset): the checkpoints of the index. `pending` is the open line."""

    n: int = 0
    step: str = ""
    text: str = ""  # the open line so far
    has_open: bool = False

    def feed(self, piece: Piece, offset: int = 0) -> Iterator[tuple[Line, int, int]]:
        text = piece.text
        if self.has_open and piece.step != self.step:
            yield self._close(), piece.seq, offset
        pos = offset
        while pos < len(text):
            if not self.has_open:
                self.step, self.text, self.has_open = piece.step, "", True
            room = MAX_LINE - len(self.text)
            nl = text.find("\n", pos, pos + room + 1)  # a newline right at the limit ends it
            if nl >= 0:
                self.text += text[pos:nl]
                pos = nl + 1
            else:
                end = min(len(text), pos + room)
                self.text += text[pos:end]
                pos = end
                if len(self.text) < MAX_LINE:
                    continue
            yield self._close(), piece.seq, pos

    def pending(self) -> Line | None:
        return Line(self.n, self.step, self.text, open=True) if self.has_open else None

    def _close(self) -> Line:
        line = Line(self.n, self.step, self.text)
        self.n += 1
        self.has_open = False
        self.text = ""
        return line


def split(texts: Iterable[Piece]) -> list[Line]:
    """Every line of `texts`, the open last one included (for tests and small logs)."""
    splitter = Splitter()
    lines = [line for p in texts for line, _, _ in splitter.feed(p)]
    if (last := splitter.pending()) is not None:
        lines.append(last)
    return lines


class EventSource(Protocol):
    """Where stored events are read: the CI service (`CI.event_page`)."""

    async def event_page(self, build_id: int, *, after: int = 0,
                         limit: int | None = None) -> list[Event]: ...


@dataclass
class LineIndex:
    """Where lines start, every `CHECKPOINT_CHARS`, as far as the log was read."""

    build_id: int
    lines: list[int] = field(default_factory=lambda: [0])  # line numbers ...
    spots: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)])  # (seq, offset)
    steps: dict[str, int] = field(default_factory=dict)  # step -> its first line
    splitter: Splitter = field(default_factory=Splitter)
    read_seq: int = 0  # events up to this seq are indexed
    complete: bool = False  # the build is over and its log read to the end
    _since: int = 0  # characters since the last checkpoint
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def closed_lines(self) -> int:
        return self.splitter.n

    @property
    def total(self) -> int:
        return self.splitter.n + (1 if self.splitter.has_open else 0)

    def add(self, piece: Piece) -> None:
        self.read_seq = piece.seq
        sp = self.splitter
        if piece.step not in self.steps:
            self.steps[piece.step] = self.total
        parts = piece.text.split("\n")
        same = sp.has_open and sp.step == piece.step
        head = len(sp.text) if same else 0
        if head + len(parts[0]) >= MAX_LINE or max(map(len, parts)) >= MAX_LINE:
            for line, seq, offset in sp.feed(piece):  # long lines: the rule, line by line
                self._note(len(line.text) + 1, line.n + 1, seq, offset)
            return
        # The same rule, counted in C: no line of this piece reaches MAX_LINE.
        if sp.has_open and not same:
            sp._close()
            self._note(0, sp.n, piece.seq, 0)
        closed = len(parts) - 1
        if closed:
            sp.n += closed
            sp.has_open, sp.text = False, ""
        if parts[-1]:
            sp.text = (sp.text if sp.has_open else "") + parts[-1]
            sp.has_open, sp.step = True, piece.step
        if closed:
            rest = len(parts[-1])
            self._note(len(piece.text) - rest, sp.n, piece.seq, len(piece.text) - rest)
            self._since += rest
        else:
            self._since += len(piece.text)

    def _note(self, chars: int, line: int, seq: int, offset: int) -> None:
        """`chars` more text read, and line `line` starts at (seq, offset)."""
        self._since += chars
        if self._since >= CHECKPOINT_CHARS:
            self._since = 0
            self.lines.append(line)
            self.spots.append((seq, offset))

    def checkpoint(self, line: int) -> tuple[int, int, int]:
        """(line number, seq, offset) of the last checkpoint at or before `line`."""
        i = bisect.bisect_right(self.lines, line) - 1
        return self.lines[i], *self.spots[i]


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    total: int  # lines known so far (the open last one counted)
    complete: bool  # `total` is final: the build is over and its log was read whole
    last_seq: int  # the events read to know `total`: live ones after it come next
    steps: dict[str, int]  # each step's first line


class LogLines:
    """The numbered lines of build logs, through a bounded cache of `LineIndex`es."""

    def __init__(self, source: EventSource, *, kept: int = KEPT_INDEXES) -> None:
        self._source = source
        self._kept = kept
        self._indexes: OrderedDict[int, LineIndex] = OrderedDict()

    def _index(self, build_id: int) -> LineIndex:
        index = self._indexes.get(build_id)
        if index is None:
            index = self._indexes[build_id] = LineIndex(build_id)
            while len(self._indexes) > self._kept:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(build_id)
        return index

    async def lines(self, build_id: int, start: int | None, count: int, *,
                    finished: bool) -> Page:
        """Lines `[start, start+count)`; `start` None (or past the end) means the last
        `count` lines, which reads the whole log. `finished`: the build is over, so
        once read to its end the index is final."""
        count = max(1, min(count, MAX_COUNT))
        index = self._index(build_id)
        async with index.lock:
            want = None if start is None else start + count
            await self._extend(index, want, finished=finished)
            if start is None or start >= index.total:
                await self._extend(index, None, finished=finished)
                start = max(0, index.total - count)
            lines = await self._read(index, start, count)
            return Page(lines=lines, total=index.total, complete=index.complete,
                        last_seq=index.read_seq, steps=dict(index.steps))

    async def _extend(self, index: LineIndex, want: int | None, *, finished: bool) -> None:
        """Read the log on until the index knows line `want` (None: to the end)."""
        if index.complete:
            return
        while want is None or index.closed_lines < want:
            page = await self._source.event_page(index.build_id, after=index.read_seq,
                                            limit=INDEX_PAGE)
            await asyncio.to_thread(_index_page, index, page)  # megabytes of text: off the loop
            if page:
                index.read_seq = max(index.read_seq, page[-1].seq)
            if len(page) < INDEX_PAGE:
                index.complete = finished
                return

    async def _read(self, index: LineIndex, start: int, count: int) -> list[Line]:
        line_no, seq, offset = index.checkpoint(start)
        splitter = Splitter(n=line_no)
        out: list[Line] = []
        after = seq - 1 if seq else 0
        while len(out) < count:
            page = await self._source.event_page(index.build_id, after=after, limit=READ_PAGE)
            done = await asyncio.to_thread(_collect, splitter, page, out, start=start,
                                           count=count, begin=(seq, offset),
                                           read_seq=index.read_seq)
            if done or len(page) < READ_PAGE or page[-1].seq >= index.read_seq:
                break
            after = page[-1].seq
        last = splitter.pending()
        if last is not None and last.n >= start and len(out) < count:
            out.append(last)
        return out


def _index_page(index: LineIndex, page: list[Event]) -> None:
    for p in pieces(page):
        index.add(p)


def _collect(splitter: Splitter, page: list[Event], out: list[Line], *, start: int,
             count: int, begin: tuple[int, int], read_seq: int) -> bool:
    """Lines of `page` from line `start` into `out`, the first piece cut at `begin`
    (seq, offset); True once `out` holds `count` lines or the indexed part is over."""
    for p in pieces(page):
        if p.seq > read_seq:
            return True
        for line, _, _ in splitter.feed(p, begin[1] if p.seq == begin[0] else 0):
            if line.n >= start:
                out.append(line)
                if len(out) == count:
                    return True
    return False
