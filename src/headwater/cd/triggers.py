"""Syncs and image automation a push webhook asks the CD controller for.

A git push syncs now every source whose `git-url` names the pushed repository
(`gitrepo.urls.repo_key`) and whose `git-branch` is the pushed branch. An image push
runs image automation now (registries scanned, releases committed, then a sync) on
every source that has automation and whose scanner is not told to leave that image
alone (`--registry-include-image`/`--registry-exclude-image`). Requests are queued on
each source's loop (`SourceLoop.ask`), which joins a burst of them into one; the
caller gets the source names at once. The loops' own timers go on as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from headwater.cd.controller import Controller
from headwater.cd.source import Source
from headwater.gitrepo.urls import any_same, repo_key
from headwater.registry import InvalidReference, parse


def source_matches(source: Source, keys: frozenset[str], branch: str | None) -> bool:
    """Whether `source` follows `branch` of the repository whose URLs have `keys`."""
    return branch is not None and source.git_branch == branch and any_same(source.git_url,
                                                                             keys)


def sync_matching(controller: Controller, urls: Iterable[str], branch: str | None,
                  revision: str = "") -> list[str]:
    """Queue a sync of every source following this push (of `revision`, when the sender
    named it: a source that synced it last does nothing); their names."""
    keys = frozenset(repo_key(u) for u in urls)
    chosen = [name for name, loop in controller.loops.items()
              if source_matches(loop.syncer.source, keys, branch)]
    for name in chosen:
        controller.loops[name].ask(revision=revision)
    return chosen


def release_matching(controller: Controller, image: str) -> list[str]:
    """Queue image automation (then a sync) on every source that may release `image`
    (a repository name such as `127.0.0.1:5000/app`); their names."""
    try:
        ref = parse(image)
    except InvalidReference:
        return []
    chosen = [name for name, loop in controller.loops.items()
              if loop.automator is not None and loop.automator.scanner.wanted(ref)]
    for name in chosen:
        controller.loops[name].ask(scan=True)
    return chosen
