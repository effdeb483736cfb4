"""Where an image came from, decided from what the store holds (pure).

An image written in a manifest (`host/repo:tag` or `host/repo@sha256:...`) was pushed
by a build's `put` of a registry-image or docker-image resource: the put saved a
version (`{"tag", "digest"}` for registry-image, `{"digest"}` for docker-image) with
metadata `repository` and `tags` (every tag pushed, space-separated). The build's
commit is its git input: the first `get` of a git resource with `trigger: true` in the
job's plan, else the first git `get`; its time and subject come from the version's
metadata (git-resource's `committer_date`/`author_date` and `message`), or from the
build's `finish-get` event of that version when the version has none (a version a
check found carries no metadata: the get's does).

`service.CI.image_provenance` reads the store and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from headwater.registry import InvalidReference, Reference, parse

IMAGE_TYPES = ("registry-image", "docker-image")
GIT_TYPES = ("git",)


def wanted(image: str) -> Reference | None:
    """The reference of `image` when it names a tag or a digest; None otherwise."""
    try:
        ref = parse(image)
    except InvalidReference:
        return None
    return ref if ref.tag or ref.digest else None


def same_repository(ref: Reference, source: Mapping[str, Any]) -> bool:
    """Whether a resource's `source.repository` is the image's repository."""
    repository = source.get("repository")
    if not isinstance(repository, str):
        return False
    try:
        return parse(repository).repo().name == ref.repo().name
    except InvalidReference:
        return False


def produced(ref: Reference, version: Mapping[str, Any],
             metadata: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a put's version (with its metadata) is the image `ref` names: the same
    digest, or the tag among the ones pushed."""
    if ref.digest:
        return version.get("digest") == ref.digest
    tags = {str(version["tag"])} if version.get("tag") else set()
    for field in metadata:
        if field.get("name") in ("tags", "tag"):
            tags.update(str(field.get("value", "")).split())
    return ref.tag in tags


def plan_gets(plan: Any) -> list[tuple[str, str, bool]]:
    """(input name, resource, trigger) of every `get` of a job's plan, in plan order
    (inside do, in_parallel, aggregate, try, on_* hooks and across too)."""
    out: list[tuple[str, str, bool]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if isinstance(node.get("get"), str):
                out.append((node["get"], str(node.get("resource") or node["get"]),
                            node.get("trigger") is True))
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)

    walk(plan)
    return out


def commit_input(gets: Sequence[tuple[str, str, bool]], inputs: Iterable[str],
                 types: Mapping[str, str]) -> str | None:
    """The name of the build's git input: the first triggering git `get` the build has
    as an input, else the first git `get`; None when it has none."""
    have = set(inputs)
    git = [(name, trigger) for name, resource, trigger in gets
           if name in have and types.get(resource) in GIT_TYPES]
    for name, trigger in git:
        if trigger:
            return name
    return git[0][0] if git else None


def metadata_value(metadata: Sequence[Mapping[str, Any]], name: str) -> str | None:
    for field in metadata:
        if field.get("name") == name and field.get("value") is not None:
            return str(field["value"])
    return None


def commit_time(metadata: Sequence[Mapping[str, Any]]) -> datetime | None:
    """git-resource's `committer_date` (else `author_date`), `%ci`: 2024-01-02 03:04:05
    +0100; in UTC. None when absent or not in that form."""
    for name in ("committer_date", "author_date"):
        text = metadata_value(metadata, name)
        if text:
            try:
                return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S %z").astimezone(UTC)
            except ValueError:
                continue
    return None


def subject(metadata: Sequence[Mapping[str, Any]]) -> str:
    return (metadata_value(metadata, "message") or "").strip().split("\n", 1)[0].strip()


def event_time(payload: Mapping[str, Any], stored: datetime) -> datetime:
    """An event's time: Concourse's `time` field (Unix seconds) when present, else when
    it was stored."""
    when = payload.get("time")
    if isinstance(when, int | float) and not isinstance(when, bool):
        return datetime.fromtimestamp(when, UTC)
    return stored.astimezone(UTC)
