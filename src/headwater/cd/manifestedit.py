"""Minimal textual edits of manifest files: the Git diff is exactly the changed value.

Flux v1 rewrote files with kubeyaml (ruamel.yaml load, change, dump), which keeps
most of a file but re-flows what ruamel re-emits. Here nothing is re-dumped:
ruamel.yaml composes the text only to say where each value starts and ends (its
nodes' marks count characters of the text as given: CRLF, BOM and all), and the new
value is spliced in at that place in the style it had (plain, '...' or "...").
Comments, key order, indentation, line endings and other documents stay byte for byte.

Every edit is then checked the other way round (DESIGN.md §7): the old and new text
are read with PyYAML's CSafeLoader, and the new data must be the old data with just
the intended change. An edit that would change anything else (a value shared
through a YAML anchor, say) raises EditError instead of being written.

Which object is meant follows kubeyaml: kind compared without case, the first
match wins, a `List`'s items are searched in place, and a document without a
namespace matches namespace None or "default".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from headwater import yamlload
from headwater.cd.workloads import (
    WORKLOAD_KINDS,
    WorkloadError,
    marked_fields,
    parse_setter,
    pod_spec_path,
)
from headwater.errors import UserError

Node = Any  # a ruamel.yaml node: id, value, start_mark/end_mark, style, flow_style
Path = tuple[str | int, ...]
_Change = str | Mapping[str, str] | None


class EditError(UserError):
    """An edit that cannot be made: what was asked, and what is in the way."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message, line)
        self.message, self.line = message, line

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


def set_image(
    text: str, *, kind: str, namespace: str | None, name: str, container: str, image: str,
    limits: yamlload.Limits = yamlload.DEFAULT,
) -> str:
    """`text` with the image of `container` (a container or init container) of one
    workload set to `image`. Unchanged if it already is; EditError if the workload,
    the container or its `image:` field is not in the file."""
    if kind.lower() not in {k.lower() for k in WORKLOAD_KINDS}:
        raise EditError(f"cannot set images of a {kind}: Flux updates only "
                        f"{', '.join(WORKLOAD_KINDS)}")
    docs = _compose(text, limits)
    found = _find_object(docs, kind, namespace, name)
    workload = _describe(kind, namespace, name)
    spec_path = pod_spec_path(kind)
    spec = _at(found.node, spec_path)
    for field in ("containers", "initContainers"):
        entries = _value(spec, field)
        entries = entries.value if _is(entries, "sequence") else []
        i = next((i for i, c in enumerate(entries) if _scalar(c, "name") == container), None)
        if i is not None:
            break
    else:
        raise EditError(f"{workload} has no container or init container {container!r}",
                        line=found.node.start_mark.line + 1)
    pair = _pair(entries[i], "image")
    if pair is None:
        raise EditError(f"{workload}: container {container!r} has no image field",
                        line=entries[i].start_mark.line + 1)
    path = (*found.path, *spec_path, field, i, "image")
    return _edit(text, [_replace_scalar(text, *pair, image)],
                 lambda data: _set_at(data, found.doc, path, image), limits=limits,
                 what=f"the image of {workload} container {container!r}")


def set_setter(text: str, *, marker: str, value: str,
               limits: yamlload.Limits = yamlload.DEFAULT) -> str:
    """`text` with every field marked `# {"$imagepolicy": "<marker>"}` set from the
    image `value`, as the image-automation-controller's setters do: a `ns:name`
    field gets the whole image, `ns:name:name` its name, `ns:name:tag` its tag and
    `ns:name:digest` its digest. `marker` is `ns:name` (every form) or one form.
    EditError if no field carries it, or `value` lacks the part a field needs."""
    policy, only = parse_setter(marker)
    every_form = only == "image" and marker == policy
    docs = _compose(text, limits)
    splices: list[_Splice] = []
    changes: list[tuple[int, Path, str]] = []
    marked = False
    try:
        for d, doc in enumerate(docs):
            for path, key, node, setter in marked_fields(doc, text):
                setter_policy, form = parse_setter(setter)
                if setter_policy != policy or not (every_form or form == only):
                    continue
                marked = True
                new = image_part(value, form, line=node.start_mark.line + 1)
                if node.value != new:
                    splices.append(_replace_scalar(text, key, node, new))
                    changes.append((d, path, new))
    except WorkloadError as e:
        raise EditError(e.message, line=e.line) from e
    if not marked:
        raise EditError(f'no field is marked # {{"$imagepolicy": "{marker}"}}')

    def expect(data: list[Any]) -> None:
        for d, path, new in changes:
            _set_at(data, d, path, new)

    return _edit(text, splices, expect, what=f"the fields marked {marker}", limits=limits)


