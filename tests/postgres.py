"""A throwaway PostgreSQL server for tests: Debian's postgresql, on 127.0.0.1, a free port.

`postgres()` runs `initdb` into a temporary directory (trust auth, loopback only),
starts the postmaster directly (argument lists, never a shell) with `fsync=off`,
waits until it answers queries, and at the end stops it by its pid (SIGINT: a fast
shutdown that does not wait for clients) and removes the directory, even when the
tests failed. PostgreSQL refuses to run as root, so under root the programs run as
the `postgres` user through `setpriv`, which execs in place: the pid we hold is the
postmaster's own.

    with postgres() as pg:
        url = pg.create_database("t1")   # postgresql+psycopg://postgres@127.0.0.1:N/t1
        ...
        pg.drop_database("t1")
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from headwater.devstack import process
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick

BIN = Path(os.environ.get("HEADWATER_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Postgres:
    port: int
    root: Path
    proc: process.Proc

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string (for psycopg)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name`; its SQLAlchemy URL."""
        self._admin(f"CREATE DATABASE {_checked(name)}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, closing the connections still open to it."""
        self._admin(f"DROP DATABASE IF EXISTS {_checked(name)} WITH (FORCE)")

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.encode())


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r}: use lowercase letters, digits and _")
    return name


def _as_postgres() -> list[str]:
    """The prefix that runs a program as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups", "--"]


def _ready(port: int) -> bool:
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres",
                             connect_timeout=2) as conn:
            conn.execute(b"SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def _stop(proc: process.Proc, *, timeout: float = 30.0) -> None:
    """SIGINT (fast shutdown) and wait; SIGKILL if it is still there after `timeout`."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGKILL, 5.0)):
        if not process.is_alive(proc):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        deadline = time.monotonic() + wait
        while process.is_alive(proc) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
            time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)


@contextlib.contextmanager
def postgres(*, timeout: float = 60.0) -> Iterator[Postgres]:
    """Start a PostgreSQL server for the block; stop it and delete its files after."""
    if not (BIN / "postgres").exists():
        raise RuntimeError(f"PostgreSQL is not installed in {BIN}: apt-get install -y postgresql")
    # A short path: the unix socket lives in it, and socket paths are limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="hwpg-", dir="/tmp"))
    proc: process.Proc | None = None
    try:
        layout = Layout(root)
        for d in (layout.run, layout.logs):
            d.mkdir()
        data = root / "data"
        data.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam(SUPERUSER)
            for path in (root, data):
                os.chown(path, user.pw_uid, user.pw_gid)
        init = subprocess.run(
            [*_as_postgres(), str(BIN / "initdb"), "-D", str(data), "-U", SUPERUSER,
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            cwd=root, capture_output=True, text=True)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        port = pick(None, set())
        proc = process.start("postgres", [
            *_as_postgres(), str(BIN / "postgres"), "-D", str(data),
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={port}",
            "-c", f"unix_socket_directories={root}", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ], layout=layout)
        process.wait_until(proc, lambda: _ready(port), what="accepting connections",
                           timeout=timeout, interval=0.2)
        yield Postgres(port=port, root=root, proc=proc)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)
