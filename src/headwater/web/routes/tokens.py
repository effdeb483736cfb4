"""API tokens over the API: list, create (the token is answered once), revoke.

    GET    /api/v1/tokens                    [{"id", "name", "created_at"}]
    POST   /api/v1/tokens  {"name": N}       {"name", "token"}   (409: name taken)
    DELETE /api/v1/tokens/{name|id}[?force=true]    204; 404 unknown; 409 the last token

Only hashes are stored (`store/tokens.py`), so a listing never shows a token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from headwater.web.deps import CIService, require_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"],
                   dependencies=[Depends(require_token)])


class CreateTokenBody(BaseModel):
    name: str


@router.get("")
async def list_tokens(ci: CIService) -> list[dict[str, Any]]:
    return [{"id": t.id, "name": t.name, "created_at": t.created_at.timestamp()}
            for t in await ci.tokens()]


@router.post("", status_code=201)
async def create_token(ci: CIService, body: CreateTokenBody) -> dict[str, Any]:
    name, token = await ci.create_token(body.name)
    return {"name": name, "token": token}


@router.delete("/{name_or_id}")
async def revoke_token(ci: CIService, name_or_id: str, force: bool = False) -> Response:
    await ci.revoke_token(name_or_id, force=force)
    return Response(status_code=204)
