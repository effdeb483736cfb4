"""At open: bring the secret columns to the key the server was started with.

The `encryption` table holds one row while the database is encrypted: a known text
encrypted with the current key (`key_check`). It is how a start knows, before it
reads or writes anything, which case it is in (Concourse's `--encryption-key` /
`--old-encryption-key` semantics):

| database  | key given          | old key given       | what happens                         |
|-----------|--------------------|---------------------|--------------------------------------|
| plain     | none               | -                   | nothing (the server warns)           |
| plain     | K                  | -                   | every secret column encrypted with K |
| K         | K                  | -                   | nothing                              |
| K         | none or J          | none or not K       | refused: `DecryptError`, no write    |
| K         | J                  | K                   | re-encrypted with J                  |
| K         | none               | K                   | decrypted (back to plain)            |

Rewriting runs one transaction per table; the marker row is written last, so a
start that stops half-way is finished by the next one with the same flags (values
are read with either key, whichever opens them). On SQLite a rewrite ends with a
WAL checkpoint and a VACUUM, so the old texts do not linger in free pages.
"""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from headwater import log as hwlog
from headwater.store.crypto import DecryptError, Keyring
from headwater.store.db import Database
from headwater.store.schema import builds, encrypted_columns, encryption, jobs, pipelines, resources

KEY_CHECK = "headwater encryption key check"
_TABLES = (pipelines, resources, jobs, builds)
_ROWS_PER_READ = 500

_log = hwlog.get("store")


async def settle(db: Database) -> str:
    """Make the database match `db.keyring`; what was done: "plain", "encrypted",
    "unchanged", "re-encrypted" or "decrypted". Raises `DecryptError` (nothing
    written) when the keys given do not open an encrypted database."""
    ring = db.keyring
    async with db.read() as conn:
        stored = (await conn.execute(sa.select(encryption.c.key_check)
                                     .where(encryption.c.id == 1))).scalar_one_or_none()
    if stored is None:
        if ring.primary is None:
            return "plain"
        await _rewrite(db)
        await _mark(db)
        await _compact(db)
        _log.info("secret columns encrypted with the encryption key")
        return "encrypted"
    if ring.primary is not None and _opens(ring.primary, stored):
        return "unchanged"
    if not any(_opens(old, stored) for old in ring.old):
        if ring.primary is None:
            raise DecryptError("the database is encrypted: start the server with "
                               "--encryption-key (or HEADWATER_ENCRYPTION_KEY) set to its key")
        raise DecryptError("the encryption key does not open this database (nothing was "
                           "changed): give the key it was encrypted with, or, to change "
                           "keys, that key as --old-encryption-key and the new one as "
                           "--encryption-key")
    await _rewrite(db)
    await _mark(db)
    await _compact(db)
    done = "re-encrypted" if ring.primary is not None else "decrypted"
    _log.info(f"secret columns {done}", with_key=ring.primary is not None)
    return done


def _opens(cipher: AESGCM, stored: str) -> bool:
    try:
        return Keyring(old=(cipher,)).decode(stored) == KEY_CHECK
    except DecryptError:
        return False


async def _mark(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(encryption.delete())
        if db.keyring.primary is not None:
            await conn.execute(encryption.insert().values(
                id=1, key_check=db.keyring.encode(KEY_CHECK)))


async def _rewrite(db: Database) -> None:
    """Read every secret column (with any key of the ring) and write it back (with the
    primary key, or plain): one transaction per table."""
    for table in _TABLES:
        columns = encrypted_columns(table)
        async with db.write() as conn:
            last = 0
            while True:
                rows = (await conn.execute(
                    sa.select(table.c.id, *columns).where(table.c.id > last)
                    .order_by(table.c.id).limit(_ROWS_PER_READ))).all()
                for row in rows:
                    await conn.execute(table.update().where(table.c.id == row.id).values(
                        {c.name: row._mapping[c.name] for c in columns}))
                if len(rows) < _ROWS_PER_READ:
                    break
                last = rows[-1].id


async def _compact(db: Database) -> None:
    if db.dialect != "sqlite":
        return  # PostgreSQL's old row versions go with (auto)vacuum
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        # Outside any transaction (our BEGIN is emitted by SQLAlchemy, not here).
        for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM",
                          "PRAGMA wal_checkpoint(TRUNCATE)"):
            cursor = await raw.execute(statement)
            await cursor.close()
