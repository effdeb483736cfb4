"""Token verbs: list, create and revoke the server's API tokens.

    headwater -t T tokens [--json]
    headwater -t T create-token NAME          prints the new token once
    headwater -t T revoke-token NAME|ID [--force]

The server keeps only hashes, so `tokens` lists names and ids, never tokens. Revoking
the last token locks the API until the server restarts (and prints a new admin
token): the server refuses it unless forced, and this verb asks first (`--force`
skips the question).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from headwater.cli.fly import JsonFlag, _api, _fail, out
from headwater.cli.target import RequestFailed


def tokens(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the API tokens (names and ids: only their hashes are stored)."""
    from rich.table import Table

    with _api(ctx) as api:
        try:
            rows: list[dict[str, Any]] = api.get("/tokens")
        except RequestFailed as e:
            _fail(str(e))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "created", box=None)
    for row in rows:
        created = datetime.fromtimestamp(row["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(row["id"]), row["name"], created)
    out.print(table)


def create_token(ctx: typer.Context,
                 name: Annotated[str, typer.Argument(help="A name for the new token.")]) -> None:
    """Create a token; it is printed once (only its hash is kept)."""
    with _api(ctx) as api:
        try:
            created = api.request("POST", "/tokens", json={"name": name})
        except RequestFailed as e:
            _fail(str(e))
    # Plain print: a console would wrap the long token, and a copy would break.
    print(f"token {created['name']!r} (shown once, keep it): {created['token']}")


def revoke_token(ctx: typer.Context,
                 token: Annotated[str, typer.Argument(help="The token's name or id.")],
                 force: Annotated[bool, typer.Option(
                     "--force", help="Revoke even the last token, without asking.")] = False,
                 ) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    with _api(ctx) as api:
        try:
            api.request("DELETE", f"/tokens/{token}", params={"force": force})
        except RequestFailed as e:
            if e.status != 409:
                _fail(str(e))
            out.print(str(e), markup=False)
            if not typer.confirm("revoke the last token anyway?", default=False):
                _fail("not revoked")
            try:
                api.request("DELETE", f"/tokens/{token}", params={"force": True})
            except RequestFailed as again:
                _fail(str(again))
    out.print(f"token {token!r} revoked", markup=False)


def register(app: typer.Typer) -> None:
    app.command("tokens")(tokens)
    app.command("create-token")(create_token)
    app.command("revoke-token")(revoke_token)
