"""Bounded YAML: every YAML a user, a build or Git hands headwater is read through here.

Why: with anchors and aliases, 400 bytes of YAML stand for a billion nodes ("billion
laughs": `a: &a [x, x, ...]`, `b: &b [*a, *a, ...]`, nine levels). Composing it is cheap,
since an alias is the same node object again, but anything that walks the result (JSON,
validation, interpolation, `==`) expands it, freezes the event loop and runs the process
out of memory. Deep nesting (`[[[[...`) crashes recursive code instead, and a huge input
costs its size in memory before anything looks at it.

How: libyaml (C) turns the text into events; the nodes are composed here, in PyYAML's
Python composer, which lets each alias add the size of the node it repeats (its nodes and
its scalars' characters, aliases inside included) to a running total of the *expanded*
stream. The load stops with `YamlLimitError` at the alias (its file and line) that takes
the total over `Limits.max_nodes`, or its scalars over `Limits.max_chars`; nesting deeper
than `Limits.max_depth` stops at the line it happens, and an input over `Limits.max_bytes`
is refused before parsing (`read_text`/`read_bytes` never read more than that). An alias
to a node that contains it (a recursive structure, which nothing downstream handles) is
refused too. `YamlLimitError` is a `yaml.MarkedYAMLError`, so a reader's usual
`except yaml.YAMLError` reports it with its line.

Everything else is PyYAML's safe loading (YAML 1.1). The defaults are generous for real
files (a 10 MiB file, a million nodes); `--yaml-max-bytes` and `--yaml-max-nodes` raise
them where a user runs headwater. Callers pass `Limits` explicitly; `DEFAULT` is the
value when none is given.

Layering: at the bottom of the package with `log.py`; it imports nothing of ours.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, Event, NodeEvent, ScalarEvent
from yaml.nodes import Node, ScalarNode
from yaml.resolver import Resolver

from headwater.errors import UserError

__all__ = ["DEFAULT", "Limits", "Loader", "YamlLimitError", "compose", "compose_all",
           "load", "load_all", "measure", "read_bytes", "read_text"]

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """How much YAML one load may be. `max_chars`, the characters of all scalars once
    aliases are expanded, follows `max_bytes`: ten times what a file may hold."""

    max_bytes: int = 10 * MIB
    max_nodes: int = 1_000_000
    max_depth: int = 200

    @property
    def max_chars(self) -> int:
        return 10 * self.max_bytes


DEFAULT = Limits()


class YamlLimitError(yaml.MarkedYAMLError, UserError):
    """The YAML is over a limit: `filename`, `line` (1-based, None for the whole input)
    and what to do."""

    def __init__(self, message: str, *, filename: str, mark: Any) -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.message = message
        self.filename = filename
        self.line: int | None = mark.line + 1 if mark is not None else None

    def __str__(self) -> str:
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        return f"{where}: {self.message}"


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n:,} bytes"


def check_size(size: int, *, filename: str, limits: Limits) -> None:
    """Refuse an input of `size` bytes (or characters) over `limits.max_bytes`."""
    if size > limits.max_bytes:
        raise YamlLimitError(
            f"the YAML is larger than {_size(limits.max_bytes)}: refused before parsing "
            f"(--yaml-max-bytes raises the limit)", filename=filename, mark=None)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting what the stream expands to (see the module docstring).

    `_nodes`/`_chars` are the expanded stream so far; `_sizes` holds, for each anchored
    node, what it expands to (the totals' growth while it was composed), which each alias
    to it adds again."""

    if TYPE_CHECKING:
        def peek_event(self) -> Event | None: ...

    def _bound(self, limits: Limits, filename: str) -> None:
        self._limits = limits
        self._filename = filename
        self._nodes = 0
        self._chars = 0
        self._depth = 0
        self._sizes: dict[int, tuple[int, int]] = {}
        self._open: set[str] = set()  # anchors whose node is being composed

    def _add(self, nodes: int, chars: int, mark: Any, *, alias: bool) -> None:
        self._nodes += nodes
        self._chars += chars
        how = "with its aliases expanded, " if alias else ""
        limits = self._limits
        if self._nodes > limits.max_nodes:
            raise YamlLimitError(
                f"{how}the YAML is more than {limits.max_nodes:,} nodes (an alias bomb?): "
                f"refused (--yaml-max-nodes raises the limit)",
                filename=self._filename, mark=mark)
        if self._chars > limits.max_chars:
            raise YamlLimitError(
                f"{how}the YAML's values are more than {limits.max_chars:,} characters: "
                f"refused (--yaml-max-bytes raises the limit)",
                filename=self._filename, mark=mark)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if not isinstance(event, NodeEvent):  # not a node: let PyYAML say what it is
            return super().compose_node(parent, index)
        anchor = event.anchor
        if isinstance(event, AliasEvent):
            if anchor in self._open:
                raise YamlLimitError(f"an alias refers to a node that contains it (*{anchor}"
                                     f" is inside &{anchor}): a recursive structure",
                                     filename=self._filename, mark=event.start_mark)
            aliased = self.anchors.get(anchor)
            if aliased is not None:
                nodes, chars = self._sizes[id(aliased)]
                self._add(nodes, chars, event.start_mark, alias=True)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self._limits.max_depth:
            raise YamlLimitError(f"the YAML nests deeper than {self._limits.max_depth} "
                                 f"levels: refused", filename=self._filename,
                                 mark=event.start_mark)
        before = (self._nodes, self._chars)
        chars = len(event.value) if isinstance(event, ScalarEvent) else 0
        self._add(1, chars, event.start_mark, alias=False)
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
            self._sizes[id(node)] = (self._nodes - before[0], self._chars - before[1])
        self._depth -= 1
        return node


