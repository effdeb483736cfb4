"""Local verbs for the dev stack: `up`, `down`, `status`, `kubeconfig`.

`headwater.devstack` is imported inside each verb: it is the whole stack launcher, and
`--help` or a CI verb has no use for it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headwater.cli.console import LazyConsole

if TYPE_CHECKING:
    from headwater import devstack

out = LazyConsole()
err = LazyConsole(stderr=True)

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", envvar="HEADWATER_STATE_DIR",
                 help="Where the stack keeps its files (one stack per directory)."),
]


def _state_dir(value: Path | None) -> Path:
    from headwater.devstack.layout import default_state_dir

    return (value or default_state_dir()).expanduser().resolve()


def _fail(e: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {e}", highlight=False)
    return typer.Exit(1)


def print_access(info: devstack.StackInfo) -> None:
    git, reg = info.git, info.registry
    rows = [
        ("git", f"{git.git_url('<repo>.git')}   (anonymous, read-only: clone and fetch)"),
        ("", f"{git.ssh_url('<repo>.git')}   push here, with the deploy key:"),
        ("", f"GIT_SSH_COMMAND='{git.ssh_command()}' git push "
             f"{git.ssh_url('<repo>.git')} main"),
        ("", f"read-only key: {git.readonly_key}   repositories: {git.repos}"),
    ]
    if https := info.git_http:
        rows += [
            ("", f"{https.url('<repo>.git')}   clone and push with credentials "
                 "(none: refused), TLS from the stack's CA:"),
            ("", f"user {https.username}, password in {https.password_file}; or the token in "
                 f"{https.token_file} (Bearer, or Basic with any user)"),
            ("", f"GIT_SSL_CAINFO={https.ca_file} git clone "
                 f"https://{https.username}@127.0.0.1:{https.port}/<repo>.git"),
        ]
    rows.append(
        ("registry", f"{reg.url}   e.g. buildah push --tls-verify=false {reg.host}/app:1.0.0"))
    if reg.auth:
        rows.append(("", f"user {reg.auth[0]}, password in "
                         f"{info.layout.sub('registry', 'password')}"))
    if hook_url := info.options.get("hook_url"):
        rows.append(("hooks", f"pushes to the registry are POSTed to {hook_url}; git pushes "
                              "to `headwater server --stack` (docs/webhooks.md)"))
    if info.kubeconfig:
        rows.append(("kubernetes", f"export KUBECONFIG={info.kubeconfig}"))
        if info.kubectl:
            rows.append(("", f"kubectl: {info.kubectl}"))
    rows.append(("state", f"{info.state_dir}   logs: {info.layout.logs}"))
    for label, text in rows:
        out.print(f"[bold]{label:<11}[/bold]{text}", highlight=False, soft_wrap=True)


def up(
    state_dir: StateDir = None,  # type: ignore[assignment]
    kubeconfig: Annotated[Path | None, typer.Option(
        help="Use this cluster (kind, k3d, a real one) instead of starting one.",
        exists=True, dir_okay=False)] = None,
    no_cluster: Annotated[bool, typer.Option(
        "--no-cluster", help="Git server and registry only.")] = False,
    no_node: Annotated[bool, typer.Option(
        "--no-node", help="Control plane without a node (no root needed; pods stay Pending)."
    )] = False,
    registry_auth: Annotated[bool, typer.Option(
        "--registry-auth", help="Protect the registry with htpasswd basic auth.")] = False,
    hook_url: Annotated[str, typer.Option(
        "--hook-url", help="Where the registry sends its push notifications: headwater's "
        "/api/v1/hooks/registry ('' for none). Pushes made while nothing listens are "
        "retried.")] = "http://127.0.0.1:8080/api/v1/hooks/registry",
    registry_user: Annotated[str, typer.Option(
        "--registry-user", help="The auth registry's user (e.g. the seed pipeline's "
        "rguichard).")] = "headwater",
) -> None:
    """Start the local stack: Git server, OCI registry and a single-node Kubernetes cluster."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from headwater import devstack

    opts = devstack.Options(cluster=not no_cluster, node=not no_node, kubeconfig=kubeconfig,
                            registry_auth=registry_auth, hook_url=hook_url,
                            registry_user=registry_user)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err.console,
                  transient=True) as bar:
        task = None
        shown = -1

        def build(done: int, total: int) -> None:
            nonlocal task, shown
            if not err.is_terminal:  # a log file: a line every 10% instead of a bar
                if (tenth := done * 10 // total) > shown:
                    shown = tenth
                    err.print(f"building Kubernetes: {done}/{total} packages")
                return
            if task is None:
                task = bar.add_task("building Kubernetes (once, then cached): packages",
                                    total=total)
            bar.update(task, completed=done)

        def step(name: str, detail: str) -> None:
            bar.console.print(f"[green]✓[/green] {name:<24} {detail}", highlight=False,
                              soft_wrap=True)

        try:
            info = devstack.up(_state_dir(state_dir), opts, devstack.Reporter(step, build))
        except devstack.AlreadyUp as e:
            err.print(f"[yellow]{e}[/yellow]; nothing started. `headwater status` shows it.")
            print_access(e.info)
            return
        except devstack.StackError as e:
            raise _fail(e) from None
    print_access(info)


def down(
    state_dir: StateDir = None,  # type: ignore[assignment]
    purge: Annotated[bool, typer.Option(
        "--purge", help="Also delete the state directory (repositories, images, cluster data)."
    )] = False,
) -> None:
    """Stop everything `up` started and remove what it made outside its directory."""
    from headwater import devstack

    try:
        done = devstack.down(_state_dir(state_dir), purge=purge)
    except devstack.StackError as e:
        raise _fail(e) from None
    for line in done:
        out.print(line, highlight=False)
    if not done:
        out.print("no stack here; nothing to stop")


def status(state_dir: StateDir = None) -> None:  # type: ignore[assignment]
    """Say what runs where, and whether each part is healthy. Exit 1 if something is not."""
    from rich.table import Table

    from headwater import devstack

    info = devstack.load(_state_dir(state_dir))
    if info is None or not info.components:
        err.print(f"no stack is running from {_state_dir(state_dir)}; start one with "
                  "`headwater up`")
        raise typer.Exit(1)
    rows = devstack.check(info)
    t = Table("component", "pid", "memory", "endpoint", "state")
    for r in rows:
        state = ("[green]healthy[/green]" if r.healthy else
                 "[yellow]running, not healthy[/yellow]" if r.running else "[red]stopped[/red]")
        t.add_row(r.name, str(r.pid or "-"), f"{r.rss / 2**20:.0f} MiB", r.endpoint, state)
    t.add_row("total", "", f"{sum(r.rss for r in rows) / 2**20:.0f} MiB", "", "",
              style="bold")
    out.print(t)
    if info.options.get("kubeconfig"):
        out.print(f"kubernetes: your cluster, KUBECONFIG={info.kubeconfig}")
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


def kubeconfig(state_dir: StateDir = None) -> None:  # type: ignore[assignment]
    """Print the path of the stack's kubeconfig (for KUBECONFIG=...)."""
    from headwater import devstack

    info = devstack.load(_state_dir(state_dir))
    if info is None or not info.kubeconfig or not os.path.exists(info.kubeconfig):
        err.print("this stack has no Kubernetes cluster; start one with `headwater up`")
        raise typer.Exit(1)
    out.print(info.kubeconfig, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    for fn in (up, down, status, kubeconfig):
        app.command(fn.__name__)(fn)
