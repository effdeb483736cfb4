"""Render a Git path into Kubernetes objects that remember where they came from.

Flux v1's `--git-path` and a Flux v2 Kustomization's `path` mean the same thing:
every manifest file under these paths, or a kustomize build where a directory holds
a kustomization file. `render` does that and tags each object with its file and
line, so that any later failure (apply, policy, image update) can point at the
document a person must edit. Mistakes are collected, not raised one at a time: a
broken commit shows all its broken files at once, and stays broken until Git changes.

Files are read once, with PyYAML's safe loader node by node: composing a node gives
the document's start line, constructing it gives the plain data that is applied
(DESIGN.md §7). Reading is bounded (`headwater.yamlload`): a file or a kustomize
output over the size limit, an alias bomb or deep nesting is a RenderError at its
line, never a frozen controller. kustomize runs as `kubectl kustomize`, one process
per kustomization directory, all of them at the same time in worker threads. `render`
blocks: the event loop calls it through `asyncio.to_thread` (cd/sync.py), so neither
the file reads nor kustomize ever hold the loop (tests/cd/test_off_the_loop.py).
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from headwater import yamlload
from headwater.errors import HeadwaterError, UserError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Manifest:
    """One Kubernetes object and the place in Git that defines it.

    `source` is the file relative to the repository root (for kustomize output, the
    kustomization file); `line` is where the document starts in it (for kustomize
    output, in the rendered stream)."""

    obj: dict[str, Any]
    source: str
    line: int

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        """None when absent or empty: both leave the choice to whoever applies it."""
        namespace = self.obj["metadata"].get("namespace")
        return str(namespace) if namespace else None

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


class RenderError(UserError):
    """A mistake in Git that a person can fix: where it is and what is wrong.

    `line` is None when the problem is a whole path (missing, outside the repository)
    or a whole kustomization, and then `str()` is just "<source>: <message>"."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        super().__init__(source, line, message)
        self.source, self.line, self.message = source, line, message

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.message}"


class _OverLimit(RenderError):
    """Over a `yamlload` limit: no second reading as JSON either."""


class _NotInGit(RenderError):
    """Not a mistake in Git: kubectl missing or hung, a file unreadable."""


class RenderFailed(HeadwaterError):
    """Every RenderError of one render, one per line, so all are fixed in one commit.

    Raised as itself when one of them is not a mistake in Git (kubectl missing or hung,
    a file unreadable): the controller retries it. When every one is, as `RenderErrors`,
    a UserError: the controller waits for the next commit."""

    def __init__(self, errors: Sequence[RenderError]) -> None:
        super().__init__(list(errors))
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(map(str, self.errors))


class RenderErrors(RenderFailed, UserError):
    """Every error of the render is a mistake in Git: terminal until the next commit."""


def render(root: Path, paths: Sequence[str], *, kubectl: str | None = None,
           limits: yamlload.Limits = yamlload.DEFAULT) -> list[Manifest]:
    """The objects under `paths` (relative to `root`; "." or "" is all of it), in file
    order then document order.

    Directories are walked in sorted order (each one's entries by name, as Go's
    filepath.Walk in Flux v1), skipping names that start with "."; a directory with a
    kustomization file is built with `kubectl kustomize` instead of walked. A file
    named directly is read whatever its extension (a kustomization file named directly
    builds its directory). Raises RenderErrors with every problem, duplicates last
    (RenderFailed if one of them is not a mistake in Git).
    """
    entries = _Walk(root).paths(paths)
    builds = _kustomize_all(
        [e for e in entries if isinstance(e, _Source) and e.kustomize], kubectl, root.resolve()
    )
    manifests: list[Manifest] = []
    errors: list[RenderError] = []
    for entry in entries:
        if isinstance(entry, RenderError):
            errors.append(entry)
            continue
        data = builds[entry.source] if entry.kustomize else _read(entry, limits)
        if isinstance(data, RenderError):
            errors.append(data)
            continue
        json_file = not entry.kustomize and entry.path.suffix == ".json"
        _parse(data, entry.source, json_file=json_file, out=manifests, errors=errors,
               limits=limits)
    errors += _duplicates(manifests)
    if any(isinstance(e, _NotInGit) for e in errors):
        raise RenderFailed(errors)
    if errors:
        raise RenderErrors(errors)
    return manifests


@dataclass(frozen=True, slots=True)
class _Source:
    source: str  # what Manifest.source says
    path: Path  # the file to read, or the directory to build
    kustomize: bool


