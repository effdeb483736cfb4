"""Release records: which commits of a source changed the images it runs, when a sync
applied each, and when the workloads it changed were rolled out.

The release commits come from the source's Git history (they are the truth and
survive a restart); the sync and rollout marks from what this process saw (bounded in
memory, absent for releases before it started). A commit is a release when it changes
the image of a workload's container: the image is read from the manifest as it was
before and after the commit (the same parser as `list-workloads`), not guessed from
the message, so a `release` verb with a message of the user's own, a rollback and a
hand edit are all found. `automated` says whether image automation made it (the
marker line `AUTOMATION_TRAILER` anywhere in the message); such a commit is a release
even when no workload's image changed (a Flux v2 setter in a kustomization's `images:`),
with no image changes listed.

The decisions (parsing a commit's files, which sync covers a release) are plain
functions; `controller.py` runs git and keeps the marks.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headwater import yamlload
from headwater.cd.automation import AUTOMATION_TRAILER
from headwater.cd.render import MANIFEST_SUFFIXES
from headwater.cd.verbs import workload_id
from headwater.cd.workloads import WorkloadError, read_workloads
from headwater.errors import UserError
from headwater.gitrepo import GitError, GitOutputTooLarge, git

WINDOW = 200          # commits touching the source's paths read per listing
GRAPH = 1000          # commits read for "does this sync contain that commit"
FILES_PER_COMMIT = 20  # manifest files of one commit read for image changes


class UnknownRelease(UserError):
    """A request names a release commit the source's recent history does not have (404)."""


@dataclass(frozen=True)
class ImageChange:
    workload: str          # "namespace:kind/name", as the CLI's workload ids
    container: str
    old: str               # the image before the commit ("" when unknown)
    new: str               # the image after


@dataclass(frozen=True)
class SyncMark:
    revision: str          # the synced revision (the release commit or a later one)
    started: datetime      # UTC, aware
    finished: datetime
    ok: bool
    message: str           # the sync's error when not ok, else ""


@dataclass(frozen=True)
class ReadyMark:
    at: datetime           # when every released workload's rollout was complete
    ok: bool               # False: the rollout did not finish in time / failed
    message: str           # the rollout problem when not ok, else ""


@dataclass(frozen=True)
class ReleaseRecord:
    source: str
    commit: str            # full sha of the release commit
    committed_at: datetime
    author: str            # "Name <email>" of the commit
    subject: str           # the commit's first line
    automated: bool        # True: image automation; False: a `release` verb (CLI/UI/API)
    images: tuple[ImageChange, ...]
    synced: SyncMark | None     # the first sync whose revision contains the commit
    ready: ReadyMark | None     # None while the rollout is watched or was never watched

    def to_json(self) -> dict[str, Any]:
        """The CD API's object (times in RFC 3339, UTC)."""
        return {
            "source": self.source, "commit": self.commit,
            "committed_at": iso(self.committed_at), "author": self.author,
            "subject": self.subject, "automated": self.automated,
            "images": [{"workload": i.workload, "container": i.container, "old": i.old,
                        "new": i.new} for i in self.images],
            "synced": None if self.synced is None else {
                "revision": self.synced.revision, "started": iso(self.synced.started),
                "finished": iso(self.synced.finished), "ok": self.synced.ok,
                "message": self.synced.message},
            "ready": None if self.ready is None else {
                "at": iso(self.ready.at), "ok": self.ready.ok, "message": self.ready.message},
        }


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- reading a commit (pure)


@dataclass(frozen=True)
class LogCommit:
    """One commit of `git log` with the manifest files whose changed lines mention an
    image (the candidates to read before and after)."""

    sha: str
    parents: tuple[str, ...]
    committed_at: datetime
    author: str
    message: str
    files: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def automated(self) -> bool:
        """Image automation's commit: the marker line anywhere in the message (it is
        not always the last paragraph: a `[ci skip]` may follow it)."""
        return any(line.strip() == AUTOMATION_TRAILER for line in self.message.splitlines())


LOG_FORMAT = "%x1e%H%x1f%P%x1f%ct%x1f%an <%ae>%x1f%B%x1f"
# git's -G (extended regex) over added and removed lines: a line that says "image", or a
# field of a kustomization's `images:` (a setter's release may change only `newTag:`).
IMAGE_LINE = "[Ii][Mm][Aa][Gg][Ee]|newTag|newName|digest"
LOG_BYTES = 8 * 1024 * 1024  # the listing's `git log` (names and messages, no patches)
GRAPH_BYTES = 1024 * 1024


def parse_log(text: str) -> list[LogCommit]:
    """`git log -G<IMAGE_LINE> --name-only --format=LOG_FORMAT`'s commits, newest first;
    `files` are the manifest files (by suffix) git named: those with an added or removed
    line that matches IMAGE_LINE."""
    out = []
    for record in text.split("\x1e")[1:]:
        fields = record.split("\x1f", 5)
        if len(fields) < 6:
            continue
        sha, parents, ct, author, message, names = fields
        try:
            when = datetime.fromtimestamp(int(ct), UTC)
        except ValueError:
            continue
        files = tuple(dict.fromkeys(n.strip() for n in names.splitlines()
                                    if n.strip().endswith(MANIFEST_SUFFIXES)))
        out.append(LogCommit(sha.strip(), tuple(parents.split()), when, author,
                             message.strip("\n"), files))
    return out


def image_changes(before: str | None, after: str | None, *,
                  limits: yamlload.Limits = yamlload.DEFAULT) -> list[ImageChange]:
    """The containers whose image differs between two texts of one manifest file
    (`before` None: the file was not there; a file that does not parse has no
    workloads). A container new in `after` has `old` ""."""
    old = _images(before, limits)
    return [ImageChange(w, c, old.get((w, c), ""), image)
            for (w, c), image in _images(after, limits).items() if old.get((w, c)) != image]