def image_part(image: str, form: str, *, line: int | None = None) -> str:
    """The part of `image` that a setter of `form` writes (go-containerregistry's
    split: the digest after `@`, the tag after the last `:` of the name)."""
    rest, _, digest = image.partition("@")
    colon = rest.rfind(":")
    name, tag = (rest[:colon], rest[colon + 1:]) if colon > rest.rfind("/") else (rest, "")
    part = {"image": image, "name": name, "tag": tag, "digest": digest}[form]
    if not part:
        raise EditError(f"{image} has no {form} for a field marked with :{form}", line=line)
    return part


def set_annotations(
    text: str, *, kind: str, namespace: str | None, name: str,
    changes: Mapping[str, str | None], limits: yamlload.Limits = yamlload.DEFAULT,
) -> str:
    """`text` with the annotations of one object changed: a string adds or replaces
    (written double-quoted), None removes (nothing if absent).

    Existing `metadata.annotations` are edited in place, in their style; without
    them an `annotations:` block is added at the end of `metadata`, indented as the
    file is. When the last annotation goes, so does the `annotations` key: kubeyaml
    deletes `metadata.annotations` when it ends up empty."""
    docs = _compose(text, limits)
    found = _find_object(docs, kind, namespace, name)
    meta_pair = _pair(found.node, "metadata")
    workload = _describe(kind, namespace, name)
    where = f"{workload}: metadata"
    if meta_pair is None or not _is(meta_pair[1], "mapping"):
        raise EditError(f"{where} is not a mapping", line=found.node.start_mark.line + 1)
    ann_pair = _pair(meta_pair[1], "annotations")
    current: dict[str, Node] = {}
    if ann_pair is not None and _is(ann_pair[1], "mapping"):
        current = {k.value: v for k, v in ann_pair[1].value}
    elif ann_pair is not None and ann_pair[1].tag != "tag:yaml.org,2002:null":
        raise EditError(f"{where}.annotations is not a mapping",
                        line=ann_pair[1].start_mark.line + 1)
    effective = {k: v for k, v in changes.items()
                 if (v is None and k in current)
                 or (v is not None and (k not in current or current[k].value != v))}
    if not effective:
        return text
    remain = any(v is not None for v in changes.values()) or any(
        k not in changes for k in current)
    if ann_pair is not None and _is(ann_pair[1], "mapping") and remain:
        splices = _mapping_edits(text, *ann_pair, effective)
    else:  # the annotations key comes, goes, or replaces a null
        new = {k: v for k, v in changes.items() if v is not None} or None
        splices = _mapping_edits(text, *meta_pair, {"annotations": new})

    def expect(data: list[Any]) -> None:
        metadata = _get_at(data, found.doc, (*found.path, "metadata"))
        notes = metadata.get("annotations") or {}
        for k, v in effective.items():
            if v is None:
                notes.pop(k, None)
            else:
                notes[k] = v
        if notes:
            metadata["annotations"] = notes
        else:
            metadata.pop("annotations", None)

    return _edit(text, splices, expect, what=f"the annotations of {workload}",
                 limits=limits)


# -- finding things


def _compose(text: str, limits: yamlload.Limits) -> list[Node]:
    # ruamel composes without limits, and the walks below follow aliases: the bounded
    # loader vets the text first (a bomb is an EditError at its line, not an endless walk).
    try:
        for _ in yamlload.compose_all(text, limits=limits):
            pass
    except yamlload.YamlLimitError as e:
        raise EditError(e.message, line=e.line) from e
    except (yaml.YAMLError, UnicodeError):
        pass  # ruamel's own words below
    try:
        return list(YAML(typ="rt", pure=True).compose_all(text))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise EditError(f"invalid YAML: {e.problem or e.context}",
                        line=mark.line + 1 if mark else None) from e
    except YAMLError as e:
        raise EditError(f"invalid YAML: {e}") from e


