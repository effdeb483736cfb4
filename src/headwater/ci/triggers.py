"""Checks a push webhook asks for: which resources a push concerns, and checking them now.

A git push (`git_push`) concerns every `git` resource of every unpaused pipeline whose
`uri` names the pushed repository (`gitrepo.urls.repo_key`: scheme, user, port, `.git`
and slashes aside) and whose `branch` is the pushed one (a resource without `branch`
follows the remote's default branch, unknown here: it is checked too); a tag push
concerns those with a `tag_filter` or `tag_regex`. An image push (`image_push`)
concerns every `registry-image` and `docker-image` resource whose `repository` is the
pushed one. Paused pipelines are left alone, as the checker leaves them (Concourse's
`check_factory`). The checks run in the background through the checker, which joins a
check of the same resource already running; the caller gets the names at once.
Polling goes on as before: a missed hook costs one `check_every`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from headwater import log as hwlog
from headwater.ci.service import CI
from headwater.gitrepo.urls import any_same, repo_key
from headwater.registry import InvalidReference, parse
from headwater.store import Pipeline, Resource

GIT_TYPES = frozenset({"git"})
IMAGE_TYPES = frozenset({"registry-image", "docker-image"})

_log = hwlog.get("hooks")


def git_source_matches(source: Mapping[str, Any], keys: frozenset[str], *,
                       branch: str | None, tag: str | None) -> bool:
    """Whether a git resource's `source` follows the pushed ref of a repository whose
    URLs have `keys`."""
    uri = source.get("uri")
    if not isinstance(uri, str) or not any_same(uri, keys):
        return False
    if tag is not None:
        return bool(source.get("tag_filter") or source.get("tag_regex"))
    wanted = source.get("branch")
    return branch is not None and (not wanted or wanted == branch)


def image_name(text: str) -> str | None:
    """The canonical repository name of an image reference, or None if it is not one."""
    try:
        return parse(text).repo().name
    except InvalidReference:
        return None


def image_source_matches(source: Mapping[str, Any], image: str) -> bool:
    """Whether a registry-image/docker-image `source` follows the repository `image`
    (canonical name, e.g. `127.0.0.1:5000/app`)."""
    repository = source.get("repository")
    return isinstance(repository, str) and image_name(repository) == image


class Triggers:
    """Starts the checks pushes ask for, keeping each running task referenced."""

    def __init__(self, ci: CI) -> None:
        self._ci = ci
        self._running: set[asyncio.Task[int]] = set()

    async def git_push(self, urls: Iterable[str], *, branch: str | None,
                       tag: str | None) -> list[str]:
        """Check now every git resource following this push; their `pipeline/resource`."""
        keys = frozenset(repo_key(u) for u in urls)
        return await self._check(lambda r: r.type in GIT_TYPES and git_source_matches(
            r.source, keys, branch=branch, tag=tag))

    async def image_push(self, image: str) -> list[str]:
        """Check now every image resource of repository `image`."""
        name = image_name(image)
        if name is None:
            return []
        return await self._check(
            lambda r: r.type in IMAGE_TYPES and image_source_matches(r.source, name))

    async def _check(self, wanted: Any) -> list[str]:
        chosen: list[tuple[Pipeline, Resource]] = [
            (p, r) for p, r in await self._ci.store.resources_to_check() if wanted(r)]
        for pipeline, resource in chosen:
            task = asyncio.create_task(self._one(pipeline, resource))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return [f"{p.name}/{r.name}" for p, r in chosen]

    async def _one(self, pipeline: Pipeline, resource: Resource) -> int:
        try:
            return await self._ci.checker.check(resource, pipeline=pipeline)
        except Exception:  # recorded on the resource by the checker; a bug of ours here
            _log.exception("webhook check broke", resource=f"{pipeline.name}/{resource.name}")
            return 0