def _images(text: str | None, limits: yamlload.Limits) -> dict[tuple[str, str], str]:
    if text is None:
        return {}
    try:
        workloads = read_workloads(text, limits=limits)
    except (WorkloadError, yamlload.YamlLimitError):
        return {}
    return {(workload_id(w), c.name): c.image for w in workloads for c in w.containers}


# -- which sync covers a release (pure)


def parse_graph(text: str) -> dict[str, tuple[str, ...]]:
    """`git rev-list --parents`'s lines: {commit: parents}."""
    graph: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        sha, *parents = line.split()
        graph[sha] = tuple(parents)
    return graph


def ancestors(revision: str, graph: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """`revision` and its ancestors within `graph` (commits older than the graph's
    window are not seen)."""
    seen: set[str] = set()
    todo = [revision]
    while todo:
        sha = todo.pop()
        if sha not in seen:
            seen.add(sha)
            todo.extend(graph.get(sha, ()))
    return frozenset(seen)


def contains(revision: str, commit: str, graph: Mapping[str, Sequence[str]]) -> bool:
    """Whether `commit` is `revision` or one of its ancestors within `graph`."""
    return commit in ancestors(revision, graph)


def covering_sync(commit: str, marks: Iterable[SyncMark],
                  graph: Mapping[str, Sequence[str]], *,
                  reach: dict[str, frozenset[str]] | None = None) -> SyncMark | None:
    """The first successful sync (by start) whose revision contains `commit`; when none
    succeeded, the last failed one that tried (its message says why); None when no
    sync of this process reached it. `reach` caches each revision's ancestors across
    calls (one listing asks for every release)."""
    cache = {} if reach is None else reach
    tried = []
    for m in sorted(marks, key=lambda m: m.started):
        if m.revision not in cache:
            cache[m.revision] = ancestors(m.revision, graph)
        if commit in cache[m.revision]:
            tried.append(m)
    ok = [m for m in tried if m.ok]
    if ok:
        return ok[0]
    return tried[-1] if tried else None


def combine(marks: Sequence[ReadyMark]) -> ReadyMark | None:
    """One release's rollout from its workloads' ones: ready when the last is, not ok
    when any is not (their problems joined); None when there are none."""
    if not marks:
        return None
    problems = [m.message for m in marks if not m.ok and m.message]
    return ReadyMark(max(m.at for m in marks), all(m.ok for m in marks), "\n".join(problems))


# -- reading Git


@dataclass
class History:
    """Reads one source's release commits from its working copy's Git history.

    The image changes of a commit never change: they are kept per sha (bounded), so a
    listing reads only the commits it has not seen (two `git show`s per file)."""

    root: Path            # the working copy
    ref: str              # the remote-tracking branch, e.g. refs/remotes/origin/main
    paths: tuple[str, ...]
    timeout: float
    limits: yamlload.Limits = yamlload.DEFAULT
    keep: int = 2000
    _changes: OrderedDict[str, tuple[ImageChange, ...]] = field(default_factory=OrderedDict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _git(self, *args: str, max_output: int) -> str:
        return await git(*args, cwd=self.root, timeout=self.timeout, max_output=max_output)

    async def releases(self, limit: int) -> list[tuple[LogCommit, tuple[ImageChange, ...]]]:
        """Release commits, newest first (at most `limit`, among the last WINDOW commits
        that touch the paths); [] before the first fetch."""
        if not (self.root / ".git").exists():
            return []
        try:  # git picks the commits and files (-G): no patch text comes back
            text = await self._git(
                "-c", "core.quotePath=false", "log", f"--max-count={WINDOW}", "--no-renames",
                "--no-color", "--no-ext-diff", f"-G{IMAGE_LINE}", "--name-only",
                f"--format={LOG_FORMAT}", "--end-of-options", self.ref, "--", *self.paths,
                max_output=LOG_BYTES)
        except GitOutputTooLarge:
            raise  # commit messages a pusher made huge: said, not taken for "no releases"
        except GitError:
            return []  # no such ref yet (never fetched)
        out: list[tuple[LogCommit, tuple[ImageChange, ...]]] = []
        async with self._lock:  # one reader fills the cache at a time
            for commit in await asyncio.to_thread(parse_log, text):
                if len(out) >= limit:
                    break
                changes = await self._image_changes(commit)
                if changes or commit.automated:  # (a setter's kustomization: no workload)
                    out.append((commit, changes))
        return out

    async def _image_changes(self, commit: LogCommit) -> tuple[ImageChange, ...]:
        if commit.sha in self._changes:
            return self._changes[commit.sha]
        found: list[ImageChange] = []
        if commit.parents:
            for name in commit.files[:FILES_PER_COMMIT]:
                before = await self._show(commit.parents[0], name)
                after = await self._show(commit.sha, name)
                found += await asyncio.to_thread(image_changes, before, after,
                                                 limits=self.limits)
        self._changes[commit.sha] = tuple(found)
        while len(self._changes) > self.keep:
            self._changes.popitem(last=False)
        return tuple(found)

    async def _show(self, rev: str, name: str) -> str | None:
        try:
            return await self._git("show", "--end-of-options", f"{rev}:{name}",
                                   max_output=self.limits.max_bytes)
        except GitError:  # no such file then, or larger than a manifest may be
            return None

    async def graph(self) -> dict[str, tuple[str, ...]]:
        """The last GRAPH commits of the branch with their parents."""
        try:
            text = await self._git("rev-list", f"--max-count={GRAPH}", "--parents",
                                   "--end-of-options", self.ref, max_output=GRAPH_BYTES)
        except GitError:
            return {}
        return parse_graph(text)
