"""Resource versions, as Concourse's `resource_config_versions`, and check bookkeeping.

Versions are string maps. Each is stored once per resource scope, keyed by the
sha256 of its canonical JSON, and ordered by `check_order`: newest is highest.

`save_versions` follows Concourse's `SaveVersions` (atc/db/resource_config_scope.go):
a check answers versions oldest first; when the answer holds at least one version
not seen before, every version of the answer, new or known, is moved to the top in
the order given (so a check "from an old version" repairs the order); an answer of
known versions only changes nothing. A `put`'s version (`save_output_version`) is
added on top when new, and otherwise stays where it is, with its metadata updated.

Writers lock the resource's row first, so a checker and a put saving versions of the
same resource at once queue rather than compute the same `check_order`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from headwater.store.db import IN_CHUNK, Database, utcnow
from headwater.store.models import Pipeline, Resource, ResourceVersion, Version, digest
from headwater.store.schema import pipelines, resource_versions, resources

_rv = resource_versions


class VersionsMixin:
    _db: Database

    async def resources_to_check(self) -> list[tuple[Pipeline, Resource]]:
        """The active resources of unpaused pipelines, as Concourse's checker sees them
        (atc/db/check_factory.go `Resources`: `p.paused = false`)."""
        async with self._db.read() as conn:
            unpaused = {r.id: Pipeline.from_row(r) for r in await conn.execute(
                sa.select(pipelines).where(~pipelines.c.paused))}
            rows = await conn.execute(
                sa.select(resources)
                .where(resources.c.active, resources.c.pipeline_id.in_(list(unpaused)))
                .order_by(resources.c.id))
            return [(unpaused[r.pipeline_id], Resource.from_row(r)) for r in rows]

    async def save_versions(self, resource_id: int, versions: list[Version], *,
                            checked: bool = False) -> int:
        """Store what a check found (oldest first); how many versions were new. 0 too
        when the resource was deleted while it was being checked. `checked`: also
        record a successful check, in the same transaction (`record_check`)."""
        ordered = _last_occurrences(versions)
        async with self._db.write() as conn:
            scope = await _lock_scope(conn, resource_id)
            if scope is None:
                return 0
            if checked:
                await conn.execute(resources.update().where(resources.c.id == resource_id)
                                   .values(last_checked=utcnow(), check_error=None))
            if not ordered:
                return 0
            known = await _known(conn, resource_id, scope, list(ordered))
            new = [h for h in ordered if h not in known]
            if not new:
                return 0
            top = await _max_order(conn, resource_id, scope)
            now = utcnow()
            order = {h: top + i for i, h in enumerate(ordered, start=1)}
            await conn.execute(_rv.insert(), [
                {"resource_id": resource_id, "scope": scope, "version_hash": h,
                 "version": ordered[h], "metadata": [], "check_order": order[h],
                 "created_at": now} for h in new])
            for h, version_id in known.items():
                await conn.execute(_rv.update().where(_rv.c.id == version_id)
                                   .values(check_order=order[h]))
            return len(new)

    async def save_output_version(self, resource_id: int, version: Version,
                                  metadata: list[dict[str, str]]) -> int:
        """Store the version a `put` created (on top when new); its id."""
        key = digest(version)
        async with self._db.write() as conn:
            scope = await _lock_scope(conn, resource_id)
            if scope is None:
                raise LookupError(f"resource {resource_id} does not exist")
            known = await _known(conn, resource_id, scope, [key])
            if key in known:
                if metadata:
                    await conn.execute(_rv.update().where(_rv.c.id == known[key])
                                       .values(metadata=metadata))
                return known[key]
            top = await _max_order(conn, resource_id, scope)
            result = await conn.execute(_rv.insert().values(
                resource_id=resource_id, scope=scope, version_hash=key, version=version,
                metadata=metadata, check_order=top + 1, created_at=utcnow())
                .returning(_rv.c.id))
            return int(result.scalar_one())

    async def record_check(self, resource_id: int, *, error: str | None) -> None:
        """A check ended now: with `error` when it failed, None when it succeeded."""
        async with self._db.write() as conn:
            await conn.execute(resources.update().where(resources.c.id == resource_id)
                               .values(last_checked=utcnow(), check_error=error))

    async def pin(self, resource_id: int, version_id: int,
                  comment: str | None = None) -> Version | None:
        """Pin the resource to one of its versions through the API; the version pinned,
        or None when it is not in the resource's current history (nothing changes)."""
        async with self._db.write() as conn:
            row = (await conn.execute(sa.select(_rv.c.version)
                                      .where(_rv.c.id == version_id,
                                             _in_scope(resource_id)))).one_or_none()
            if row is None:
                return None
            version = dict(row.version)
            await conn.execute(resources.update().where(resources.c.id == resource_id)
                               .values(api_pinned_version=version, pin_comment=comment))
            return version

    async def unpin(self, resource_id: int) -> None:
        """Drop the API pin (the config's `version:` is the config's)."""
        async with self._db.write() as conn:
            await conn.execute(resources.update().where(resources.c.id == resource_id)
                               .values(api_pinned_version=None, pin_comment=None))

    async def versions(self, resource_id: int, *, limit: int | None = 100,
                       ids: Collection[int] | None = None) -> list[ResourceVersion]:
        """The versions of the resource's current scope, newest first; only those of
        `ids` when given (what the scheduler knows went through a job)."""
        if ids is None:
            query = (sa.select(_rv).where(_in_scope(resource_id))
                     .order_by(_rv.c.check_order.desc()).limit(limit))
            async with self._db.read() as conn:
                return [ResourceVersion.from_row(r) for r in await conn.execute(query)]
        wanted = sorted(set(ids))
        found: list[ResourceVersion] = []
        async with self._db.read() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                rows = await conn.execute(sa.select(_rv).where(
                    _in_scope(resource_id), _rv.c.id.in_(wanted[start:start + IN_CHUNK])))
                found.extend(ResourceVersion.from_row(r) for r in rows)
        found.sort(key=lambda v: v.check_order, reverse=True)
        return found[:limit] if limit is not None else found

    async def latest_versions(self, resource_ids: list[int]) -> dict[int, Version]:
        """The newest version of each resource (of its current scope), in one query:
        what the checker starts each check from. Resources without any are absent."""
        out: dict[int, Version] = {}
        async with self._db.read() as conn:
            for start in range(0, len(resource_ids), IN_CHUNK):
                top = (sa.select(_rv.c.resource_id,
                                 sa.func.max(_rv.c.check_order).label("top"))
                       .join(resources, sa.and_(resources.c.id == _rv.c.resource_id,
                                                resources.c.scope == _rv.c.scope))
                       .where(_rv.c.resource_id.in_(resource_ids[start:start + IN_CHUNK]))
                       .group_by(_rv.c.resource_id).subquery())
                rows = await conn.execute(
                    sa.select(_rv.c.resource_id, _rv.c.version)
                    .join(resources, sa.and_(resources.c.id == _rv.c.resource_id,
                                             resources.c.scope == _rv.c.scope))
                    .join(top, sa.and_(top.c.resource_id == _rv.c.resource_id,
                                       top.c.top == _rv.c.check_order)))
                out.update({r.resource_id: dict(r.version) for r in rows})
        return out

    async def version_id(self, resource_id: int, version: Version) -> int | None:
        query = sa.select(_rv.c.id).where(_in_scope(resource_id),
                                          _rv.c.version_hash == digest(version))
        async with self._db.read() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else int(found)

    async def version_by_id(self, version_id: int) -> ResourceVersion | None:
        async with self._db.read() as conn:
            row = (await conn.execute(sa.select(_rv).where(_rv.c.id == version_id))
                   ).one_or_none()
        return ResourceVersion.from_row(row) if row else None


