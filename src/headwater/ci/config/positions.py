"""YAML loading that remembers the line of every node, and finds duplicate keys.

PyYAML composes the document into nodes (each with its start mark) with the C parser;
this module turns the nodes into plain data itself, so that on the way it can record
`lines[path] = line` for every map key and list item, and notice a key given twice
(PyYAML's constructor silently keeps the last one). Scalars are resolved as PyYAML's
safe loader does (YAML 1.1, like Concourse's go-yaml v2: `yes` is true, `0755` is
octal), except timestamps, which stay strings as go-yaml leaves them in untyped data.
Anchors, aliases and merge keys (`<<: *defaults`) work; the lines of merged or aliased
content are the lines where it was written, and `Loaded.anchored` lists those places
(Concourse ignores unknown top-level keys so that they can hold anchors). Composing is
bounded (`headwater.yamlload`): an alias bomb, a huge file or deep nesting is a
`YamlSyntaxError` at its line, before anything walks the expanded data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from headwater import yamlload
from headwater.ci.vars import Location
from headwater.errors import UserError

__all__ = ["Duplicate", "Loaded", "YamlSyntaxError", "load"]

_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BINARY = "tag:yaml.org,2002:binary"


class YamlSyntaxError(UserError, ValueError):
    """The text is not YAML (or not one document); `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Duplicate:
    path: Location  # the key given twice
    line: int
    first_line: int


@dataclass
class Loaded:
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    anchored: set[Location] = field(default_factory=set)  # where a reused node is written


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    def __init__(self) -> None:
        self.lines: dict[Location, int] = {}
        self.duplicates: list[Duplicate] = []
        self._constructor = SafeConstructor()
        self._stack: set[int] = set()
        self.first_seen: dict[int, Location] = {}
        self.anchored: set[Location] = set()

    def build(self, node: Node, path: Location) -> Any:
        if id(node) in self._stack:
            raise YamlSyntaxError("an alias refers to a node that contains it", _line(node))
        self._stack.add(id(node))
        if id(node) in self.first_seen:  # an alias: the node was written elsewhere
            self.anchored.add(self.first_seen[id(node)])
        self.first_seen.setdefault(id(node), path)
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                out = []
                for i, item in enumerate(node.value):
                    self.lines.setdefault((*path, i), _line(item))
                    out.append(self.build(item, (*path, i)))
                return out
            return self._scalar(node)
        finally:
            self._stack.discard(id(node))

    def _scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise YamlSyntaxError(f"unexpected YAML node {node.tag}", _line(node))
        if node.tag in (_TIMESTAMP, _BINARY):
            return node.value
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as e:
            raise YamlSyntaxError(f"{e.problem}", _line(node)) from None
        except ValueError:  # an int of more digits than Python converts (4300)
            raise YamlSyntaxError(f"a number of {len(node.value):,} characters is too long "
                                  "to read: quote it to make it a string",
                                  _line(node)) from None

    def _key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise YamlSyntaxError("a map key must be a plain value, not a map or a list "
                                  "(an unquoted {{var}} with no value reads as one)",
                                  _line(node))
        value = self._scalar(node)
        # go-yaml -> JSON turns keys into strings; keep what the user wrote.
        return value if isinstance(value, str) else str(node.value)

    def _mapping(self, node: MappingNode, path: Location) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self._key(key_node)
            line = _line(key_node)
            if key in first:
                self.duplicates.append(Duplicate((*path, key), line, first[key]))
            first[key] = line
            self.lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key))
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise YamlSyntaxError("a merge key (<<) takes a map or a list of maps",
                                          _line(source))
                if id(source) in self.first_seen:
                    self.anchored.add(self.first_seen[id(source)])
                for key_node, value_node in source.value:
                    key = self._key(key_node)
                    if key not in out:
                        self.lines[(*path, key)] = _line(key_node)
                        out[key] = self.build(value_node, (*path, key))
        return out


def load(text: str, *, limits: yamlload.Limits = yamlload.DEFAULT) -> Loaded:
    """Parse one YAML document; raises `YamlSyntaxError` with the line of the fault."""
    try:
        node = yamlload.compose(text, limits=limits)
    except yamlload.YamlLimitError as e:
        raise YamlSyntaxError(e.message, e.line) from None
    except UnicodeError:  # a lone surrogate (`\ud800` in JSON) is not UTF-8 text
        raise YamlSyntaxError("invalid YAML: the text has characters that are not "
                              "Unicode (a lone surrogate?)", None) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or "invalid YAML"
        if e.context:
            started = (f" started at line {e.context_mark.line + 1}"
                       if e.context_mark is not None and e.context_mark is not mark else "")
            problem = f"{problem} ({e.context}{started})"
        raise YamlSyntaxError(f"invalid YAML: {problem}",
                              mark.line + 1 if mark is not None else None) from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError(f"invalid YAML: {e}", None) from None
    if node is None:
        return Loaded(None)
    builder = _Builder()
    data = builder.build(node, ())
    builder.lines[()] = _line(node)
    return Loaded(data, builder.lines, builder.duplicates, builder.anchored)
