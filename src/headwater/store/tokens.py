"""API tokens: only the sha256 of a token is stored, so a leaked database grants nothing.

A token is 32 random bytes, URL-safe base64: too long to guess, so a fast hash is
enough (no salt, no key stretching). Lookup is by hash, then the hashes are compared
with `hmac.compare_digest`, in constant time.

Tokens have unique names (`create-token NAME`) and are revoked by name or id. The
last token cannot be revoked without `force`: that would leave nobody able to use the
API until the server is restarted (a start with no token prints a new admin token).
Webhook tokens of resources are kept the same way, as their sha256
(`webhook_token_matches`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from headwater.errors import HeadwaterError
from headwater.store.db import Database, utcnow
from headwater.store.models import ApiToken
from headwater.store.schema import api_tokens

_DUMMY_SHA256 = "0" * 64  # what an absent webhook token is compared with


class TokenConflict(HeadwaterError):
    """A token change that is refused; the message says why and what to do."""


class LastToken(TokenConflict):
    """Revoking the only token left needs `force`."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def webhook_token_matches(stored_sha256: str | None, given: str) -> bool:
    """Whether `given` is the webhook token whose hash is stored. The same work (a hash
    and a constant-time compare) when there is none, so absence does not show."""
    expected = stored_sha256 or _DUMMY_SHA256
    same = hmac.compare_digest(expected, sha256_hex(given))
    return same and stored_sha256 is not None


class TokensMixin:
    _db: Database

    async def create_token(self, name: str) -> str:
        """A new token, returned once: only its hash is kept. Names are unique."""
        token = secrets.token_urlsafe(32)
        async with self._db.write() as conn:
            taken = (await conn.execute(sa.select(api_tokens.c.id)
                                        .where(api_tokens.c.name == name))).first()
            if taken is not None:
                raise TokenConflict(f"a token named {name!r} exists: revoke it first or "
                                    "choose another name")
            await conn.execute(api_tokens.insert().values(
                name=name, token_sha256=sha256_hex(token), created_at=utcnow()))
        return token

    async def check_token(self, token: str) -> bool:
        return await self.check_token_sha256(sha256_hex(token))

    async def check_token_sha256(self, wanted: str) -> bool:
        """Whether the token of this sha256 (hex) is still valid: a web session keeps the
        hash of the token it logged in with, never the token, and asks this."""
        async with self._db.read() as conn:
            stored = (await conn.execute(
                sa.select(api_tokens.c.token_sha256)
                .where(api_tokens.c.token_sha256 == wanted))).scalar_one_or_none()
        return stored is not None and hmac.compare_digest(stored, wanted)

    async def token_name_sha256(self, wanted: str) -> str | None:
        """The name of the live token of this sha256 (hex): who a web session is."""
        async with self._db.read() as conn:
            return (await conn.execute(
                sa.select(api_tokens.c.name)
                .where(api_tokens.c.token_sha256 == wanted))).scalar_one_or_none()

    async def has_tokens(self) -> bool:
        async with self._db.read() as conn:
            found = (await conn.execute(sa.select(api_tokens.c.id).limit(1))).first()
        return found is not None

    async def list_tokens(self) -> list[ApiToken]:
        async with self._db.read() as conn:
            rows = await conn.execute(sa.select(api_tokens.c.id, api_tokens.c.name,
                                                api_tokens.c.created_at)
                                      .order_by(api_tokens.c.id))
            return [ApiToken(id=r.id, name=r.name, created_at=r.created_at) for r in rows]

    async def revoke_token(self, name_or_id: str, *, force: bool = False) -> ApiToken | None:
        """Delete the token named `name_or_id` (or with that id); the token revoked, None
        when there is no such token. Raises `LastToken` for the only one left unless
        `force`."""
        async with self._db.write() as conn:
            columns = (api_tokens.c.id, api_tokens.c.name, api_tokens.c.created_at)
            row = (await conn.execute(sa.select(*columns)
                                      .where(api_tokens.c.name == name_or_id))).first()
            if row is None and name_or_id.isdigit():  # a name wins over an id
                row = (await conn.execute(sa.select(*columns).where(
                    api_tokens.c.id == int(name_or_id)))).first()
            if row is None:
                return None
            count = (await conn.execute(sa.select(sa.func.count()).select_from(api_tokens))
                     ).scalar_one()
            if count == 1 and not force:
                raise LastToken(f"{row.name!r} is the last token: revoking it leaves nobody "
                                "able to use the API until the server restarts and prints a "
                                "new admin token; confirm (or pass --force) to do it anyway")
            await conn.execute(api_tokens.delete().where(api_tokens.c.id == row.id))
            return ApiToken(id=row.id, name=row.name, created_at=row.created_at)
