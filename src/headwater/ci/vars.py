"""Pipeline vars, as Concourse reads them: `((var))`, `((var.field))`, `((source:var))`, `{{var}}`.

Two syntaxes, two moments (Concourse's `vars/template.go` and the old
`atc/template/template_resolver.go`):

- `{{name}}`, the old syntax, is replaced TEXTUALLY before the YAML is parsed, by the
  JSON encoding of the value (`resolve_old_style`), as old fly's `ResolveDeprecated`
  did: a string value becomes a double-quoted YAML scalar (a multi-line private key
  keeps its line breaks as `\n` escapes), a map a flow mapping. JSON never emits a raw
  line break, so every line of the file keeps its number. A name with no value is
  listed in `missing` (and stands as `null` meanwhile): the caller reports it as
  `unbound_message` says, old fly's `unbound variable in template: 'name'`.
- `((name))` is replaced in the parsed data (`interpolate`), in map keys and values. A
  value that is a whole `((name))` takes the var's value with its type (a map stays a
  map); inside a longer string the var is spliced as text, which Concourse allows for
  strings and numbers only.

A reference is `[source:]path[.field...]` (`parse_reference`, Concourse's
`vars.ParseReference`): `((git.uri))` is the field `uri` of the map var `git`, a
segment in double quotes may hold dots. Where values come from (`Vars.lookup`):

- no source: the vars given with `-l FILE`, `-v k=v`, `-y k=yaml` (`load_vars`: later
  files override earlier ones, `-v`/`-y` override files);
- `source:path`: var `path` of the named var source `source`. headwater has no
  credential manager: a named source is either given with the same flags under the name
  `source:path` (`-v vault:db-password=...`) or declared in the pipeline's
  `var_sources` with Concourse's `dummy` type (`config: {vars: {...}}`). A source known
  from neither is an error naming it;
- `.:name`: a local var set at run time by `load_var` (or `across`). Set time leaves it
  alone (`KEEP`); the build engine calls `interpolate` again with its own lookup.

Every string and number a var supplied is returned with the result
(`Interpolated.secrets`, see `secret_texts`), so the server can hide it again:
`Redactor(values).redact(text)` replaces each occurrence with `((redacted))`, longest
first. Values shorter than `Redactor.MIN_LENGTH` (3) characters are not redacted:
replacing every "1" or "no" of a log would garble it and hide nothing. Numbers count
as their text (a PIN `123456` is redacted, a port `22` is not), booleans as they are
written in YAML and JSON (`true`/`false`), as the issue asks and as Concourse, which
redacts every interpolated value by its text: a pipeline with a boolean var sees those
words redacted in all its logs.
Multi-line values are also redacted line by line, and in their JSON-escaped form, so a
secret printed in pieces or as JSON does not escape.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from headwater import yamlload
from headwater.errors import UserError

__all__ = [
    "KEEP",
    "NOT_FOUND",
    "REDACTED",
    "Interpolated",
    "Location",
    "Lookup",
    "OldStyle",
    "OldStyleTooLarge",
    "Redactor",
    "Reference",
    "UndefinedVarsError",
    "Vars",
    "VarsError",
    "interpolate",
    "load_vars",
    "parse_reference",
    "resolve_old_style",
    "secret_texts",
    "unbound_message",
    "var_names",
]

# Concourse's interpolationRegex; Go's `\w` is ASCII, `\pL` any letter: Python's `\w`.
VAR_RE: Final = re.compile(r'\(\((([-/.\w]+:)?[-/.:@"\w]+)\)\)')
OLD_VAR_RE: Final = re.compile(r"\{\{([-\w]+)\}\}")
REDACTED: Final = "((redacted))"

Location = tuple[str | int, ...]  # where in the data: ("jobs", 0, "plan", 2, "put")


class VarsError(UserError, ValueError):
    """A var that cannot be read or used; the message names it and what to do."""


class UndefinedVarsError(VarsError):
    """Vars the pipeline uses that were given no value: all of them, sorted."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(sorted(set(names)))
        super().__init__(f"undefined vars: {', '.join(self.names)}")


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


