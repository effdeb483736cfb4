"""Every store test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database.

One PostgreSQL server per session (tests/postgres.py), started only when a
PostgreSQL case runs; each test gets its own database (CREATE DATABASE, dropped
after), as each SQLite case gets its own file, so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from headwater.store import Store
from tests.postgres import Postgres, postgres


@dataclass(frozen=True)
class Target:
    """Where a test's database lives; `open()` gives another Store on the same data
    (as a second server process, or the server after a restart, would have)."""

    url: str | None
    data_dir: Path

    async def open(self) -> Store:
        return await Store.open(self.url, data_dir=self.data_dir)


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    with postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "sqlite":
        yield Target(None, tmp_path / "data")
        return
    server: Postgres = request.getfixturevalue("pg")
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name)
    try:
        yield Target(url, tmp_path / "data")
    finally:
        server.drop_database(name)


@pytest.fixture
async def store(target: Target) -> AsyncIterator[Store]:
    s = await target.open()
    try:
        yield s
    finally:
        await s.close()
