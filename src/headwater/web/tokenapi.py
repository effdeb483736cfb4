"""API tokens over the API: list, create (the token is answered once), revoke.

    GET    /api/v1/tokens                    [{"id", "name", "created_at"}]
    POST   /api/v1/tokens  {"name": N}       {"id", "name", "token"}   (409: name taken)
    DELETE /api/v1/tokens/{name|id}[?force=true]    204; 404 unknown; 409 the last token

Only hashes are stored (`store/tokens.py`), so a listing never shows a token. The
last token is revoked only with `force=true`: without any, the API is locked until
the server restarts and prints a new admin token.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from headwater.store import LastToken, Store, TokenConflict


class CreateTokenBody(BaseModel):
    name: str


def add_token_routes(app: FastAPI, store: Store, deps: list[Depends]) -> None:
    @app.get("/api/v1/tokens", dependencies=deps)
    async def list_tokens() -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "created_at": t.created_at.timestamp()}
                for t in await store.list_tokens()]

    @app.post("/api/v1/tokens", dependencies=deps, status_code=201, response_model=None)
    async def create_token(body: CreateTokenBody) -> dict[str, Any] | JSONResponse:
        name = body.name.strip()
        if not name:
            return JSONResponse({"detail": "a token needs a name"}, status_code=400)
        try:
            token = await store.create_token(name)
        except TokenConflict as e:
            return JSONResponse({"detail": str(e)}, status_code=409)
        return {"name": name, "token": token}

    @app.delete("/api/v1/tokens/{name_or_id}", dependencies=deps, response_model=None)
    async def revoke_token(name_or_id: str, force: bool = False) -> Response:
        try:
            revoked = await store.revoke_token(name_or_id, force=force)
        except LastToken as e:
            return JSONResponse({"detail": str(e), "last_token": True}, status_code=409)
        if revoked is None:
            return JSONResponse({"detail": f"no token named {name_or_id!r} (or with that "
                                           "id): see `headwater tokens`"}, status_code=404)
        return Response(status_code=204)