class _Walk:
    """The configured paths as the files and kustomizations to read, in order.

    Everything read must really be inside the repository: a path with "..", an
    absolute path or a symlink that leads out is an error, never read."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.entries: list[_Source | RenderError] = []
        self._sources: set[str] = set()
        self._dirs: set[Path] = set()

    def paths(self, paths: Sequence[str]) -> list[_Source | RenderError]:
        for given in paths:
            self._path(given)
        return self.entries

    def _path(self, given: str) -> None:
        rel = posixpath.normpath(given)
        if rel.startswith("/") or rel == ".." or rel.startswith("../"):
            self._error(given, "path is outside the repository")
            return
        rel = "" if rel == "." else rel
        path = self.root / rel
        if escape := self._escapes(path):
            self._error(given, escape)
        elif path.is_dir():
            self._dir(path, rel)
        elif not path.exists():
            self._error(given, "no such file or directory in the repository")
        elif not path.is_file():
            self._error(given, "not a file")
        elif path.name in KUSTOMIZATION_FILES:
            self._add(rel, path.parent, kustomize=True)
        else:
            self._add(rel, path, kustomize=False)

    def _dir(self, path: Path, rel: str) -> None:
        real = path.resolve()
        if real in self._dirs:  # named twice, or a symlink loop
            return
        self._dirs.add(real)
        try:
            with os.scandir(path) as scan:
                children = sorted(scan, key=lambda e: e.name)
        except OSError as e:
            self._error(rel or ".", f"cannot list the directory: {e.strerror or e}")
            return
        names = {c.name for c in children}
        for kustomization in KUSTOMIZATION_FILES:
            if kustomization in names:
                self._add(_join(rel, kustomization), path, kustomize=True)
                return
        for child in children:
            if child.name.startswith("."):
                continue
            try:
                is_dir = child.is_dir()
            except OSError:  # a symlink loop, said below if its name is a manifest's
                is_dir = False
            if not is_dir and not child.name.endswith(MANIFEST_SUFFIXES):
                continue
            child_rel, child_path = _join(rel, child.name), Path(child.path)
            if child.is_symlink() and (escape := self._escapes(child_path)):
                self._error(child_rel, escape)
            elif is_dir:
                self._dir(child_path, child_rel)
            elif child.is_file():
                self._add(child_rel, child_path, kustomize=False)
            else:
                self._error(child_rel, "broken symlink" if child.is_symlink() else "not a file")

    def _escapes(self, path: Path) -> str | None:
        """Why `path` may not be read, if its real location is outside the repository."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            return "symlink loop"
        if real.is_relative_to(self.root):
            return None
        return "path leads outside the repository through a symlink"

    def _add(self, source: str, path: Path, *, kustomize: bool) -> None:
        if source not in self._sources:  # a file under two configured paths is read once
            self._sources.add(source)
            self.entries.append(_Source(source, path, kustomize))

    def _error(self, source: str, message: str) -> None:
        self.entries.append(RenderError(source, None, message))


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _read(entry: _Source, limits: yamlload.Limits) -> bytes | RenderError:
    try:
        return yamlload.read_bytes(entry.path, limits=limits, filename=entry.source)
    except yamlload.YamlLimitError as e:
        return _OverLimit(entry.source, None, e.message)
    except OSError as e:
        return _NotInGit(entry.source, None, f"cannot read the file: {e.strerror or e}")


def _kustomize_all(
    sources: list[_Source], kubectl: str | None, root: Path
) -> dict[str, bytes | RenderError]:
    """Each kustomization's rendered stream (or what went wrong), built concurrently."""
    if kubectl is None:
        return {
            s.source: _NotInGit(s.source, None, "a kustomization: rendering it needs kubectl, "
                                "and none was given")
            for s in sources
        }
    if not sources:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(sources), os.cpu_count() or 1)) as pool:
        built = pool.map(lambda s: _kustomize(kubectl, s, root), sources)
        return {s.source: out for s, out in zip(sources, built, strict=True)}


def _kustomize(kubectl: str, source: _Source, root: Path) -> bytes | RenderError:
    """`kubectl kustomize DIR`, or an error naming the directory with kubectl's words."""
    directory = posixpath.dirname(source.source) or "."
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(source.path)],
            capture_output=True, timeout=KUSTOMIZE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return _NotInGit(source.source, None, f"kustomize build of {directory} failed: "
                         f"kubectl kustomize did not finish within {KUSTOMIZE_TIMEOUT:g}s")
    except OSError as e:
        return _NotInGit(source.source, None, f"kustomize build of {directory} failed: "
                         f"cannot run {kubectl}: {e.strerror or e}")
    else:
        if done.returncode == 0:
            return done.stdout
        # One line per error; paths relative to the repository, as the user sees them.
        said = done.stderr.decode(errors="replace").replace(f"{root}/", "")
        lines = [ln.strip() for ln in said.splitlines() if ln.strip()]
        why = "; ".join(ln for ln in lines if not ln.startswith("# Warning")) or (
            f"kubectl exited with status {done.returncode}")
    return RenderError(source.source, None, f"kustomize build of {directory} failed: {why}")


