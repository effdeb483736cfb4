"""The migrations build exactly the tables of schema.py, and open() sets SQLite up."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from headwater.store import Store, StoreError
from headwater.store.db import database_url
from headwater.store.schema import metadata
from tests.store.conftest import Target
from tests.store.helpers import sqlite_at_revision


def _diff(conn: sa.Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_produce_exactly_the_schema_of_the_table_definitions(
        store: Store) -> None:
    async with store._db.read() as conn:
        diff = await conn.run_sync(_diff)
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert diff == []
    assert tables == set(metadata.tables) | {"alembic_version"}


async def test_opening_again_keeps_the_data_and_migrates_nothing(target: Target,
                                                                  store: Store) -> None:
    token = await store.create_token("admin")
    again = await target.open()
    try:
        assert await again.check_token(token)
        async with again._db.read() as conn:
            head = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                    ).scalars().all()
        assert head == ["0003"]
    finally:
        await again.close()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
        tmp_path: Path) -> None:
    store = await Store.open(None, data_dir=tmp_path / "data")
    try:
        assert (tmp_path / "data" / "headwater.db").is_file()
        async with store._db.read() as conn:
            pragmas = {p: (await conn.exec_driver_sql(f"PRAGMA {p}")).scalar()
                       for p in ("journal_mode", "foreign_keys", "busy_timeout")}
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}
    finally:
        await store.close()


def test_the_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = database_url(None, tmp_path / "data")
    assert url.render_as_string() == f"sqlite+aiosqlite:///{tmp_path}/data/headwater.db"
    assert (tmp_path / "data").is_dir()


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgres://u:pw@h:5433/db", "postgresql+psycopg://u:pw@h:5433/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////x/ci.db", "sqlite+aiosqlite:////x/ci.db"),
])
def test_database_urls_get_the_async_driver(url: str, expected: str, tmp_path: Path) -> None:
    assert database_url(url, tmp_path).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:"])
def test_unsupported_database_urls_are_refused_with_what_to_use(url: str,
                                                                tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="postgresql://"):
        database_url(url, tmp_path)


async def test_a_database_at_0001_upgrades_to_head_keeping_its_data(tmp_path: Path) -> None:
    with sqlite_at_revision(tmp_path / "headwater.db", "0001") as conn:
        now = "2026-01-01 00:00:00"
        conn.exec_driver_sql(
            "INSERT INTO pipelines (id, team, name, paused, version, config, config_text, "
            f"redact, created_at, updated_at) VALUES (1, 'main', 'p', 0, 1, '{{}}', '', "
            f"'[]', '{now}', '{now}')")
        conn.exec_driver_sql(
            "INSERT INTO resources (id, pipeline_id, name, active, type, source, scope, "
            "config) VALUES (1, 1, 'repo', 1, 'git', '{}', 's', '{}')")
        conn.exec_driver_sql(
            "INSERT INTO resource_versions (resource_id, scope, version_hash, version, "
            f"metadata, check_order, created_at) VALUES (1, 's', 'h', '{{\"ref\": \"a\"}}', "
            f"'[]', 1, '{now}')")
    store = await Store.open(None, data_dir=tmp_path)
    try:
        repo = await store.resource_by_id(1)
        assert repo is not None and repo.api_pinned_version is None and repo.pin is None
        assert [v.version for v in await store.versions(1)] == [{"ref": "a"}]
    finally:
        await store.close()
