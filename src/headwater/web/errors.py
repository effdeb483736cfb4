"""The one place where headwater's errors become HTTP answers.

    NotFound, cd UnknownSource,   404
    UnknownRelease, UnknownWorkload
    Conflict, store TokenConflict 409   (LastToken adds "last_token": true)
    cd ReadOnlySource             409
    any other UserError           400   with its `details()` next to `detail`
    a body FastAPI cannot read    400   `where: what` per problem
    GitError, RegistryError       502   a CD action's Git push or registry scan failed
                                        (their messages are redacted where raised)

Answers are `{"detail": message, ...}`. A request's input is never echoed (it may be
huge, or hold a var's secret value).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from headwater.cd.controller import ReadOnlySource, UnknownSource
from headwater.cd.releases import UnknownRelease
from headwater.cd.verbs import UnknownWorkload
from headwater.ci.service import Conflict, NotFound
from headwater.errors import UserError
from headwater.gitrepo import GitError
from headwater.registry import RegistryError
from headwater.store import LastToken, TokenConflict


def status_of(error: UserError) -> int:
    if isinstance(error, NotFound | UnknownSource | UnknownRelease | UnknownWorkload):
        return 404
    if isinstance(error, Conflict | ReadOnlySource):
        return 409
    return 400


def add_handlers(app: FastAPI) -> None:
    @app.exception_handler(UserError)
    async def _user_error(_: Request, e: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(e), **e.details()}, status_code=status_of(e))

    @app.exception_handler(TokenConflict)
    async def _token_conflict(_: Request, e: TokenConflict) -> JSONResponse:
        extra = {"last_token": True} if isinstance(e, LastToken) else {}
        return JSONResponse({"detail": str(e), **extra}, status_code=409)

    @app.exception_handler(GitError)
    async def _git_error(_: Request, e: GitError) -> JSONResponse:
        return JSONResponse({"detail": f"git: {e}"}, status_code=502)

    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, e: RegistryError) -> JSONResponse:
        return JSONResponse({"detail": f"registry: {e}"}, status_code=502)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": request_errors(e)}, status_code=400)


def request_errors(e: RequestValidationError) -> str:
    """What FastAPI found wrong with a request, one `where: what` per problem (never the
    input itself: it may be huge, or hold a var's secret value)."""
    parts = []
    for err in e.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        ctx = err.get("ctx") or {}
        why = f" ({ctx['error']})" if "error" in ctx and isinstance(ctx["error"], str) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{why}")
    return "invalid request: " + "; ".join(parts)
