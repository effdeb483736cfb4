"""`headwater server`: the all-in-one CI server (API, checker, scheduler, builds)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from headwater.ci.config.durations import parse_duration
from headwater.ci.resources.cgroups import DEFAULT_PIDS_LIMIT, Limits, parse_memory
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
    task_memory: Annotated[str, typer.Option(
        "--default-task-memory-limit", help="Memory of a task whose container_limits do not "
        "say (bytes, or 512MB, 2GB; 0: unlimited).")] = "4GB",
    task_cpu: Annotated[int, typer.Option(
        "--default-task-cpu-limit", min=0, help="CPU shares of a task whose "
        "container_limits do not say (1024 weighs as one process; 0: the system's "
        "default).")] = 0,
    task_pids: Annotated[int, typer.Option(
        "--default-task-pids-limit", min=0, help="Processes (and threads) a task may have at once; "
        "a fork bomb hits it (0: unlimited).")] = DEFAULT_PIDS_LIMIT,
    get_timeout: Annotated[str, typer.Option(
        "--default-get-timeout", help="Timeout of get steps without a timeout of their own "
        "(0: none).")] = "1h",
    put_timeout: Annotated[str, typer.Option(
        "--default-put-timeout", help="Timeout of put steps without a timeout of their own "
        "(0: none).")] = "1h",
    check_timeout: Annotated[str, typer.Option(
        "--global-resource-check-timeout", help="Timeout of checks of resources without a "
        "check_timeout.")] = "1h",
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
            task_limits=Limits(memory=_flag(parse_memory, task_memory,
                                            "--default-task-memory-limit"),
                               cpu=task_cpu, pids=task_pids),
            get_timeout=parse_duration(get_timeout) or None,
            put_timeout=parse_duration(put_timeout) or None,
            check_timeout=parse_duration(check_timeout))
        asyncio.run(serve(settings))
    except (ServerError, ValueError) as e:
        err.print(f"error: {e}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def _flag(parse: Callable[[str], int], value: str, name: str) -> int:
    try:
        return parse(value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def register(app: typer.Typer) -> None:
    app.command("server")(server)