KEEP: Final = _Sentinel("KEEP")  # a lookup's answer: leave `((var))` as it is, silently
NOT_FOUND: Final = _Sentinel("NOT_FOUND")  # a lookup's answer: the var has no value


@dataclass(frozen=True)
class Reference:
    """`((source:path.field1.field2))`; `source` is "" for none, "." for local vars."""

    source: str
    path: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [_segment(p) for p in (self.path, *self.fields)]
        prefix = f"{self.source}:" if self.source else ""
        return prefix + ".".join(parts)


def _segment(seg: str) -> str:
    return json.dumps(seg) if any(c in seg for c in ",.:/ ") else seg


def _find_unquoted(text: str, char: str) -> int:
    quoted = False
    for i, c in enumerate(text):
        if c == char and not quoted:
            return i
        if c == '"':
            quoted = not quoted
    return -1


def _clean(segment: str) -> str:
    """Go's `path.Clean` as Concourse applies it to each segment of a reference."""
    segment = segment.strip().replace('"', "")
    if segment.startswith("/"):
        return posixpath.normpath(re.sub("/+", "/", segment))
    cleaned = posixpath.normpath("/" + re.sub("/+", "/", segment))[1:]
    return cleaned


def parse_reference(name: str) -> Reference:
    """Parse the inside of `((...))` as Concourse's `vars.ParseReference` does."""
    if name.count('"') % 2:
        raise VarsError(f"invalid var {name!r}: contains unclosed quotes")
    source = ""
    rest = name
    colon = _find_unquoted(rest, ":")
    if colon >= 0:
        source = rest[:colon].replace('"', "").strip()
        rest = rest[colon + 1:]
    segments: list[str] = []
    while True:
        dot = _find_unquoted(rest, ".")
        raw, rest = (rest, "") if dot < 0 else (rest[:dot], rest[dot + 1:])
        if not raw.strip().replace('"', ""):
            raise VarsError(f"invalid var {name!r}: empty field")
        segments.append(_clean(raw))
        if dot < 0:
            break
    return Reference(source, segments[0], tuple(segments[1:]))


def var_names(text: str) -> list[str]:
    """The names inside every `((...))` of a string, in order."""
    return [m.group(1) for m in VAR_RE.finditer(text)]


def traverse(value: Any, ref: Reference) -> Any:
    """Follow `ref.fields` into a map value, as Concourse's `vars.Traverse`."""
    for seg in ref.fields:
        if not isinstance(value, Mapping):
            raise VarsError(f"cannot access field {seg!r} of a non-map value "
                            f"({_kind(value)}) from var: {ref}")
        if seg not in value:
            raise VarsError(f"missing field {seg!r} in var: {ref}")
        value = value[seg]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return type(value).__name__


Lookup = Callable[[Reference], Any]
"""Answers a var's value, `NOT_FOUND`, or `KEEP`; raises `VarsError` for a bad use."""


@dataclass(frozen=True)
class Interpolated:
    """What `interpolate` gives back: the value and what happened on the way."""

    value: Any
    secrets: frozenset[str] = frozenset()  # every string a var supplied
    missing: Mapping[str, Location] = field(default_factory=dict)  # name -> first use
    errors: tuple[tuple[Location, str], ...] = ()

    def check(self) -> Any:
        """The value, or the error that says what is wrong (missing vars first)."""
        if self.missing:
            raise UndefinedVarsError(self.missing)
        if self.errors:
            raise VarsError("; ".join(message for _, message in self.errors))
        return self.value