def _is(node: Node, kind: str) -> bool:
    return node is not None and node.id == kind


def _pair(node: Node, key: str) -> tuple[Node, Node] | None:
    if not _is(node, "mapping"):
        return None
    return next(((k, v) for k, v in node.value if _is(k, "scalar") and k.value == key), None)


def _value(node: Node, key: str) -> Node:
    pair = _pair(node, key)
    return pair[1] if pair else None


def _scalar(node: Node, key: str) -> str | None:
    value = _value(node, key)
    return value.value if _is(value, "scalar") else None


def _at(node: Node, path: Path) -> Node:
    for key in path:
        node = _value(node, str(key))
    return node


@dataclass(frozen=True, slots=True)
class _Found:
    doc: int  # which document of the stream
    path: Path  # from the document to the object: () or ("items", i)
    node: Node


def _objects(doc: Node) -> Iterator[tuple[Path, Node]]:
    kind = _scalar(doc, "kind")
    items = _value(doc, "items")
    if kind is not None and kind.endswith("List") and _is(items, "sequence"):
        for i, item in enumerate(items.value):
            yield ("items", i), item
    else:
        yield (), doc


def _find_object(docs: list[Node], kind: str, namespace: str | None, name: str) -> _Found:
    for d, doc in enumerate(docs):
        for path, obj in _objects(doc):
            if (_scalar(obj, "kind") or "").lower() != kind.lower():
                continue
            metadata = _value(obj, "metadata")
            ns = _scalar(metadata, "namespace") or None
            if _scalar(metadata, "name") == name and (
                    ns == namespace or (ns is None and namespace == "default")):
                return _Found(d, path, obj)
    raise EditError(f"{_describe(kind, namespace, name)} is not in this file")


def _describe(kind: str, namespace: str | None, name: str) -> str:
    """An object as Flux names it: namespace:kind/name."""
    return f"{namespace}:{kind.lower()}/{name}" if namespace else f"{kind.lower()}/{name}"


# -- changing things


@dataclass(frozen=True, slots=True)
class _Splice:
    start: int
    end: int
    text: str


def _replace_scalar(
    text: str, key: Node, node: Node, value: str, *, double: bool = False
) -> _Splice:
    """`value` in place of a scalar: double-quoted if `double`, else in the scalar's
    style (a block scalar, | or >, becomes one line: plain if it can be)."""
    if not _is(node, "scalar"):
        raise EditError(f"{key.value} is not a single value", line=node.start_mark.line + 1)
    if node.start_mark.index < key.end_mark.index:
        raise EditError(f"{key.value} is a YAML alias: edit the value where its anchor is",
                        line=key.start_mark.line + 1)
    splice = _value_splice(text, key, node, "")
    if node.style in ("|", ">"):  # its text ends with line breaks that stay
        splice = _Splice(splice.start, len(text[:splice.end].rstrip()), "")
    if double:
        written = _double_quoted(value)
    elif node.style == "'" and value.isprintable():
        written = "'" + value.replace("'", "''") + "'"
    elif node.style in (None, "|", ">") and _plain_ok(value):
        written = value
    else:
        written = _double_quoted(value)
    return _Splice(splice.start, splice.end, splice.text + written)


def _value_splice(text: str, key: Node, node: Node, new: str) -> _Splice:
    """`new` in place of the text of `node`, the value of `key`; after its anchor
    (&a) and tag (!t) if it has them, and after a space if it was empty."""
    start, end = _value_span(text, key, node)
    while text[start:start + 1] in ("&", "!"):
        while start < end and not text[start].isspace():
            start += 1
        while start < end and text[start].isspace():
            start += 1
    return _Splice(start, end, (" " if start == end else "") + new)


def _value_span(text: str, key: Node, node: Node) -> tuple[int, int]:
    """Where the value of `key` is written. An empty one is right after the colon:
    the parser marks it there or at the next token, depending on what follows."""
    if _is(node, "scalar") and node.value == "" and node.style is None:
        colon = text.index(":", key.end_mark.index) + 1
        return colon, colon
    return node.start_mark.index, node.end_mark.index


