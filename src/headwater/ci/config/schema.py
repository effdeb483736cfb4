"""The shape checks: a small declarative schema walked over the raw YAML data.

Concourse decodes a pipeline into Go structs with `UnmarshalStrict`: an unknown key, a
string where a number goes, a map where a list goes are all errors. Doing the same here
by hand (rather than with pydantic) lets every diagnostic carry the YAML line and path,
and lets the walk go on after a fault, so one run lists every error.

Each `Spec` checks one value. `null` is treated as absent (Go leaves the zero value),
and while validating a file whose vars are not given (`Ctx.placeholders`) a value that
is a whole `((var))` is accepted anywhere: it will be replaced before use.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.ci.config.diagnostics import Collector, quote
from headwater.ci.vars import VAR_RE, Location
from headwater.durations import DurationError, parse_duration

__all__ = [
    "AnyMap", "AnyValue", "Bool", "Choice", "Ctx", "Duration", "Int", "ListOf", "Obj", "Spec",
    "Str",
    "StrList", "StrMap", "VersionPin", "kind_of", "suggest",
]


@dataclass
class Ctx:
    out: Collector
    placeholders: bool = True  # a whole `((var))` passes any check (vars not given)
    anchored: set[Location] = field(default_factory=set)  # where aliased YAML is written


def kind_of(value: Any) -> str:
    """How messages name a value's type: `a string`, `a map`, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def suggest(word: str, choices: Any) -> str:
    """` (did you mean "trigger"?)` when one choice is close to `word`, else ""."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {quote(close[0])}?)" if close else ""


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and VAR_RE.fullmatch(value) is not None


class Spec:
    """Checks one value at `path`, reporting into `ctx.out`."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        raise NotImplementedError


def _wrong(ctx: Ctx, path: Location, expected: str, value: Any) -> None:
    ctx.out.error(path, f"must be {expected}, found {kind_of(value)}")


class Str(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float | bool) else ""
            ctx.out.error(path, f"must be a string, found {kind_of(value)}{hint}")


class Bool(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, bool):
            _wrong(ctx, path, "true or false", value)


@dataclass
class Int(Spec):
    minimum: int | None = None
    hint: str = ""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            _wrong(ctx, path, "a whole number", value)
        elif self.minimum is not None and value < self.minimum:
            ctx.out.error(path, f"must be {self.minimum} or more, found {value}{self.hint}")


@dataclass
class Duration(Spec):
    never: bool = False  # `never` is a value (check_every)

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, str):
            _wrong(ctx, path, "a duration string such as 30s or 1m30s", value)
            return
        if "((" in value or (self.never and value == "never"):
            return
        try:
            seconds = parse_duration(value)
        except DurationError as e:
            ctx.out.error(path, str(e) + ('; "never" turns checks off' if self.never else ""))
            return
        if seconds <= 0:
            ctx.out.error(path, f"must be longer than 0, found {quote(value)}")


class AnyValue(Spec):
    """Any value at all."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        return


class AnyMap(Spec):
    """Free-form data: a resource's `source`, a step's `params`."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, Mapping):
            _wrong(ctx, path, "a map", value)


class StrMap(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, Mapping):
            _wrong(ctx, path, "a map of names to strings", value)
            return
        for key, item in value.items():
            if not isinstance(item, str) and not (ctx.placeholders and is_placeholder(item)):
                Str().check(item, (*path, key), ctx)


class VersionPin(Spec):
    """A version: a map of strings, as Concourse wants (`ref: 123` must be quoted)."""

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, Mapping):
            _wrong(ctx, path, "a version: a map of fields to strings", value)
            return
        for key, item in value.items():
            if not isinstance(item, str):
                ctx.out.error((*path, key), f"the value {item!r} of {quote(key)} is not a "
                                             f"string: version fields are strings (quote it)")


class StrList(Spec):
    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, list):
            _wrong(ctx, path, "a list of strings", value)
            return
        for i, item in enumerate(value):
            Str().check(item, (*path, i), ctx)


@dataclass
class Choice(Spec):
    choices: tuple[str, ...]

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if value not in self.choices or not isinstance(value, str):
            wanted = ", ".join(quote(c) for c in self.choices)
            found = quote(value) if isinstance(value, str) else kind_of(value)
            ctx.out.error(path, f"must be one of {wanted}, found {found}")


@dataclass
class ListOf(Spec):
    item: Spec
    what: str = "a list"

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, list):
            _wrong(ctx, path, self.what, value)
            return
        for i, item in enumerate(value):
            self.item.check(item, (*path, i), ctx)


@dataclass
class Obj(Spec):
    """A map with known keys: unknown keys are errors (with a suggestion)."""

    what: str  # "a resource": used in messages
    fields: Mapping[str, Spec]
    required: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def check(self, value: Any, path: Location, ctx: Ctx) -> None:
        if not isinstance(value, Mapping):
            _wrong(ctx, path, f"{self.what}: a map", value)
            return
        self.check_keys(value, path, ctx, self.fields)
        self.check_required(value, path, ctx)

    def check_keys(self, value: Mapping[str, Any], path: Location, ctx: Ctx,
                   fields: Mapping[str, Spec]) -> None:
        for key, item in value.items():
            spec = fields.get(key)
            if spec is None:
                ctx.out.error((*path, key), f"unknown key {quote(key)} in {self.what}"
                                             f"{suggest(key, fields)}")
            elif item is not None and not (ctx.placeholders and is_placeholder(item)):
                spec.check(item, (*path, key), ctx)

    def check_required(self, value: Mapping[str, Any], path: Location, ctx: Ctx) -> None:
        for key in self.required:
            if value.get(key) in (None, ""):
                ctx.out.error(path, f"{self.what} needs {quote(key)}: it is "
                                    f"{'empty' if key in value else 'missing'}")
