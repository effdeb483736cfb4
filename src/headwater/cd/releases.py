"""Release records: which commits of a source changed the images it runs, when a sync
applied each, and when the workloads it changed were rolled out.

The release commits come from the source's Git history (they are the truth and
survive a restart); the sync and rollout marks from what this process saw (bounded in
memory, absent for releases before it started). A commit is a release when it changes
the image of a workload's container: the image is read from the manifest as it was
before and after the commit (the same parser as `list-workloads`), not guessed from
the message, so a `release` verb with a message of the user's own, a rollback and a
hand edit are all found. `automated` says whether image automation made it (the
marker line `AUTOMATION_TRAILER` anywhere in the message).

The decisions (parsing a commit's files, which sync covers a release) are plain
functions; `controller.py` runs git and keeps the marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from headwater.errors import UserError


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
