"""The `headwater` command: the root Typer app and its global options."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from headwater import __version__
from headwater import log as hwlog
from headwater.cli import cd, fluxctl, fly, pipelinecheck, policy, server, stack, tokens

app = typer.Typer(
    name="headwater",
    help="GitOps continuous delivery: a Concourse-style CI engine and a Flux-style CD "
    "controller in one tool.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"headwater {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
    log_level: Annotated[str, typer.Option(
        "--log-level", help="debug, info, warning or error (logs go to stderr).")] = "info",
    target: Annotated[str | None, typer.Option(
        "-t", "--target", help="The saved server target the CI verbs talk to (as fly -t).")
    ] = None,
) -> None:
    """GitOps continuous delivery: Git is the single source of truth."""
    hwlog.setup(log_level)
    ctx.obj = {"target": target}


stack.register(app)
cd.register(app)
policy.register(app)
fluxctl.register(app)
pipelinecheck.register(app)
server.register(app)
fly.register(app)
tokens.register(app)


def main() -> None:
    app()
