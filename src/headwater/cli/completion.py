"""Shell completion: `--show-completion [SHELL]` and `--install-completion [SHELL]`.

Typer's own pair of flags guesses the shell from the parent process and cannot be told
another; here SHELL (bash, zsh, fish, powershell, pwsh) may be named, and is guessed
the same way when it is not (`with_shell`, run on the root's arguments before Click
parses them). The scripts, the places they are installed (`~/.bash_completions/
headwater.sh` sourced from `~/.bashrc`; `~/.zfunc/_headwater` with `compinit` in
`~/.zshrc`) and the protocol they speak are Typer's:

    _HEADWATER_COMPLETE=complete_bash COMP_WORDS="headwater pipe" COMP_CWORD=1 headwater

prints `pipelines`. The helpers come from Typer's private modules: Typer is pinned
(pyproject.toml), and `tests/test_cli_startup.py` runs every path above.
"""

from __future__ import annotations

import typer
from typer._click.core import Context
from typer._completion_classes import completion_init
from typer._completion_shared import _get_shell_name, get_completion_script, install
from typer.core import TyperGroup

PROG = "headwater"
COMPLETE_VAR = "_HEADWATER_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
FLAGS = ("--show-completion", "--install-completion")

completion_init()  # Typer's completion classes answer the scripts' requests


def with_shell(args: list[str]) -> list[str]:
    """`args` with the running shell's name after a completion flag that names none
    ("" when it cannot be told: `_known` then asks for it)."""
    for i, arg in enumerate(args):
        if arg in FLAGS and (i + 1 == len(args) or args[i + 1].startswith("-")):
            return [*args[: i + 1], _get_shell_name() or "", *args[i + 1:]]
    return args


class RootGroup(TyperGroup):
    """The root command: completion flags get their default shell before parsing."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, with_shell(args))


def _known(shell: str, flag: str) -> str:
    if shell not in SHELLS:
        what = f"unknown shell {shell!r}" if shell else "cannot tell which shell runs this"
        raise typer.BadParameter(f"{what}: name one of {', '.join(SHELLS)}, e.g. {flag} bash",
                                 param_hint=flag)
    return shell


def show(ctx: typer.Context, shell: str | None) -> None:
    """Print the completion script of SHELL (to copy it or source it yourself)."""
    if shell is None or ctx.resilient_parsing:
        return
    script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR,
                                   shell=_known(shell, "--show-completion"))
    typer.echo(script)
    raise typer.Exit


def install_for(ctx: typer.Context, shell: str | None) -> None:
    """Install the completion script of SHELL where that shell loads it."""
    if shell is None or ctx.resilient_parsing:
        return
    name, path = install(shell=_known(shell, "--install-completion"), prog_name=PROG,
                         complete_var=COMPLETE_VAR)
    typer.echo(f"{name} completion installed in {path}; it works in shells started from now")
    raise typer.Exit