class _Interpolator:
    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.secrets: set[str] = set()
        self.missing: dict[str, Location] = {}
        self.errors: list[tuple[Location, str]] = []

    def walk(self, node: Any, where: Location) -> Any:
        if isinstance(node, Mapping):
            out: dict[Any, Any] = {}
            for key, value in node.items():
                new_key = self.string(key, (*where, key)) if isinstance(key, str) else key
                if not isinstance(new_key, str | int | float | bool) and new_key is not None:
                    self.errors.append(((*where, key), f"key {key!r}: a var used as a "
                                        f"map key must be a string, not a {_kind(new_key)}"))
                    new_key = key
                out[new_key] = self.walk(value, (*where, key))
            return out
        if isinstance(node, list):
            return [self.walk(item, (*where, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self.string(node, where)
        return node

    def resolve(self, name: str, where: Location) -> Any:
        try:
            ref = parse_reference(name)
            value = self.lookup(ref)
            if value is KEEP or value is NOT_FOUND:
                if value is NOT_FOUND:
                    self.missing.setdefault(str(ref), where)
                return value
            value = traverse(value, ref)
        except VarsError as e:
            self.errors.append((where, str(e)))
            return NOT_FOUND
        self.secrets.update(secret_texts(value))
        return value

    def string(self, text: str, where: Location) -> Any:
        if "((" not in text:
            return text
        whole = VAR_RE.fullmatch(text)
        if whole:
            value = self.resolve(whole.group(1), where)
            return text if value is KEEP or value is NOT_FOUND else value

        def splice(m: re.Match[str]) -> str:
            value = self.resolve(m.group(1), where)
            if value is KEEP or value is NOT_FOUND:
                return m.group(0)
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.errors.append((where, f"cannot interpolate a {_kind(value)} value "
                                           f"inside a string from var: {m.group(1)}"))
                return m.group(0)
            return str(value)

        return VAR_RE.sub(splice, text)


def secret_texts(value: Any) -> list[str]:
    """The texts a var's value would show when printed, to redact: its strings, its
    numbers (as `str` writes them) and its booleans (as YAML and JSON write them), at
    any depth; nulls are left out. Texts shorter than `Redactor.MIN_LENGTH` are dropped
    by the redactor."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in secret_texts(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in secret_texts(item)]
    return [str(value)]


def interpolate(obj: Any, lookup: Lookup, *, where: Location = ()) -> Interpolated:
    """Replace every `((var))` of `obj` (keys and values, recursively) using `lookup`.

    `obj` is not changed; a var `lookup` answers `NOT_FOUND` for is left in place and
    listed in `missing` with the first place it is used, one it answers `KEEP` for is
    left in place silently (local vars at set time).
    """
    worker = _Interpolator(lookup)
    value = worker.walk(obj, where)
    return Interpolated(value, frozenset(worker.secrets), dict(worker.missing),
                        tuple(worker.errors))


@dataclass(frozen=True)
class Vars:
    """The vars of a pipeline at set time: unnamed ones, and named sources.

    Built from the mapping `load_vars` answers (and the API carries): a key `source:name`
    belongs to the named source `source`, any other key is an unnamed var.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, mapping: Mapping[str, Any] | None) -> Vars:
        values: dict[str, Any] = {}
        sources: dict[str, dict[str, Any]] = {}
        for key, value in (mapping or {}).items():
            source, sep, name = key.partition(":")
            if sep and source and name:
                sources.setdefault(source, {})[name] = value
            else:
                values[key] = value
        return cls(values, sources)

    def with_sources(self, more: Mapping[str, Mapping[str, Any]]) -> Vars:
        """These vars and more named sources (the ones given here win, name by name)."""
        merged = {name: dict(values) for name, values in more.items()}
        for name, values in self.sources.items():
            merged.setdefault(name, {}).update(values)
        return Vars(self.values, merged)

    def lookup(self, ref: Reference) -> Any:
        if ref.source == ".":
            return KEEP
        if not ref.source:
            return self.values.get(ref.path, NOT_FOUND)
        if ref.source not in self.sources:
            known = ", ".join(sorted(self.sources)) or "none"
            raise VarsError(
                f"unknown var source {ref.source!r} in (({ref})): declare it in var_sources "
                f"(type dummy) or give its vars as -v {ref.source}:{ref.path}=VALUE "
                f"(known sources: {known})")
        return self.sources[ref.source].get(ref.path, NOT_FOUND)


@dataclass(frozen=True)
class OldStyle:
    """`resolve_old_style`'s answer: the text, and the `{{names}}` with no value."""

    text: str
    missing: tuple[tuple[str, int], ...] = ()  # (name, 1-based line), in order
    secrets: frozenset[str] = frozenset()


_SURROGATES = re.compile(r"\\\\|\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})")


def _json_for_yaml(value: Any) -> str:
    """JSON that YAML reads back as the same value, on one line.

    ASCII only (YAML 1.1 takes U+0085, U+2028 and U+2029 as line breaks), with the
    UTF-16 surrogate pairs JSON uses for astral characters rewritten as YAML's `\\U`.
    """
    text = json.dumps(value, ensure_ascii=True)

    def astral(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return m.group(0)
        code = 0x10000 + ((int(m.group(1), 16) - 0xD800) << 10) + int(m.group(2), 16) - 0xDC00
        return f"\\U{code:08x}"

    return _SURROGATES.sub(astral, text)


def unbound_message(name: str) -> str:
    """Old fly's error for a `{{name}}` with no value, and what to do about it."""
    return (f"unbound variable in template: '{name}' (give it a value with -v, -y or -l; "
            f"the old double-brace syntax is deprecated: write (({name})))")


class OldStyleTooLarge(VarsError):
    """The text with its `{{vars}}` in place would be over `max_chars`; `line` is the
    var that takes it over."""

    def __init__(self, line: int, max_chars: int) -> None:
        super().__init__(f"with its {{{{vars}}}} in place, the pipeline is larger than "
                         f"{max_chars:,} characters: refused (--yaml-max-bytes raises the "
                         f"limit)")
        self.line = line


def resolve_old_style(text: str, values: Mapping[str, Any], *,
                      max_chars: int | None = None) -> OldStyle:
    """Replace every `{{name}}` by the JSON of `values[name]`, or `null` when it has none.

    Raises `OldStyleTooLarge` before the text grows past `max_chars` (a big var used
    many times)."""
    missing: list[tuple[str, int]] = []
    secrets: set[str] = set()
    encoded: dict[str, str] = {}
    size = len(text)
    # Lines counted as the matches come, in order: a count from the start for each one
    # would take quadratic time on a file of many `{{vars}}`.
    position, line = 0, 1

    def replace(m: re.Match[str]) -> str:
        nonlocal size, position, line
        line += text.count("\n", position, m.start())
        position = m.start()
        name = m.group(1)
        if name not in values:
            missing.append((name, line))
            return "null"
        if name not in encoded:
            secrets.update(secret_texts(values[name]))
            encoded[name] = _json_for_yaml(values[name])
        size += len(encoded[name]) - len(m.group(0))
        if max_chars is not None and size > max_chars:
            raise OldStyleTooLarge(line, max_chars)
        return encoded[name]

    return OldStyle(OLD_VAR_RE.sub(replace, text), tuple(missing), frozenset(secrets))


# -- vars from the command line -----------------------------------------------------------


def _assign(target: dict[str, Any], name: str, value: Any, flag: str) -> None:
    """`-v a.b=c` sets the field `b` of the map var `a`, as fly does."""
    try:
        ref = parse_reference(name)
    except VarsError as e:
        raise VarsError(f"{flag} {name}=...: {e}") from None
    key = f"{ref.source}:{ref.path}" if ref.source else ref.path
    if not ref.fields:
        target[key] = value
        return
    node = target.setdefault(key, {})
    for seg in ref.fields[:-1]:
        if not isinstance(node, dict):
            raise VarsError(f"{flag} {name}=...: {key} is not a map")
        node = node.setdefault(seg, {})
    if not isinstance(node, dict):
        raise VarsError(f"{flag} {name}=...: {key} is not a map")
    node[ref.fields[-1]] = value


class _VarsLoader(yamlload.Loader):
    """YAML for vars: plain data only, so the vars travel as JSON. A timestamp stays the
    string it was written as (as go-yaml leaves it), `!!binary` stays its base64 text.
    Bounded as every YAML (`headwater.yamlload`): an alias bomb is an error."""


_VarsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yamlload.Loader.yaml_implicit_resolvers.items()}


def _as_text(loader: _VarsLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_VarsLoader.yaml_constructors = {
    **yamlload.Loader.yaml_constructors,
    **dict.fromkeys(("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"), _as_text)}


def _pair(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise VarsError(f"{flag} {item!r}: expected NAME=VALUE")
    return name, value


def load_vars(strings: Sequence[str] = (), yamls: Sequence[str] = (),
              files: Sequence[Path] = (), *,
              limits: yamlload.Limits = yamlload.DEFAULT) -> dict[str, Any]:
    """The vars of `-v k=v` (strings), `-y k=yaml` (YAML values) and `-l FILE` (YAML maps).

    Later files override earlier ones; `-v` and `-y` override files, `-y` overrides `-v`
    for the same name. The answer is plain JSON-able data (see `Vars.of`). Raises
    `VarsError` naming the file or flag at fault, `OSError` for an unreadable file.
    """
    out: dict[str, Any] = {}
    for path in files:
        try:
            text = yamlload.read_text(Path(path), limits=limits)
            data = yamlload.load(text, filename=str(path), limits=limits, loader=_VarsLoader)
        except yamlload.YamlLimitError as e:
            raise VarsError(str(e)) from None
        except UnicodeDecodeError:
            raise VarsError(f"{path}: not UTF-8 text") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e)
            raise VarsError(f"{path}:{where}: not YAML: {problem}") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise VarsError(f"{path}: a vars file must be a YAML map of names to values, "
                            f"found a {_kind(data)}")
        for key, value in data.items():
            _assign(out, str(key), value, f"-l {path}:")
    for item in strings:
        name, value = _pair(item, "-v")
        _assign(out, name, value, "-v")
    for item in yamls:
        name, raw = _pair(item, "-y")
        try:
            value = yamlload.load(raw, filename=f"-y {name}", limits=limits,
                                  loader=_VarsLoader)
        except yamlload.YamlLimitError as e:
            raise VarsError(str(e)) from None
        except yaml.YAMLError as e:
            raise VarsError(f"-y {name}=...: not YAML: {getattr(e, 'problem', e)}") from None
        _assign(out, name, value, "-y")
    return out


# -- redaction ----------------------------------------------------------------------------


class Redactor:
    """Replaces the values that came from vars with `((redacted))`, longest first."""

    MIN_LENGTH: Final = 3

    def __init__(self, values: Iterable[str | int | float]) -> None:
        variants: set[str] = set()
        for raw in values:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                continue
            value = str(raw)
            candidates = {value, value.strip(), json.dumps(value)[1:-1]}
            if "\n" in value:
                candidates.update(line.strip() for line in value.splitlines())
            variants.update(c for c in candidates if len(c) >= self.MIN_LENGTH)
        ordered = sorted(variants, key=lambda v: (-len(v), v))
        self._variants = ordered
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where `redact` replaces something in `text`, in order."""
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                yield match.span()

    def held_back(self, text: str) -> int:
        """The length of the longest end of `text` that begins a value (and could be
        completed by what comes next); 0 when none."""
        best = 0
        for value in self._variants:
            for length in range(min(len(value) - 1, len(text)), best, -1):
                if text.endswith(value[:length]):
                    best = length
                    break
        return best

    def redact_obj(self, obj: Any) -> Any:
        """`redact` applied to every string (keys too) of JSON-like data."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact_obj(k): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


class StreamRedactor:
    """`Redactor` over output that arrives in chunks (a task's stdout): a value cut in
    two by a chunk boundary is still caught. The end of a chunk that could begin a
    value is held back until the next chunk of the same stream, or `flush`."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._held: dict[Any, str] = {}

    def feed(self, stream: Any, text: str) -> str:
        """What of `text` (after what was held for `stream`) can be shown now, redacted."""
        text = self._held.pop(stream, "") + text
        cut = len(text) - self.redactor.held_back(text)
        for start, end in self.redactor.spans(text):  # never cut through a match
            if start >= cut:
                break
            if end > cut:
                cut = start
                break
        if cut < len(text):
            self._held[stream] = text[cut:]
        return self.redactor.redact(text[:cut])

    def flush(self, streams: Callable[[Any], bool]) -> dict[Any, str]:
        """The held ends of the streams `streams` selects, redacted; they are let go."""
        out = {}
        for stream in [k for k in self._held if streams(k)]:
            out[stream] = self.redactor.redact(self._held.pop(stream))
        return out