def _last_occurrences(versions: list[Version]) -> dict[str, Version]:
    """Versions by key, in the order given; a version listed twice counts where it
    appears last (as Concourse, which bumps it twice)."""
    ordered: dict[str, Version] = {}
    for version in versions:
        key = digest(version)
        ordered.pop(key, None)
        ordered[key] = dict(version)
    return ordered


def _in_scope(resource_id: int) -> sa.ColumnElement[bool]:
    current = (sa.select(resources.c.scope).where(resources.c.id == resource_id)
               .scalar_subquery())
    return sa.and_(_rv.c.resource_id == resource_id, _rv.c.scope == current)


async def _lock_scope(conn: AsyncConnection, resource_id: int) -> str | None:
    row = (await conn.execute(sa.select(resources.c.scope)
                              .where(resources.c.id == resource_id)
                              .with_for_update())).one_or_none()
    return None if row is None else str(row.scope)


async def _known(conn: AsyncConnection, resource_id: int, scope: str,
                 keys: list[str]) -> dict[str, int]:
    known: dict[str, int] = {}
    for start in range(0, len(keys), IN_CHUNK):
        rows = await conn.execute(
            sa.select(_rv.c.version_hash, _rv.c.id)
            .where(_rv.c.resource_id == resource_id, _rv.c.scope == scope,
                   _rv.c.version_hash.in_(keys[start:start + IN_CHUNK])))
        known.update({r.version_hash: r.id for r in rows})
    return known


async def _max_order(conn: AsyncConnection, resource_id: int, scope: str) -> int:
    top: Any = (await conn.execute(
        sa.select(sa.func.max(_rv.c.check_order))
        .where(_rv.c.resource_id == resource_id, _rv.c.scope == scope))).scalar()
    return int(top or 0)
