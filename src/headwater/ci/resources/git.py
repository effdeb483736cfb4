"""The built-in `git` resource type, as Concourse's concourse/git-resource.

The parts, in the order a payload goes through them: gitsource.py reads and checks
the source and params; gitaccess.py prepares the credentials of one operation (key
file, host keys, git config through the environment); gitcheck.py (cached bare
repository, versions), gitget.py (clone, metadata files) and gitput.py (confined
repository, push strategies) do the work; gitfilter.py holds the pure decisions.

Every git command goes through `headwater.gitrepo.git` with a deadline
(`timeout`, per command) and the source's secrets hidden. Failures are
`ResourceError`s that say which remote (its URL without credentials) and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from headwater.ci.resources import gitcheck, gitget, gitput
from headwater.ci.resources.base import Fetched, Log, ResourceError, Version
from headwater.ci.resources.gitaccess import access
from headwater.ci.resources.gitcheck import Git, cache_key
from headwater.ci.resources.gitfilter import hint
from headwater.ci.resources.gitsource import (
    GitSource,
    parse_get_params,
    parse_put_params,
    parse_source,
)
from headwater.ci.resources.reach import Reach
from headwater.gitrepo.errors import GitError, redact, redact_url

DEFAULT_TIMEOUT = 600.0


class GitResource:
    """`cache_dir` holds one bare repository per source for `check` (a temporary one
    per check without it) and the host keys learnt; `scratch` is where key files go
    (the system's temp dir by default) and a put's repository (its work dir by default)."""

    def __init__(self, *, cache_dir: Path | None = None, scratch: Path | None = None,
                 timeout: float = DEFAULT_TIMEOUT, reach: Reach | None = None) -> None:
        self._reach = reach or Reach.anything()
        self._cache = cache_dir
        self._scratch = scratch
        self._timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def _git(self, src: GitSource, learned: Path | None = None) -> AsyncIterator[Git]:
        await self._reach.check(src.uri, what=f"git resource ({_shown(src)}): source.uri")
        async with access(src, learned_hosts=learned, scratch=self._scratch) as acc:
            try:
                yield Git(acc, self._timeout)
            except GitError as e:
                advice = hint(str(e), has_password=bool(src.password),
                              has_key=bool(src.private_key),
                              has_known_hosts=bool(src.known_hosts))
                raise ResourceError(f"git resource ({acc.where()}): "
                                    f"{redact(str(e), acc.secrets)}{advice}") from None

    def _learned(self, src: GitSource) -> Path | None:
        if self._cache is None:
            return None
        self._cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._cache / f"{cache_key(src)}.known_hosts"

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        src = parse_source(source)
        key = cache_key(src)
        async with self._locks.setdefault(key, asyncio.Lock()), \
                self._git(src, self._learned(src)) as run:
            if self._cache is not None:
                return await gitcheck.check(run, src, version, self._cache / key)
            with tempfile.TemporaryDirectory(prefix="hw-git-check-", dir=self._scratch) as t:
                return await gitcheck.check(run, src, version, Path(t) / "repo")

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        src = parse_source(source)
        get = parse_get_params(params)
        async with self._git(src, self._learned(src)) as run:
            use = run
            if get.disable_git_lfs:
                lfs_off = {**run.access.env, "GIT_LFS_SKIP_SMUDGE": "1"}
                use = Git(dataclasses.replace(run.access, env=lfs_off), run.timeout)
            fetched = await gitget.get(use, src, get, version, dest)
        await log(f"fetched {fetched.version['ref']} from {_shown(src)}\n")
        return fetched

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        src = parse_source(source)
        put = parse_put_params(params, src)
        # Next to the inputs (on the build's disk: the repository is copied there), under
        # a name no artifact can have (Concourse identifiers never start with a dot).
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".git-put-",
                                               dir=self._scratch or workdir))
        try:
            async with self._git(src, self._learned(src)) as run:
                fetched = await gitput.put(run, src, put, workdir, scratch)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        await log(f"pushed {fetched.version['ref']} to {_shown(src)}\n")
        return fetched


def _shown(src: GitSource) -> str:
    return redact(redact_url(src.uri), src.secrets())
