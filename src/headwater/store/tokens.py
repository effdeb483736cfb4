"""API tokens: only the sha256 of a token is stored, so a leaked database grants nothing.

A token is 32 random bytes, URL-safe base64: too long to guess, so a fast hash is
enough (no salt, no key stretching). Lookup is by hash, then the hashes are compared
with `hmac.compare_digest`, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from headwater.store.db import Database, utcnow
from headwater.store.schema import api_tokens


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokensMixin:
    _db: Database

    async def create_token(self, name: str) -> str:
        """A new token, returned once: only its hash is kept."""
        token = secrets.token_urlsafe(32)
        async with self._db.write() as conn:
            await conn.execute(api_tokens.insert().values(
                name=name, token_sha256=_hash(token), created_at=utcnow()))
        return token

    async def check_token(self, token: str) -> bool:
        wanted = _hash(token)
        async with self._db.read() as conn:
            stored = (await conn.execute(
                sa.select(api_tokens.c.token_sha256)
                .where(api_tokens.c.token_sha256 == wanted))).scalar_one_or_none()
        return stored is not None and hmac.compare_digest(stored, wanted)

    async def has_tokens(self) -> bool:
        async with self._db.read() as conn:
            found = (await conn.execute(sa.select(api_tokens.c.id).limit(1))).first()
        return found is not None
