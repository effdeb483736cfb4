"""API tokens: returned once, stored as a hash, checked."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from headwater.store import Store
from headwater.store.schema import api_tokens


async def test_a_created_token_checks_and_only_its_hash_is_stored(store: Store) -> None:
    assert not await store.has_tokens()
    token = await store.create_token("admin")
    other = await store.create_token("ci")
    assert token != other and len(token) >= 40
    assert await store.has_tokens()
    assert await store.check_token(token) and await store.check_token(other)
    assert not await store.check_token(token[:-1])
    assert not await store.check_token("")
    async with store._db.read() as conn:
        stored = set((await conn.execute(sa.select(api_tokens.c.token_sha256))).scalars())
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for t in (token, other)}
