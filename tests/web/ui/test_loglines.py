"""The log as numbered lines: the splitting rule (a table), and the sparse index read
back at any range giving exactly the lines of a whole split (a property)."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.store import Event
from headwater.web.ui import loglines
from headwater.web.ui.loglines import MAX_LINE, Line, LineIndex, LogLines, Piece, split

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _lines(*texts: tuple[str, str]) -> list[tuple[str, str, bool]]:
    pieces = [Piece(i + 1, step, text) for i, (step, text) in enumerate(texts)]
    return [(line.step, line.text, line.open) for line in split(pieces)]


@pytest.mark.parametrize(("texts", "expected"), [
    ([("1", "a\nb\n")], [("1", "a", False), ("1", "b", False)]),
    ([("1", "a"), ("1", "b\nc")], [("1", "ab", False), ("1", "c", True)]),
    # another step's output closes the open line: parallel steps are not glued
    ([("1", "a"), ("2", "b\n")], [("1", "a", False), ("2", "b", False)]),
    ([("1", "\n\n")], [("1", "", False), ("1", "", False)]),
    # a line longer than MAX_LINE continues on the next line
    ([("1", "x" * (MAX_LINE + 3) + "\n")], [("1", "x" * MAX_LINE, False), ("1", "xxx", False)]),
    # exactly MAX_LINE then its newline: one line
    ([("1", "y" * MAX_LINE + "\nz")], [("1", "y" * MAX_LINE, False), ("1", "z", True)]),
])
def test_lines_follow_the_one_rule(texts: list[tuple[str, str]],
                                   expected: list[tuple[str, str, bool]]) -> None:
    assert _lines(*texts) == expected


class ListSource:
    """Events in a list, read as the store reads them (after seq, limit)."""

    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        self.list: list[Event] = []
        for step, text in pieces:
            self.append("log", {"origin": {"id": step}, "payload": text})
        self.reads = 0

    def append(self, type: str, payload: dict[str, Any]) -> None:
        self.list.append(Event(seq=len(self.list) + 1, type=type, payload=payload, time=NOW))

    async def event_page(self, build_id: int, *, after: int = 0,
                         limit: int | None = None) -> list[Event]:
        self.reads += 1
        out = [e for e in self.list if e.seq > after]
        return out[:limit] if limit is not None else out


_text = st.text(alphabet="ab\n", min_size=1, max_size=300)
_pieces = st.lists(st.tuples(st.sampled_from(["1", "2"]), _text), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(pieces=_pieces, start=st.integers(0, 400), count=st.integers(1, 50))
async def test_any_range_read_through_the_index_is_that_range_of_the_whole_split(
        pieces: list[tuple[str, str]], start: int, count: int) -> None:
    # checkpoints every few characters and long lines short, so every path is taken
    with pytest.MonkeyPatch.context() as m:
        m.setattr(loglines, "CHECKPOINT_CHARS", 20)
        m.setattr(loglines, "MAX_LINE", 7)
        m.setattr(loglines, "READ_PAGE", 3)
        m.setattr(loglines, "INDEX_PAGE", 5)
        whole = split([Piece(i + 1, s, t) for i, (s, t) in enumerate(pieces)])
        source = ListSource(pieces)
        logs = LogLines(source)
        page = await logs.lines(1, start, count, finished=True)
        if start < len(whole):
            assert page.lines == whole[start:start + count]
            assert page.total <= len(whole)  # read as far as that range needed
        else:  # past the end: the last lines
            assert page.lines == whole[max(0, len(whole) - count):]
        page = await logs.lines(1, None, count, finished=True)
        assert page.lines == whole[max(0, len(whole) - count):]
        assert (page.total, page.complete) == (len(whole), True)
        assert page.steps == {s: next(line.n for line in whole if line.step == s)
                              for s in {line.step for line in whole}}


async def test_the_first_screen_reads_only_the_first_events() -> None:
    source = ListSource([("1", "line\n" * 10)] * 5000)
    page = await LogLines(source).lines(1, 0, 50, finished=True)
    assert [line.text for line in page.lines] == ["line"] * 50
    assert not page.complete
    assert source.reads <= 3


async def test_a_running_builds_index_grows_and_its_tail_shows_the_open_line() -> None:
    source = ListSource([("1", "a\nb")])
    logs = LogLines(source)
    page = await logs.lines(1, None, 10, finished=False)
    assert page.lines == [Line(0, "1", "a"), Line(1, "1", "b", open=True)]
    assert (page.total, page.complete, page.last_seq) == (2, False, 1)
    source.append("log", {"origin": {"id": "1"}, "payload": "c\nd\n"})
    source.append("finish-task", {"origin": {"id": "1"}, "exit_status": 0})
    page = await logs.lines(1, 1, 10, finished=True)
    assert page.lines == [Line(1, "1", "bc"), Line(2, "1", "d")]
    assert (page.total, page.complete, page.last_seq) == (3, True, 3)


def test_the_index_of_a_long_log_is_sparse() -> None:
    index = LineIndex(1)
    for seq in range(1, 1601):  # 100 MB in 64 KB events of 64-character lines
        index.add(Piece(seq, "1", ("x" * 63 + "\n") * 1024))
    assert index.total == 1600 * 1024
    assert len(index.lines) <= 1601


def test_the_pages_script_uses_the_same_line_limit() -> None:
    script = resources.files("headwater.web.ui").joinpath("static/ui.js").read_text()
    assert f"const MAX_LINE = {MAX_LINE};" in script