def _plain_ok(value: str, *, key: bool = False) -> bool:
    """Whether `value` reads back as this string when written plain, in a block or a
    flow mapping, with a comment after it."""
    if not value or value != value.strip() or not value.isprintable():
        return False
    docs = (f"{value}: v\n", f"{{{value}: v}}") if key else (f"k: {value} # c\n",
                                                            f"{{k: {value}}}")
    try:
        return all(
            yaml.load(doc, Loader=yaml.CSafeLoader) == ({value: "v"} if key else {"k": value})
            for doc in docs)
    except yaml.YAMLError:
        return False


def _double_quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar: printable text as it is, the rest escaped."""
    escaped = (
        _ESCAPES.get(ch) or (ch if ch.isprintable() else
                             f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        for ch in value)
    return '"' + "".join(escaped) + '"'


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _mapping_edits(
    text: str, key: Node, node: Node, changes: Mapping[str, _Change]
) -> list[_Splice]:
    """Set or remove entries of the mapping `node`, the value of `key`: a string is
    a scalar value, a mapping a nested mapping of strings, None removes."""
    if node.flow_style or not node.value:
        return _flow_edits(text, node, changes)
    splices = []
    added: dict[str, str | Mapping[str, str]] = {}
    current = {k.value: (k, v) for k, v in node.value}
    for name, value in changes.items():
        entry = current.get(name)
        if entry is None:
            if value is not None:
                added[name] = value
        elif value is None:
            splices.append(_remove_line_entry(text, *entry))
        elif isinstance(value, str):
            splices.append(_replace_scalar(text, *entry, value, double=True))
        else:  # a null becomes a block mapping, under its key
            k, v = entry
            end = _value_span(text, k, v)[1]
            at, newline_first = _after_line(text, end)
            indent, step = _indentation(key, node)
            splices += [_Splice(k.end_mark.index, end, ":"), _Splice(
                at, at, _block_text(text, value, indent + step, step, newline_first))]
    if added:
        at, newline_first = _after_line(text, _end(node))
        indent, step = _indentation(key, node)
        splices.append(_Splice(at, at, _block_text(text, added, indent, step, newline_first)))
    return splices


def _flow_edits(text: str, node: Node, changes: Mapping[str, _Change]) -> list[_Splice]:
    """The same in a flow mapping ({...}): each entry removed with the comma that
    joins it to the rest, new entries after the last one, in its key style."""
    pairs = list(node.value)
    splices = []
    removed = [k.value in changes and changes[k.value] is None for k, _ in pairs]
    for i, (k, v) in enumerate(pairs):
        value = changes.get(k.value)
        if isinstance(value, str):
            splices.append(_replace_scalar(text, k, v, value, double=True))
        elif value is not None:
            splices.append(_value_splice(text, k, v, _flow_text(value, json_keys=False)))
        if removed[i] and (i == len(pairs) - 1 or not removed[i + 1]):
            first = i
            while first > 0 and removed[first - 1]:
                first -= 1
            if i + 1 < len(pairs):
                start, end = pairs[first][0].start_mark.index, pairs[i + 1][0].start_mark.index
            elif first > 0:
                start, end = pairs[first - 1][1].end_mark.index, v.end_mark.index
            else:
                start, end = pairs[0][0].start_mark.index, v.end_mark.index
            splices.append(_Splice(start, end, ""))
    json_keys = bool(pairs) and pairs[0][0].style == '"'
    added = [f"{_key_text(name, quote=json_keys)}: "
             + (_double_quoted(value) if isinstance(value, str)
                else _flow_text(value, json_keys=json_keys))
             for name, value in changes.items()
             if value is not None and name not in {k.value for k, _ in pairs}]
    if added and pairs:
        lead = ", " if not all(removed) else ""
        at = pairs[-1][1].end_mark.index
        splices.append(_Splice(at, at, lead + ", ".join(added)))
    elif added:
        at = node.end_mark.index - 1
        if text[at:at + 1] != "}":
            raise EditError("cannot find the end of an empty mapping",
                            line=node.start_mark.line + 1)
        splices.append(_Splice(at, at, ", ".join(added)))
    return splices


def _flow_text(entries: Mapping[str, str], *, json_keys: bool) -> str:
    return "{" + ", ".join(f"{_key_text(k, quote=json_keys)}: {_double_quoted(v)}"
                           for k, v in entries.items()) + "}"


def _key_text(key: str, *, quote: bool) -> str:
    return key if not quote and _plain_ok(key, key=True) else _double_quoted(key)


def _remove_line_entry(text: str, key: Node, value: Node) -> _Splice:
    """The lines of one entry of a block mapping, from its key to its value's end."""
    start = _line_start(text, key.start_mark.index)
    if text[start:key.start_mark.index].strip():
        raise EditError(f"{key.value} does not start its line: cannot remove it alone",
                        line=key.start_mark.line + 1)
    end, _ = _after_line(text, _end(value))
    return _Splice(start, end, "")


