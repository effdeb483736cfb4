"""What a route may ask for: the CI service, the CD controller, the metrics registry and
the token check, all held by the app (`app.state.services`, set once by `app.make_app`).

A route takes them as parameters typed with the aliases below and never touches the
store itself:

    @router.get("/things")
    async def things(ci: CIService, cd: CDController) -> ...

`require_token` is the one bearer-token check; routers that need it list it in their
`dependencies` (every router of the API does, but the health check, `info` and the
resource webhook, which carries its own token).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from prometheus_client import CollectorRegistry

from headwater.cd.controller import Controller
from headwater.ci.service import CI
from headwater.store.tokens import sha256_hex

TokenCheck = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class Services:
    """Everything the routes of one app use. `ci` None: the CD-only app of `headwater
    cd` (no CI routes are mounted). `check_token` None: loopback dev mode, no token."""

    cd: Controller
    registry: CollectorRegistry
    check_token: TokenCheck | None
    ci: CI | None = None

    @property
    def dev(self) -> bool:
        return self.check_token is None


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _ci(request: Request) -> CI:
    ci = services(request).ci
    if ci is None:  # CI routes are not mounted without CI: a bug if reached
        raise RuntimeError("a CI route in an app without CI")
    return ci


def _cd(request: Request) -> Controller:
    return services(request).cd


CIService = Annotated[CI, Depends(_ci)]
CDController = Annotated[Controller, Depends(_cd)]
AppServices = Annotated[Services, Depends(services)]


async def require_token(request: Request,
                        authorization: Annotated[str | None, Header()] = None) -> None:
    check = services(request).check_token
    if check is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token or not await check(token):
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})


async def _caller(request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The name of the caller's token (the server's tokens have names); None in dev mode
    and for `headwater cd --api-token`'s single token."""
    ci = services(request).ci
    scheme, _, token = (authorization or "").partition(" ")
    if ci is None or scheme.lower() != "bearer" or not token:
        return None
    return await ci.token_name(sha256_hex(token))


Caller = Annotated[str | None, Depends(_caller)]


def static_token(expected: str) -> TokenCheck:
    """The check of `headwater cd --api-token`: one token, compared in constant time."""
    async def check(token: str) -> bool:
        return hmac.compare_digest(token.encode(), expected.encode())
    return check
