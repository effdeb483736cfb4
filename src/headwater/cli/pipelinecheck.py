"""`headwater validate-pipeline`: check a pipeline file as `fly validate-pipeline` does, offline.

The checks are `headwater.ci.config.validate`; this module reads the file and the vars
(`-l FILE`, `-v k=v`, `-y k=yaml`, all optional: a pipeline validates without its
vars) and prints one line per diagnostic, errors first:

    error: pipeline.yml:line 31: jobs.build.plan.do[2].put(imag): unknown resource "imag"
    warning: pipeline.yml:line 22: jobs.Docker Build.name: "Docker Build" is not a valid ...

then `looks good` or `configuration invalid`. Exit 1 when there is an error (with
`--strict`, a warning too: an unknown top-level key is one, as fly's `--strict` fails
on it), 2 when the file or the vars cannot be read. `--json` prints
`{"errors": [{"line": N, "path": "...", "message": "..."}], "warnings": [...]}` alone.
A `{{var}}` without a value is an error here and at `set-pipeline`, where
`refuse_unbound_old_style_vars` stops it before anything is sent (old fly's `unbound variable
in template`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from headwater import yamlload
from headwater.cli import yamlflags

EXIT_INVALID = 1
EXIT_ERRORED = 2  # fly's "errored": the command could not do its work


def validate_pipeline(
    config: Annotated[Path, typer.Option(
        "-c", "--config", metavar="FILE", help="The pipeline configuration file.",
        show_default=False)],
    load_vars_from: Annotated[list[Path] | None, typer.Option(
        "-l", "--load-vars-from", metavar="FILE",
        help="A YAML file of vars (repeatable; later files win).")] = None,
    var: Annotated[list[str] | None, typer.Option(
        "-v", "--var", metavar="NAME=STRING", help="A string var (repeatable; wins over "
                                                   "files).")] = None,
    yaml_var: Annotated[list[str] | None, typer.Option(
        "-y", "--yaml-var", metavar="NAME=YAML", help="A var with a YAML value "
                                                      "(repeatable).")] = None,
    strict: Annotated[bool, typer.Option(
        "-s", "--strict", help="Fail on warnings too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    yaml_max_bytes: yamlflags.MaxBytes = yamlflags.DEFAULT_BYTES,
    yaml_max_nodes: yamlflags.MaxNodes = yamlflags.DEFAULT_NODES,
) -> None:
    """Check a pipeline file: every error and warning with its line (as fly validate-pipeline)."""
    from headwater.ci.config import validate
    from headwater.ci.vars import VarsError, load_vars

    limits = yamlflags.limits(yaml_max_bytes, yaml_max_nodes)
    try:
        text = yamlload.read_text(config, limits=limits)
    except yamlload.YamlLimitError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_ERRORED) from None
    except (OSError, UnicodeDecodeError) as e:
        typer.echo(f"error: cannot read {config}: {getattr(e, 'strerror', None) or e}",
                   err=True)
        raise typer.Exit(EXIT_ERRORED) from None
    given = bool(load_vars_from or var or yaml_var)
    try:
        values = (load_vars(var or [], yaml_var or [], load_vars_from or [], limits=limits)
                  if given else None)
    except OSError as e:
        typer.echo(f"error: cannot read vars file {e.filename}: {e.strerror}", err=True)
        raise typer.Exit(EXIT_ERRORED) from None
    except VarsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_ERRORED) from None
    report = validate(text, filename=str(config), vars=values, limits=limits)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        for line in report.lines(str(config)):
            typer.echo(line)
        typer.echo("configuration invalid" if failed else "looks good")
    if failed:
        raise typer.Exit(EXIT_INVALID)


def refuse_unbound_old_style_vars(text: str, values: Mapping[str, Any], *,
                                  filename: str) -> None:
    """Exit 1 (as old fly's set-pipeline) naming every `{{var}}` of `text` that `values`
    (as `load_vars` gives them) lacks; return when there is none."""
    from headwater.ci.vars import Vars, resolve_old_style, unbound_message

    missing = resolve_old_style(text, Vars.of(values).values).missing
    for name, line in missing:
        typer.echo(f"error: {filename}:line {line}: {unbound_message(name)}", err=True)
    if missing:
        raise typer.Exit(EXIT_INVALID)


def register(app: typer.Typer) -> None:
    app.command("validate-pipeline")(validate_pipeline)
