"""A Thompson NFA for parsed Go regexps: yes/no answers in time linear in the subject.

RE2 (and Go) never backtrack, so a policy like `regexp:^(a+)+$` costs microseconds there;
Python's backtracking `re` could spin for minutes on a 30-character tag. Simulating the
automaton state set by state set keeps headwater as cheap as fluxd whatever the pattern.
Empty-width assertions follow regexp/syntax EmptyOpContext (ASCII word characters).
"""

from __future__ import annotations

from typing import Any, Protocol

BEGIN_LINE, END_LINE, BEGIN_TEXT, END_TEXT, WORD_BOUNDARY, NO_WORD_BOUNDARY = (
    1, 2, 4, 8, 16, 32,
)


class _Class(Protocol):
    def contains(self, ch: str) -> bool: ...


class Node:
    """A parsed regexp: char | assert | cat | alt | star | plus | quest | repeat."""

    __slots__ = ("cls", "kind", "max", "min", "op", "subs")

    def __init__(self, op: str, *, subs: list[Node] | None = None, cls: Any = None,
                 kind: int = 0, min: int = 0, max: int = 0) -> None:
        self.op = op
        self.subs = subs or []
        self.cls = cls
        self.kind = kind
        self.min = min
        self.max = max


_CHAR, _SPLIT, _ASSERT, _JUMP, _MATCH = range(5)


def _is_word(ch: str | None) -> bool:
    return ch is not None and ch.isascii() and (ch.isalnum() or ch == "_")


def _context(s: str, i: int) -> int:
    before = s[i - 1] if i > 0 else None
    after = s[i] if i < len(s) else None
    flags = 0
    if before is None:
        flags |= BEGIN_TEXT | BEGIN_LINE
    elif before == "\n":
        flags |= BEGIN_LINE
    if after is None:
        flags |= END_TEXT | END_LINE
    elif after == "\n":
        flags |= END_LINE
    flags |= WORD_BOUNDARY if _is_word(before) != _is_word(after) else NO_WORD_BOUNDARY
    return flags


class Program:
    """The compiled automaton of one regexp."""

    def __init__(self, root: Node) -> None:
        self._op: list[int] = []
        self._arg: list[Any] = []
        self._out: list[int] = []
        self._out1: list[int] = []
        start, holes = self._compile(root)
        match = self._state(_MATCH)
        self._patch(holes, match)
        self._start = start

    def _state(self, op: int, arg: Any = None) -> int:
        self._op.append(op)
        self._arg.append(arg)
        self._out.append(-1)
        self._out1.append(-1)
        return len(self._op) - 1

    def _patch(self, holes: list[tuple[int, int]], target: int) -> None:
        for state, which in holes:
            (self._out if which == 0 else self._out1)[state] = target

    def _compile(self, node: Node) -> tuple[int, list[tuple[int, int]]]:
        """Compile `node` into a fragment: its start state and its dangling exits."""
        op = node.op
        if op == "char":
            s = self._state(_CHAR, node.cls)
            return s, [(s, 0)]
        if op == "assert":
            s = self._state(_ASSERT, node.kind)
            return s, [(s, 0)]
        if op == "cat":
            if not node.subs:
                s = self._state(_JUMP)
                return s, [(s, 0)]
            start, holes = self._compile(node.subs[0])
            for sub in node.subs[1:]:
                nxt, nholes = self._compile(sub)
                self._patch(holes, nxt)
                holes = nholes
            return start, holes
        if op == "alt":
            start, holes = self._compile(node.subs[-1])
            for sub in reversed(node.subs[:-1]):
                first, fholes = self._compile(sub)
                split = self._state(_SPLIT)
                self._out[split], self._out1[split] = first, start
                start, holes = split, fholes + holes
            return start, holes
        if op in ("star", "plus", "quest"):
            return self._loop(node.subs[0], op)
        return self._repeat(node)

    def _loop(self, sub: Node, op: str) -> tuple[int, list[tuple[int, int]]]:
        body, holes = self._compile(sub)
        split = self._state(_SPLIT)
        self._out[split] = body
        if op == "quest":
            return split, [*holes, (split, 1)]
        self._patch(holes, split)
        return (split if op == "star" else body), [(split, 1)]

    def _repeat(self, node: Node) -> tuple[int, list[tuple[int, int]]]:
        """x{n,m} as regexp/syntax simplify writes it: n copies, then optional ones."""
        sub, lo, hi = node.subs[0], node.min, node.max
        parts: list[Node] = [sub] * lo
        if hi < 0:
            parts = [*parts[:-1], Node("plus", subs=[sub])] if lo else [Node("star", subs=[sub])]
        start, holes = self._compile(Node("cat", subs=parts))
        # (x(x(x)?)?)? built as a flat chain: before each optional copy, a way out.
        exits: list[tuple[int, int]] = []
        for _ in range(max(hi - lo, 0)):
            split = self._state(_SPLIT)
            self._patch(holes, split)
            self._out[split], holes = self._compile(sub)
            exits.append((split, 1))
        return start, holes + exits

    def _closure(self, states: list[int], ctx: int, into: set[int]) -> None:
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in into:
                continue
            into.add(s)
            op = self._op[s]
            if op == _SPLIT:
                stack.append(self._out1[s])
                stack.append(self._out[s])
            elif op == _JUMP or (op == _ASSERT and self._arg[s] & ctx):
                stack.append(self._out[s])

    def search(self, subject: str) -> bool:
        """Whether the regexp matches anywhere in `subject`."""
        current: set[int] = set()
        cache: dict[tuple[int, str], bool] = {}
        for i in range(len(subject) + 1):
            self._closure([self._start], _context(subject, i), current)
            if any(self._op[s] == _MATCH for s in current):
                return True
            if i == len(subject):
                return False
            ch = subject[i]
            moved: list[int] = []
            for s in current:
                if self._op[s] != _CHAR:
                    continue
                key = (s, ch)
                hit = cache.get(key)
                if hit is None:
                    hit = cache[key] = self._arg[s].contains(ch)
                if hit:
                    moved.append(self._out[s])
            current = set()
            self._closure(moved, _context(subject, i + 1), current)
        return False