def _parse(
    data: bytes, source: str, *, json_file: bool, out: list[Manifest], errors: list[RenderError],
    limits: yamlload.Limits,
) -> None:
    """Append the objects of one YAML (or JSON) stream to `out`, its mistakes to `errors`."""
    documents, error = _documents(data, source, limits)
    if error and json_file and not isinstance(error, _OverLimit):
        # JSON that YAML 1.1 refuses (a "\ud83d\ude00" surrogate pair) is still JSON.
        try:
            start = len(data) - len(data.lstrip())
            documents, error = [(data.count(b"\n", 0, start) + 1, json.loads(data))], None
        except (ValueError, RecursionError):
            pass
    for line, document in documents:
        if document is not None:  # an empty document: "---" twice, or only comments
            _objects(document, source, line, "", out=out, errors=errors)
    if error:
        errors.append(error)


def _documents(data: bytes, source: str, limits: yamlload.Limits,
               ) -> tuple[list[tuple[int, Any]], RenderError | None]:
    """Each document with its 1-based start line, up to the first syntax error if any."""
    documents: list[tuple[int, Any]] = []
    try:
        loader = yamlload.Loader(data, filename=source, limits=limits)
    except yamlload.YamlLimitError as e:  # kustomize output over the size limit
        return documents, _OverLimit(source, None, e.message)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
    except yamlload.YamlLimitError as e:
        return documents, _OverLimit(source, e.line, e.message)
    except yaml.MarkedYAMLError as e:
        return documents, _syntax_error(e, source)
    except yaml.reader.ReaderError as e:  # bytes that are not UTF-8/16 text
        line = data.count(b"\n", 0, e.position) + 1 if isinstance(e.position, int) else None
        return documents, RenderError(source, line, f"invalid YAML: {str(e).splitlines()[0]}")
    finally:
        loader.dispose()
    return documents, None


def _syntax_error(e: yaml.MarkedYAMLError, source: str) -> RenderError:
    """The line of the problem, and the construct it broke (with its line if elsewhere)."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else None
    message = e.problem or e.context or "syntax error"
    if e.problem and e.context:
        began = e.context_mark.line + 1 if e.context_mark else line
        message += f" ({e.context})" if began == line else f" ({e.context} at line {began})"
    return RenderError(source, line, f"invalid YAML: {message}")


def _objects(
    document: Any, source: str, line: int, where: str,
    *, out: list[Manifest], errors: list[RenderError],
) -> None:
    """Append the object (or a List's items, flattened) or say what is wrong with it."""
    problem = _problem(document)
    if problem:
        errors.append(RenderError(source, line, where + problem))
    elif (items := _items(document)) is not None:
        for i, item in enumerate(items):
            _objects(item, source, line, f"{where}items[{i}]: ", out=out, errors=errors)
    else:
        out.append(Manifest(document, source, line))


def _items(document: dict[str, Any]) -> list[Any] | None:
    """The items of a List kind (v1 List, ConfigMapList, ...); None for any other object."""
    kind, items = document.get("kind"), document.get("items")
    if kind == "List":
        return items if isinstance(items, list) else []
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        return items
    return None


def _problem(document: Any) -> str | None:
    """What keeps `document` from being a Kubernetes object that can be applied."""
    if not isinstance(document, dict):
        return f"not a Kubernetes object: the document is {_a(document)}, not a mapping"
    strings = {"apiVersion": document.get("apiVersion"), "kind": document.get("kind")}
    optional: dict[str, Any] = {}
    if _items(document) is not None:  # a List has no name of its own, only items
        items = document.get("items")
        if items is not None and not isinstance(items, list):
            return f"items must be a sequence, not {_a(items)}"
    else:
        metadata = document.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return f"metadata must be a mapping, not {_a(metadata)}"
        metadata = metadata or {}
        strings["metadata.name"] = metadata.get("name")
        optional["metadata.namespace"] = metadata.get("namespace")
    missing = [key for key, value in strings.items() if value is None or value == ""]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    problems += [f"{key} must be a string, not {_a(value)}"
                 for key, value in (strings | optional).items()
                 if key not in missing and value is not None and not isinstance(value, str)]
    return "; ".join(problems) or None


_TYPE_NAMES = {dict: "a mapping", list: "a sequence", str: "a string", bool: "a boolean",
               int: "an integer", float: "a number", bytes: "binary data"}


def _a(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")


def _duplicates(manifests: list[Manifest]) -> list[RenderError]:
    """Objects defined twice: applying both would silently keep the last one."""
    first: dict[tuple[str, str, str, str], Manifest] = {}
    errors: list[RenderError] = []
    for m in manifests:
        group = m.api_version.rpartition("/")[0]
        seen = first.setdefault((group, m.kind, m.namespace or "", m.name), m)
        if seen is not m:
            name = f"{m.namespace}/{m.name}" if m.namespace else m.name
            errors.append(RenderError(m.source, m.line, f"duplicate {m.kind} {name} "
                                      f"({m.api_version}), first defined at {seen.location}"))
    return errors
