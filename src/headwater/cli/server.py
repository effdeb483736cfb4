"""`headwater server`: the all-in-one server: the CI API, checker, scheduler and builds,
and with `--cd-config` the CD controller, in one process behind one API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headwater.cli import yamlflags
from headwater.cli.cd import kubectl_path, with_identity
from headwater.cli.console import LazyConsole
from headwater.cli.paths import config_dir
from headwater.cli.paths import data_dir as default_data_dir
from headwater.sizes import parse_size

if TYPE_CHECKING:
    from headwater.cd.source import Source
    from headwater.ci.resources.netns import Allowed

err = LazyConsole(stderr=True)

# The engine's default (`headwater.ci.resources.cgroups.DEFAULT_PIDS_LIMIT`), written
# here so that `--help` shows it without importing the engine; a test checks they agree.
DEFAULT_TASK_PIDS = 4096


def server(
    ctx: typer.Context,
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
    encryption_key: Annotated[str | None, typer.Option(
        "--encryption-key", envvar="HEADWATER_ENCRYPTION_KEY", show_envvar=True,
        help="A 32-byte key: secret values (interpolated configs, resource sources, "
        "plans) are stored AES-256-GCM encrypted with it. Prefer the env var (argv shows "
        "in ps).")] = None,
    old_encryption_key: Annotated[str | None, typer.Option(
        "--old-encryption-key", envvar="HEADWATER_OLD_ENCRYPTION_KEY", show_envvar=True,
        help="The key the database is encrypted with now: re-encrypted with "
        "--encryption-key at start (decrypted when no new key is given).")] = None,
    max_build_log_size: Annotated[str, typer.Option(
        "--max-build-log-size", help="Log output kept per build (e.g. 100MB, 512KB); "
        "past it one line says the log was truncated and the rest is dropped.")] = "100MB",
    image_max_layer: Annotated[str, typer.Option(
        "--resource-image-max-layer",
        help="Largest layer download of a resource type image.")] = "2GiB",
    image_max_unpacked: Annotated[str, typer.Option(
        "--resource-image-max-unpacked",
        help="Most file bytes a resource type image may unpack to.")] = "8GiB",
    task_allow: Annotated[list[str] | None, typer.Option(
        "--task-allow", help="A host loopback service (HOST:PORT) that tasks and resource "
        "scripts with network may reach; repeatable. Other loopback ports are out of "
        "their reach.")] = None,
    stack: Annotated[Path | None, typer.Option(
        "--stack", help="The local stack (`headwater up` state dir) whose Git server and "
        "registry tasks may reach (default: the default stack, when one was started).")
    ] = None,
    resource_local_paths: Annotated[bool, typer.Option(
        "--resource-local-paths", help="Let the built-in resource types read repositories "
        "by path or file:// URL on this machine (a single-user dev server; anyone who "
        "can set a pipeline then reads any repository the server can).")] = False,
    task_rootfs_dir: Annotated[list[Path] | None, typer.Option(
        "--task-rootfs-dir", help="A directory under which tasks' rootfs_uri: raw:///... "
        "may name their root filesystem; repeatable (default: none, raw:// refused).")
    ] = None,
    task_memory: Annotated[str, typer.Option(
        "--default-task-memory-limit", help="Memory of a task whose container_limits do not "
        "say (bytes, or 512MB, 2GB; 0: unlimited).")] = "4GB",
    task_cpu: Annotated[int, typer.Option(
        "--default-task-cpu-limit", min=0, help="CPU shares of a task whose "
        "container_limits do not say (1024 weighs as one process; 0: the system's "
        "default).")] = 0,
    task_pids: Annotated[int, typer.Option(
        "--default-task-pids-limit", min=0, help="Processes (and threads) a task may have at once; "
        "a fork bomb hits it (0: unlimited).")] = DEFAULT_TASK_PIDS,
    get_timeout: Annotated[str, typer.Option(
        "--default-get-timeout", help="Timeout of get steps without a timeout of their own "
        "(0: none).")] = "1h",
    put_timeout: Annotated[str, typer.Option(
        "--default-put-timeout", help="Timeout of put steps without a timeout of their own "
        "(0: none).")] = "1h",
    check_timeout: Annotated[str, typer.Option(
        "--global-resource-check-timeout", help="Timeout of checks of resources without a "
        "check_timeout.")] = "1h",
    webhook_secrets: Annotated[Path | None, typer.Option(
        "--webhook-secrets", envvar="HEADWATER_WEBHOOK_SECRETS", show_envvar=True,
        help="A file of name=secret lines: the secrets of /api/v1/hooks/git and "
        "/api/v1/hooks/registry (docs/webhooks.md). A file, so no secret shows in ps.")
    ] = None,
    yaml_max_bytes: yamlflags.MaxBytes = yamlflags.DEFAULT_BYTES,
    yaml_max_nodes: yamlflags.MaxNodes = yamlflags.DEFAULT_NODES,
    cd_config: Annotated[Path | None, typer.Option(
        "--cd-config", help="Run the CD controller too, for the sources of this file "
        "(`headwater cd --config`'s format: sources: [{name, git-url, git-path, ...}]).",
        exists=True, dir_okay=False)] = None,
    kubeconfig: Annotated[Path | None, typer.Option(
        "--kubeconfig", envvar="KUBECONFIG", help="The cluster of --cd-config's sources.")
    ] = None,
    context: Annotated[str | None, typer.Option(
        "--context", help="kubeconfig context (--cd-config).")] = None,
    kubectl: Annotated[str | None, typer.Option(
        "--kubectl", help="kubectl used for kustomize (--cd-config).")] = None,
    docker_config: Annotated[Path | None, typer.Option(
        "--docker-config", help="Docker config.json with registry credentials for image "
        "automation (--cd-config).", exists=True, dir_okay=False)] = None,
    inventory_namespace: Annotated[str, typer.Option(
        "--inventory-namespace", help="Namespace of the CD inventories (--cd-config).")
    ] = "headwater-system",
) -> None:
    """Run the server: the CI API, checker, scheduler and builds, and with --cd-config the
    CD controller, in one process behind one API."""
    import asyncio

    from headwater.cd.runtime import ClusterSettings
    from headwater.ci.resources.cgroups import Limits, parse_memory
    from headwater.ci.resources.netns import parse_allowed
    from headwater.ci.resources.rootfs import ImageLimits
    from headwater.durations import parse_duration
    from headwater.web.server import ServerError, ServerSettings, serve

    for param in ("encryption_key", "old_encryption_key"):
        source = ctx.get_parameter_source(param)
        if source is not None and source.name == "COMMANDLINE":
            flag = "--" + param.replace("_", "-")
            err.print(f"warning: {flag} on the command line is visible to other users "
                      f"(ps, shell history): set HEADWATER_{param.upper()} instead")
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        err.print(f"error: --bind takes HOST:PORT, not {bind!r}")
        raise typer.Exit(2)
    try:
        allowed = [parse_allowed(text) for text in task_allow or []]
    except ValueError as e:
        err.print(f"error: --task-allow: {e}")
        raise typer.Exit(2) from None
    stack_allowed, stack_dir = _stack_access(stack)
    sources = _cd_sources(cd_config)
    try:
        settings = ServerSettings(
            data_dir=data_dir or default_data_dir() / "server", host=host, port=int(port),
            database_url=database_url, external_url=external_url, dev=dev,
            resource_types_dir=resource_types_dir,
            scheduler_tick=parse_duration(scheduler_tick),
            checker_tick=parse_duration(checker_tick),
            encryption_key=encryption_key, old_encryption_key=old_encryption_key,
            max_build_log_size=_flag(parse_size, max_build_log_size, "--max-build-log-size"),
            image_limits=ImageLimits(
                layer_bytes=_flag(parse_size, image_max_layer, "--resource-image-max-layer"),
                unpacked_bytes=_flag(parse_size, image_max_unpacked,
                                     "--resource-image-max-unpacked")),
            task_allow=tuple(dict.fromkeys([*allowed, *stack_allowed])),
            hidden=(config_dir(), *([stack_dir] if stack_dir else [])),
            task_rootfs_dirs=tuple(task_rootfs_dir or ()),
            resource_local_paths=resource_local_paths,
            task_limits=Limits(memory=_flag(parse_memory, task_memory,
                                            "--default-task-memory-limit"),
                               cpu=task_cpu, pids=task_pids),
            get_timeout=parse_duration(get_timeout) or None,
            put_timeout=parse_duration(put_timeout) or None,
            check_timeout=parse_duration(check_timeout),
            yaml_limits=yamlflags.limits(yaml_max_bytes, yaml_max_nodes),
            cd_sources=tuple(sources),
            cd_cluster=ClusterSettings(kubeconfig=kubeconfig, context=context,
                                       kubectl=kubectl_path(kubectl) if sources else kubectl,
                                       inventory_namespace=inventory_namespace),
            cd_docker_config=docker_config,
            webhook_secrets=webhook_secrets, stack_dir=stack_dir)
        asyncio.run(serve(settings))
    except (ServerError, ValueError) as e:
        err.print(f"error: {e}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


def _cd_sources(path: Path | None) -> list[Source]:
    """The sources of `--cd-config` (none without it), ssh ones with `headwater
    identity`'s key unless they name one, as `headwater cd --config` reads them."""
    if path is None:
        return []
    from headwater import log as hwlog
    from headwater.cd.source import SourceError, load_file

    try:
        sources = load_file(path)
    except SourceError as e:
        err.print(f"error: --cd-config: {e}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    hwlog.redact(*(s.git_token for s in sources))
    return [with_identity(s) for s in sources]


def _stack_access(state_dir: Path | None) -> tuple[list[Allowed], Path | None]:
    """The stack's Git daemon, sshd and registry (what its pipelines fetch from and push
    to), and its state dir (hidden from tasks). `--stack` must name a stack; the
    default stack counts only when it was started."""
    from headwater.ci.resources.netns import Allowed
    from headwater.devstack.layout import default_state_dir
    from headwater.devstack.stack import load as load_stack

    directory = (state_dir or default_state_dir()).expanduser().resolve()
    info = load_stack(directory)
    if info is None:
        if state_dir is not None:
            err.print(f"error: --stack {state_dir}: no stack.json there; start a stack with "
                      f"`headwater up --state-dir {state_dir}`")
            raise typer.Exit(2)
        return [], None
    ports = [info.ports[name] for name in ("git", "ssh", "registry") if name in info.ports]
    return [Allowed("127.0.0.1", p) for p in ports], directory



def _flag(parse: Callable[[str], int], value: str, name: str) -> int:
    try:
        return parse(value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def register(app: typer.Typer) -> None:
    app.command("server")(server)
