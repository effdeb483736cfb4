"""The database connection: SQLite by default, PostgreSQL with a URL; short transactions.

SQLite (DESIGN.md §7): WAL so readers never block the writer (with
`synchronous=NORMAL`, WAL's usual pairing: a power cut may lose the last commits,
never corrupt the file), `busy_timeout` so a writer waits for the lock instead of
failing, foreign keys on (the cascades rely on them), and every writer starts with
`BEGIN IMMEDIATE`: a plain (deferred) BEGIN takes the write lock only at the first
write, and when two transactions that read first race, SQLite cannot wait its way
out and one fails ("database is locked") — 285 of 400 concurrent writes were lost
that way. To issue our own BEGIN, the sqlite3 driver's
transaction handling is turned off (`isolation_level = None`) and SQLAlchemy's
"begin" event emits it: `BEGIN IMMEDIATE` on connections of the writer engine,
a deferred `BEGIN` (a consistent snapshot) for readers.

PostgreSQL runs at READ COMMITTED; writers that read then write lock the parent row
first (`SELECT ... FOR UPDATE` or an `UPDATE ... RETURNING` counter), always in the
order pipeline → resource/job → build, so concurrent writers queue instead of
deadlocking. On SQLite, `FOR UPDATE` renders as nothing: BEGIN IMMEDIATE already
serializes writers.

The Alembic migrations shipped in `migrations/` run to head at open time, in one
transaction (an advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite, so servers
starting together migrate once).

Files: the SQLite database holds secrets, so the data dir is 0700 and the database
0600, created so (the file is made 0600 before SQLite opens it; SQLite gives its
-wal and -shm files the database's mode) and tightened at open when an older
version left them looser, with a log line. The key ring of `--encryption-key` hangs
on the engine's dialect, where the encrypted column types of `schema.py` find it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from headwater import log as hwlog
from headwater.errors import HeadwaterError
from headwater.store.crypto import Keyring
from headwater.store.schema import KEYRING_ATTRIBUTE

SQLITE_FILE = "headwater.db"
BUSY_TIMEOUT_MS = 5000
_WRITE = "headwater_write"
_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x68656164  # pg_advisory_xact_lock key: "head"
DIR_MODE = 0o700
FILE_MODE = 0o600

_log = hwlog.get("store")


class StoreError(HeadwaterError):
    """A store setting a user can fix (an unsupported database URL)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def database_url(url: str | None, data_dir: Path) -> sa.URL:
    """The SQLAlchemy URL: `<data_dir>/headwater.db` by default; a PostgreSQL URL
    with or without its driver (`postgresql://`, `postgres://`) uses psycopg 3."""
    if not url:
        secure_dir(data_dir)
        return sa.URL.create("sqlite+aiosqlite", database=str(data_dir / SQLITE_FILE))
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return parsed.set(drivername="sqlite+aiosqlite")
    raise StoreError(f"unsupported database URL {parsed.render_as_string()!r}: use "
                     "postgresql://user@host/db (PostgreSQL) or sqlite:///path/to/file.db")


def secure_dir(path: Path) -> None:
    """Create `path` 0700, or tighten it to 0700 when it is looser."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)


def secure_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm files take
    its mode), or tighten it and its -wal/-shm files when they are looser."""
    if not path.parent.is_dir():
        return  # SQLite says "unable to open database file", naming the problem
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            _tighten(file, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        path.chmod(current & mode)
        _log.warning("tightened the mode of a file holding secrets", path=str(path),
                     old=oct(current), new=oct(current & mode))


IN_CHUNK = 500  # bound the parameters of an IN (...) list


class Database:
    """An async engine and the two ways to use it: `read()` and `write()`."""

    def __init__(self, engine: AsyncEngine, keyring: Keyring | None = None) -> None:
        self.engine = engine
        self.keyring = keyring or Keyring()
        # Per engine, not global: two stores in one process may hold different keys.
        setattr(engine.dialect, KEYRING_ATTRIBUTE, self.keyring)
        self._writer = engine.execution_options(**{_WRITE: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One short write transaction, committed when the block ends without error."""
        async with self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot; rolled back at the end."""
        async with self.engine.connect() as conn:
            yield conn

    async def insert_ignore(self, conn: AsyncConnection, table: sa.Table,
                            row: Mapping[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING of one row; whether it was inserted."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        # RETURNING rather than rowcount: psycopg's INSERT rowcount is -1 here.
        result = await conn.execute(dialect_insert(table).values(dict(row))
                                    .on_conflict_do_nothing()
                                    .returning(*table.primary_key.columns))
        return result.first() is not None

    async def migrate(self) -> None:
        async with self.write() as conn:
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


async def connect(url: str | None, *, data_dir: Path,
                  keyring: Keyring | None = None) -> Database:
    """The database at `url` (SQLite under `data_dir` by default), migrated to head."""
    target = database_url(url, data_dir)
    if target.get_backend_name() == "sqlite":
        assert target.database is not None  # database_url refuses in-memory SQLite
        secure_sqlite_file(Path(target.database))
        engine = create_async_engine(target)
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(target, pool_pre_ping=True)
    db = Database(engine, keyring)
    try:
        await db.migrate()
    except BaseException:
        await db.close()
        raise
    return db


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode = WAL", f"busy_timeout = {BUSY_TIMEOUT_MS}",
                       "foreign_keys = ON", "synchronous = NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _upgrade(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
