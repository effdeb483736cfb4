"""Task `caches` kept between builds of a job, as Concourse keeps them per job and worker.

A cache is a directory of the server (`<data dir>/task-caches/<key>`), its key a hash
of the team, pipeline, job, task step name and cache path: builds of that job find
what the last one left; other jobs (and one-off builds, which get none) never see it.

Before the task runs, its cache is *moved* into the task's directory at the cache's
path (a rename: no copy, whatever its size); after the task (whatever its exit
status, as Concourse), what is at that path is moved back, replacing the stored one.
Two builds of one job running at once do not share a cache: the first takes it, the
second starts empty, and the last to finish leaves its own (Concourse's caches are
copy-on-write volumes with the same outcome). A crash loses the cache in flight:
caches hold what can be fetched again.

Both moves go through confine.py: a cache path the task replaced by a symlink (or
under one) is refused and the cache dropped, never followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused


@dataclass(frozen=True)
class CacheKey:
    team: str
    pipeline: str
    job: str
    step: str
    path: str

    def dirname(self) -> str:
        data = json.dumps([self.team, self.pipeline, self.job, self.step, self.path])
        return hashlib.sha256(data.encode()).hexdigest()[:40]


async def take(store: Path, key: CacheKey, task_root: Path, trash: Beneath) -> bool:
    """Move the stored cache of `key` to its path in `task_root` (made empty there
    already); False when there is none yet, or it cannot be moved (the task starts
    with an empty cache: a cache is never a reason for a build to fail)."""
    try:
        await asyncio.to_thread(confine.move_dir, Beneath(store, key.dirname()),
                                Beneath(task_root, key.path), trash)
    except (OSError, Refused):
        return False
    return True


async def keep(store: Path, key: CacheKey, task_root: Path, trash: Beneath) -> str | None:
    """Move what the task left at the cache's path back to the store; None, or why it
    was not kept."""
    await asyncio.to_thread(store.mkdir, parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(confine.move_dir, Beneath(task_root, key.path),
                                Beneath(store, key.dirname()), trash)
    except (FileNotFoundError, NotADirectoryError):
        return "it is no longer a directory"
    except Refused as e:
        return f"{e}; headwater never follows a link out of the task"
    except OSError as e:
        return e.strerror or str(e)
    return None