def _indentation(key: Node, node: Node) -> tuple[int, int]:
    """The column of the entries of the block mapping `node` (the value of `key`),
    and the step it is indented by from its key: the file's indentation."""
    indent = node.value[0][0].start_mark.column
    return indent, indent - key.start_mark.column if indent > key.start_mark.column else 2


def _block_text(text: str, entries: Mapping[str, str | Mapping[str, str]], indent: int,
                step: int, newline_first: bool) -> str:
    """Lines of block mapping entries at `indent`, a nested mapping `step` deeper,
    with the file's line breaks."""
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = [nl] if newline_first else []
    for name, value in entries.items():
        if isinstance(value, str):
            lines.append(f"{' ' * indent}{_key_text(name, quote=False)}: "
                         f"{_double_quoted(value)}{nl}")
        else:
            lines.append(f"{' ' * indent}{_key_text(name, quote=False)}:{nl}")
            lines.append(_block_text(text, value, indent + step, step, False))
    return "".join(lines)


def _end(node: Node) -> int:
    """Where a node's own text ends. A block collection ends with its last entry;
    the parser's end mark would also take the blank lines and comments after it."""
    if node.id in ("mapping", "sequence") and not node.flow_style and node.value:
        last = node.value[-1]
        return _end(last[1] if node.id == "mapping" else last)
    return int(node.end_mark.index)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _after_line(text: str, index: int) -> tuple[int, bool]:
    """The start of the line after the one `index` ends (itself if at a line start),
    and whether a line break must be written first (the file does not end with one)."""
    if index > 0 and text[index - 1] == "\n":
        return index, False
    newline = text.find("\n", index)
    return (len(text), True) if newline < 0 else (newline + 1, False)


def _edit(text: str, splices: list[_Splice], expect: Callable[[list[Any]], None],
          *, what: str, limits: yamlload.Limits) -> str:
    """The spliced text, checked: its data is the old data changed by `expect`."""
    if not splices:
        return text
    new = text
    ordered = sorted(splices, key=lambda s: (s.start, s.end), reverse=True)
    for later, earlier in itertools.pairwise(ordered):
        if earlier.end > later.start:
            raise EditError(f"internal: overlapping edits of {what}")
    for s in ordered:
        new = new[:s.start] + s.text + new[s.end:]
    before, after = _load(text, limits), _load(new, limits, edited=what)
    expect(before)
    if not _same(before, after):
        raise EditError(f"changing {what} would change other values too "
                        "(are they shared through a YAML anchor?)")
    return new


def _load(text: str, limits: yamlload.Limits, *, edited: str | None = None) -> list[Any]:
    try:
        return yamlload.load_all(text, limits=limits)
    except yaml.YAMLError as e:
        if edited:
            raise EditError(f"internal: changing {edited} gave invalid YAML: {e}") from e
        mark = getattr(e, "problem_mark", None)
        raise EditError(f"invalid YAML: {getattr(e, 'problem', e)}",
                        line=mark.line + 1 if mark else None) from e


def _same(a: Any, b: Any) -> bool:
    """Equal data, where a NaN (`.nan`) equals a NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b or (a != a and b != b))  # noqa: PLR0124 (NaN is not itself)


def _get_at(data: list[Any], doc: int, path: Path) -> Any:
    node = data[doc]
    for key in path:
        node = node[key]
    return node


def _set_at(data: list[Any], doc: int, path: Path, value: Any) -> None:
    _get_at(data, doc, path[:-1])[path[-1]] = value
