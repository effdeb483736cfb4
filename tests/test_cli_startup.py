"""`headwater` starts at once, prints whole flag names, and completes in bash and zsh.

Startup is checked by what loads, not by a clock: the installed command runs in a fresh
interpreter with `PYTHONPROFILEIMPORTTIME=1` (Python's `-X importtime`), which lists
every module the process imported, and none of the engines may be among them for
`--help`, `--version`, completion, or a verb that only reads a file. (The verbs that
talk to the server are checked against a real one in `tests/ci/server/`.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from headwater.ci.resources.cgroups import DEFAULT_PIDS_LIMIT
from headwater.cli import server
from headwater.cli.app import app

HEADWATER = Path(sys.executable).with_name("headwater")

# The engines and the heavy libraries: a verb that needs one imports it when it runs.
HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "kubernetes_asyncio", "cryptography",
         "aiohttp", "headwater.ci", "headwater.cd", "headwater.web", "headwater.store",
         "headwater.kube", "headwater.registry", "headwater.gitrepo", "headwater.devstack")


def run(*args: str, env: dict[str, str] | None = None,
        ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the installed `headwater`; its result and the modules it imported."""
    assert HEADWATER.exists(), f"{HEADWATER}: install the package (pip install -e .)"
    r = subprocess.run([str(HEADWATER), *args], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1", **(env or {})})
    modules = {line.split("|")[2].strip() for line in r.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    return r, modules - {"imported package"}


def heavy(modules: set[str], *, also: tuple[str, ...] = ()) -> list[str]:
    return sorted(m for m in modules
                  for h in (*HEAVY, *also) if m == h or m.startswith(h + "."))


# Not even these for the root's --help and --version: rich (help is Click's plain text),
# asyncio and structlog (the logger is set up when a verb runs), pydantic (Typer's
# coercion of a value: the root's own flags take none). Completion passes a value.
LIGHT_ROOT = ("httpx", "rich", "asyncio", "structlog", "pydantic")


@pytest.mark.parametrize(("args", "also"), [
    (["--version"], LIGHT_ROOT), (["--help"], LIGHT_ROOT),
    (["--show-completion", "bash"], LIGHT_ROOT[:-1]),
    (["cd", "--help"], ("httpx",)), (["server", "--help"], ("httpx",)),
    (["pipelines", "--help"], ("httpx",)), (["demo", "--help"], ("httpx", "headwater.story")),
])
def test_help_version_and_completion_load_no_engine_nor_httpx(
        args: list[str], also: tuple[str, ...]) -> None:
    r, modules = run(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "headwater.cli.app" in modules  # the listing works: the app itself is in it
    assert heavy(modules, also=also) == []


def test_completion_request_loads_no_engine() -> None:
    r, modules = run(env={"_HEADWATER_COMPLETE": "complete_bash",
                          "COMP_WORDS": "headwater pipe", "COMP_CWORD": "1"})
    assert r.stdout.split() == ["pipelines"]
    assert heavy(modules, also=LIGHT_ROOT[:-1]) == []


def test_policy_test_on_a_tags_file_loads_only_the_pure_decision(tmp_path: Path) -> None:
    tags = tmp_path / "tags.json"
    tags.write_text('[{"tag": "1.0.0", "created": null}, {"tag": "1.0.1", "created": null}]')
    r, modules = run("policy-test", "semver:~1.0", "--tags", str(tags), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"latest": "1.0.1"' in r.stdout
    assert "headwater.imagepolicy" in modules
    assert heavy(modules, also=("httpx",)) == []


def test_a_long_flag_name_is_whole_at_80_columns_through_a_pipe() -> None:
    r = subprocess.run(f"COLUMNS=80 '{HEADWATER}' cd --help | grep -- "
                       "--sync-garbage-collection-dry", shell=True, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--sync-garbage-collection-dry" in r.stdout


def test_every_flag_of_every_verb_is_whole_in_its_help_at_80_columns() -> None:
    runner = CliRunner()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        r = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert r.exit_code == 0, (name, r.output)
        words = set(r.output.replace(",", " ").split())
        for param in command.params:
            for flag in (*param.opts, *param.secondary_opts):
                if flag.startswith("-"):
                    assert flag in words, f"headwater {name} --help cuts {flag}"


def test_help_prints_square_brackets_instead_of_taking_them_for_markup() -> None:
    r = CliRunner().invoke(app, ["cd", "--help"])
    assert "Append [ci skip] to automation's commit messages." in " ".join(r.output.split())


@pytest.mark.parametrize(("shell", "marker"), [
    ("bash", "complete -o default -F _headwater_completion headwater"),
    ("zsh", "#compdef headwater"),
])
def test_show_completion_prints_the_script_of_the_named_shell(shell: str, marker: str) -> None:
    r, _ = run("--show-completion", shell)
    assert r.returncode == 0, r.stderr[-2000:]
    assert marker in r.stdout
    assert f"_HEADWATER_COMPLETE=complete_{shell}" in r.stdout


def test_show_completion_refuses_an_unknown_shell_and_names_the_known_ones() -> None:
    r, _ = run("--show-completion", "tcsh")
    assert r.returncode == 2
    assert "unknown shell 'tcsh'" in r.stderr
    assert "bash, zsh" in r.stderr


def test_completion_answers_bash_and_zsh_requests() -> None:
    r, _ = run(env={"_HEADWATER_COMPLETE": "complete_bash",
                    "COMP_WORDS": "headwater cd --sync-garbage", "COMP_CWORD": "2"})
    assert r.stdout.split() == ["--sync-garbage-collection", "--sync-garbage-collection-dry"]
    r, _ = run(env={"_HEADWATER_COMPLETE": "complete_zsh",
                    "_TYPER_COMPLETE_ARGS": "headwater pipe"})
    assert '"pipelines":"List the pipelines."' in r.stdout


@pytest.mark.parametrize(("shell", "script", "rc", "rc_line"), [
    ("bash", ".bash_completions/headwater.sh", ".bashrc",
     "source '{home}/.bash_completions/headwater.sh'"),
    ("zsh", ".zfunc/_headwater", ".zshrc", "fpath+=~/.zfunc; autoload -Uz compinit; compinit"),
])
def test_install_completion_writes_the_script_where_the_shell_loads_it(
        tmp_path: Path, shell: str, script: str, rc: str, rc_line: str) -> None:
    r, _ = run("--install-completion", shell, env={"HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{shell} completion installed in {tmp_path / script}" in r.stdout
    assert "_HEADWATER_COMPLETE" in (tmp_path / script).read_text()
    assert rc_line.format(home=tmp_path) in (tmp_path / rc).read_text()


def test_server_help_shows_the_engines_pids_limit() -> None:
    assert server.DEFAULT_TASK_PIDS == DEFAULT_PIDS_LIMIT
