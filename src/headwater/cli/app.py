"""The `headwater` command: the root Typer app and its global options.

It starts at once: the verb modules hold only their flags at import, and each verb
imports the engine it drives (the CI server, the CD controller, the Kubernetes and
registry clients) when it runs, so `--help`, `--version`, shell completion and the
client verbs load none of them (`tests/test_cli_startup.py` keeps it so). Help is
Click's plain text, not Rich's boxes: a flag name is never cut at any width, and `[ci
skip]` in a help text is printed, not taken for markup. `--install-completion` and
`--show-completion` take the shell's name or guess it (`completion.py`).
"""

from __future__ import annotations

from typing import Annotated

import typer

import headwater
from headwater.cli import (
    cd,
    completion,
    demo,
    fluxctl,
    fly,
    pipelinecheck,
    policy,
    server,
    stack,
    tokens,
)

app = typer.Typer(
    name="headwater",
    help="GitOps continuous delivery: a Concourse-style CI engine and a Flux-style CD "
    "controller in one tool.",
    no_args_is_help=True,
    add_completion=False,  # completion.py's flags, which take the shell's name
    cls=completion.RootGroup,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"headwater {headwater.__version__}")
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
    install_completion: Annotated[str | None, typer.Option(
        "--install-completion", metavar="[SHELL]", callback=completion.install_for,
        is_eager=True, help="Install completion for SHELL (bash, zsh, fish, powershell, "
        "pwsh; default: the one running).")] = None,
    show_completion: Annotated[str | None, typer.Option(
        "--show-completion", metavar="[SHELL]", callback=completion.show, is_eager=True,
        help="Print the completion script of SHELL (default: the one running).")] = None,
) -> None:
    """GitOps continuous delivery: Git is the single source of truth."""
    from headwater import log as hwlog

    hwlog.setup(log_level)
    ctx.obj = {"target": target}


stack.register(app)
demo.register(app)
cd.register(app)
policy.register(app)
fluxctl.register(app)
pipelinecheck.register(app)
server.register(app)
fly.register(app)
tokens.register(app)


def main() -> None:
    app()