class Loader(_BoundedComposer, CParser, SafeConstructor, Resolver):
    """A safe loader (as `yaml.CSafeLoader`) whose composing is bounded by `limits`.

    Subclass it to change constructors or resolvers, as with any PyYAML loader; the
    stream is `str` or `bytes` (UTF-8/16), as for the C loader."""

    def __init__(self, stream: str | bytes, *, filename: str = "<yaml>",
                 limits: Limits = DEFAULT) -> None:
        check_size(len(stream), filename=filename, limits=limits)
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._bound(limits, filename)

    # CParser answers these itself (composing in C, unbounded): compose in Python instead.
    get_node = Composer.get_node
    check_node = Composer.check_node
    get_single_node = Composer.get_single_node

    def _construct_int(self, node: ScalarNode) -> int:
        try:
            return SafeConstructor.construct_yaml_int(self, node)
        except ValueError:  # more digits than Python converts (4300)
            raise ConstructorError(None, None, f"a number of {len(node.value):,} characters "
                                   "is too long to read: quote it to make it a string",
                                   node.start_mark) from None


Loader.yaml_constructors = {**SafeConstructor.yaml_constructors,
                            "tag:yaml.org,2002:int": Loader._construct_int}


def compose(text: str | bytes, *, filename: str = "<yaml>", limits: Limits = DEFAULT,
            loader: type[Loader] = Loader) -> Node | None:
    """The node of the one document of `text` (None when empty), bounded."""
    ldr = loader(text, filename=filename, limits=limits)
    try:
        return ldr.get_single_node()
    finally:
        ldr.dispose()


def compose_all(text: str | bytes, *, filename: str = "<yaml>", limits: Limits = DEFAULT,
                loader: type[Loader] = Loader) -> Iterator[Node]:
    """The node of each document of `text`, bounded over the whole stream."""
    ldr = loader(text, filename=filename, limits=limits)
    try:
        while ldr.check_node():
            node = ldr.get_node()
            if node is not None:
                yield node
    finally:
        ldr.dispose()


def load(text: str | bytes, *, filename: str = "<yaml>", limits: Limits = DEFAULT,
         loader: type[Loader] = Loader) -> Any:
    """`yaml.safe_load`, bounded."""
    ldr = loader(text, filename=filename, limits=limits)
    try:
        return ldr.get_single_data()
    finally:
        ldr.dispose()


def load_all(text: str | bytes, *, filename: str = "<yaml>", limits: Limits = DEFAULT,
             loader: type[Loader] = Loader) -> list[Any]:
    """`list(yaml.safe_load_all(...))`, bounded over the whole stream."""
    ldr = loader(text, filename=filename, limits=limits)
    try:
        out = []
        while ldr.check_node():
            out.append(ldr.get_data())
        return out
    finally:
        ldr.dispose()


def measure(text: str | bytes) -> tuple[int, int]:
    """(nodes, scalar characters) of the whole stream with every alias expanded, as the
    limits count them; without limits but for depth, in time linear in the text."""
    unbounded = Limits(max_bytes=sys.maxsize // 10, max_nodes=sys.maxsize)
    ldr = Loader(text, limits=unbounded)
    try:
        while ldr.check_node():
            ldr.get_node()
        return ldr._nodes, ldr._chars
    finally:
        ldr.dispose()


def read_bytes(path: Path, *, limits: Limits = DEFAULT, filename: str | None = None) -> bytes:
    """The file's bytes, never reading more than `limits.max_bytes` of it."""
    with path.open("rb") as f:
        data = f.read(limits.max_bytes + 1)
    check_size(len(data), filename=filename or str(path), limits=limits)
    return data


def read_text(path: Path, *, limits: Limits = DEFAULT, filename: str | None = None) -> str:
    """The file as UTF-8 text (`UnicodeDecodeError` otherwise), at most `max_bytes`."""
    return read_bytes(path, limits=limits, filename=filename).decode("utf-8")
