"""`Store`: the CI engine's persistence, one object over SQLite or PostgreSQL.

Each concern lives in its own module as a mixin over the shared `Database`
(`pipelines`, `versions`, `builds`, `events`, `tokens`); `Store` only assembles them
and owns opening (migrations to head) and closing. Every method is one short
transaction and returns frozen dataclasses (`models.py`).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from headwater.store.builds import BuildsMixin
from headwater.store.crypto import Keyring
from headwater.store.db import Database, connect
from headwater.store.encryption import settle
from headwater.store.events import EventsMixin
from headwater.store.pipelines import PipelinesMixin
from headwater.store.tokens import TokensMixin
from headwater.store.versions import VersionsMixin


class Store(PipelinesMixin, VersionsMixin, BuildsMixin, EventsMixin, TokensMixin):
    def __init__(self, db: Database) -> None:
        self._db = db

    @classmethod
    async def open(cls, url: str | None, *, data_dir: Path,
                   keyring: Keyring | None = None) -> Store:
        """The store at `url` (a PostgreSQL URL), or SQLite at `<data_dir>/headwater.db`
        when `url` is None, migrated to the current schema, its secret columns brought
        to `keyring`'s key (`encryption.settle`; `DecryptError` when it cannot)."""
        db = await connect(url, data_dir=data_dir, keyring=keyring)
        try:
            await settle(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @property
    def encrypted(self) -> bool:
        """Whether secret columns are written encrypted."""
        return self._db.keyring.primary is not None

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self._db.dialect

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
