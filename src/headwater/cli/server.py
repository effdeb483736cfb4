"""`headwater server`: the all-in-one CI server (API, checker, scheduler, builds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headwater.ci.config.durations import parse_duration
from headwater.cli import yamlflags
from headwater.cli.paths import data_dir as default_data_dir
from headwater.web.server import ServerError, ServerSettings, serve

err = Console(stderr=True)


def server(
    bind: Annotated[str, typer.Option("--bind", help="HOST:PORT to listen on.")
                    ] = "127.0.0.1:8080",
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where the SQLite database and build work dirs live "
        "(default: $XDG_DATA_HOME/headwater/server).")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="HEADWATER_DATABASE_URL",
        help="postgresql+psycopg://user@host:port/db instead of SQLite.")] = None,
    external_url: Annotated[str | None, typer.Option(
        "--external-url", help="The URL users reach the server at (BUILD_URL).")] = None,
    dev: Annotated[bool, typer.Option(
        "--dev", help="Loopback dev mode: no token needed (127.0.0.1 only).")] = False,
    resource_types_dir: Annotated[Path | None, typer.Option(
        "--resource-types-dir", help="A directory of resource types: <dir>/<type>/"
        "{check,in,out} (default: <data dir>/resource-types).")] = None,
    scheduler_tick: Annotated[str, typer.Option(
        "--scheduler-interval", help="How often every job is looked at anyway.")] = "10s",
    checker_tick: Annotated[str, typer.Option(
        "--checker-interval", help="How often due resource checks are looked for.")] = "10s",
    yaml_max_bytes: yamlflags.MaxBytes = yamlflags.DEFAULT_BYTES,
    yaml_max_nodes: yamlflags.MaxNodes = yamlflags.DEFAULT_NODES,
) -> None:
    """Run the CI server: REST API, checker, scheduler and builds in one process."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        err.print(f"error: --bind takes HOST:PORT, not {bind!r}")
        raise typer.Exit(2)
    try:
        settings = ServerSettings(
            data_dir=data_dir or default_data_dir() / "server", host=host, port=int(port),
            database_url=database_url, external_url=external_url, dev=dev,
            resource_types_dir=resource_types_dir,
            scheduler_tick=parse_duration(scheduler_tick),
            checker_tick=parse_duration(checker_tick),
            yaml_limits=yamlflags.limits(yaml_max_bytes, yaml_max_nodes))
        asyncio.run(serve(settings))
    except (ServerError, ValueError) as e:
        err.print(f"error: {e}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("server")(server)
