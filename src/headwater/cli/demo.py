"""`headwater demo`: play the seed blog post's loop on the running local stack.

The story itself is `headwater.story.demo` (imported when the verb runs); this verb
draws its hops (a Rich live display on a terminal, one plain line per hop start and end
otherwise), prints the timeline and where to look next, or the failed hop, its log tail
and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from headwater.cli.console import LazyConsole
from headwater.cli.stack import StateDir, _state_dir

if TYPE_CHECKING:
    from headwater.story.demo import Result
    from headwater.story.hops import Hop, HopFailed

out = LazyConsole()
err = LazyConsole(stderr=True)


def demo(
    state_dir: StateDir = None,  # type: ignore[assignment]
    poll: Annotated[str, typer.Option(
        "--poll", help="The CD source's Git and registry poll interval (the stack's "
        "registry may send its notifications nowhere).")] = "2s",
    ci_skip: Annotated[bool, typer.Option(
        "--git-ci-skip/--no-git-ci-skip", help="CD's release commits end their body with "
        "[ci skip] (the story `helloworld`); without, the story `helloworld-paths` whose "
        "pipeline's git resource ignores deploy/ instead.")] = True,
) -> None:
    """Play the story: a commit → CI builds and pushes the next 1.0.x → CD releases it
    with a [ci skip] commit → the pods serve it. Needs `headwater up` first; leaves the
    server running (`headwater down` stops it). Run it again for one more release."""
    import asyncio

    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    from headwater import devstack
    from headwater.story.demo import Settings, example_dir, run
    from headwater.story.hops import HopFailed, Timeline, Watcher, format_timeline

    info = devstack.load(_state_dir(state_dir))
    if info is None or "registry" not in info.components or not info.kubeconfig:
        err.print("no stack with a registry and Kubernetes runs here; start one with "
                  "`headwater up`", highlight=False)
        raise typer.Exit(1)
    timeline = Timeline()

    def table() -> Table:
        t = Table("hop", "seconds", "what", box=None)
        for hop in timeline.hops:
            mark = "[green]✓[/green]" if hop.ended else "[yellow]…[/yellow]"
            t.add_row(f"{mark} {hop.name}", f"{hop.seconds:5.1f}", Text(hop.detail))
        return t

    live = Live(table(), console=err.console, refresh_per_second=4, transient=True) \
        if err.is_terminal else None

    def started(hop: Hop) -> None:
        if live is None:
            err.print(f"… {hop.name}", highlight=False, markup=False)

    def ended(hop: Hop) -> None:
        if live is None:
            err.print(f"✓ {hop.name} ({hop.seconds:.1f}s) {hop.detail}", highlight=False,
                      markup=False, soft_wrap=True)
        else:
            live.update(table())

    timeline.watcher = Watcher(on_start=started, on_end=ended)
    try:
        settings = Settings(example=example_dir(), poll=poll, ci_skip=ci_skip)
        if live is not None:
            with live:
                async def tick() -> Result:
                    task = asyncio.ensure_future(run(info, settings, timeline))
                    while not task.done():
                        live.update(table())
                        await asyncio.sleep(0.25)
                    return task.result()
                result = asyncio.run(tick())
        else:
            result = asyncio.run(run(info, settings, timeline))
    except HopFailed as e:
        _failed(e, format_timeline(timeline.hops[:-1]))
        raise typer.Exit(1) from None
    _succeeded(result, format_timeline(timeline.hops))


def _failed(e: HopFailed, timeline: list[str]) -> None:
    for line in timeline:
        out.print(line, highlight=False, markup=False)
    err.print(f"[red]failed:[/red] {e.hop}: {e.why}", highlight=False)
    if e.log_tail:
        err.print(e.log_tail, highlight=False, markup=False)
    if e.todo:
        err.print(f"what to do: {e.todo}", highlight=False, markup=False)


def _succeeded(result: Result, timeline: list[str]) -> None:
    out.print("timeline (UTC end, duration, since start, hop):", highlight=False)
    for line in timeline:
        out.print("  " + line, highlight=False, markup=False, soft_wrap=True)
    out.print(f"\nthe page now: {result.page.strip()}", highlight=False, markup=False)
    out.print("where to look next:", highlight=False)
    for line in (f"  UI and API   {result.server_url}   token: "
                 f"$(cat {result.token_file})",
                 f"  timeline     {result.server_url}/cd/releases/{result.name}/"
                 f"{result.release_commit}   (this release, hop by hop)",
                 f"  fly          headwater -t demo login -c {result.server_url} "
                 f"--token-stdin < {result.token_file}",
                 f"  kubernetes   export KUBECONFIG={result.kubeconfig}; "
                 f"kubectl -n {result.name} get pods",
                 f"  the app      git clone {result.clone_url}",
                 "  again        headwater demo" + ("" if result.name == "helloworld" else
                                                  " --no-git-ci-skip") +
                 "   (one more release)",
                 "  stop         headwater down"):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
