"""CI verbs, as `fly`: clients of the server's REST API through a named target.

    headwater -t local login -c URL [--token-stdin]   (token: stdin, $HEADWATER_TOKEN or a prompt)
    headwater -t local tokens | create-token NAME | revoke-token NAME|ID [--force]
    headwater -t local set-pipeline -p P -c FILE [-v k=v] [-y k=yaml] [-l vars.yml]
    headwater -t local pipelines | get-pipeline | pause-pipeline | unpause-pipeline
    headwater -t local destroy-pipeline | jobs -p P | pause-job | unpause-job -j P/J
    headwater -t local trigger-job -j P/J [-w] | rerun-build -j P/J -b N | builds | watch
    headwater -t local check-resource | pin-resource -v k:v | unpin-resource -r P/R
    headwater -t local resources -p P | execute -c task.yml -i n=dir [-o n=dir]
    headwater -t local abort-build -j P/J -b N

Exit codes are fly's: 0 succeeded, 1 failed, 2 errored (and any error of the command
itself), 3 aborted. Listing verbs take `--json`.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from headwater.buildstatus import BuildStatus
from headwater.cli.console import LazyConsole
from headwater.cli.pipelinecheck import refuse_unbound_old_style_vars
from headwater.cli.target import Api, RequestFailed, Target, TargetError, load, save

if TYPE_CHECKING:
    from headwater.ci.eventtypes import BuildEvent

out = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

EXIT = {BuildStatus.SUCCEEDED: 0, BuildStatus.FAILED: 1, BuildStatus.ERRORED: 2,
        BuildStatus.ABORTED: 3}
EXIT_ERRORED = 2

Pipeline = Annotated[str, typer.Option("-p", "--pipeline", help="The pipeline's name.")]
JobFlag = Annotated[str, typer.Option("-j", "--job", help="PIPELINE/JOB")]
ResourceFlag = Annotated[str, typer.Option("-r", "--resource", help="PIPELINE/RESOURCE")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VarFlag = Annotated[list[str] | None, typer.Option("-v", "--var", help="k=v (a string)")]
YamlVarFlag = Annotated[list[str] | None, typer.Option("-y", "--yaml-var", help="k=yaml")]
VarsFileFlag = Annotated[list[Path] | None, typer.Option("-l", "--load-vars-from",
                                                         help="A YAML file of vars.")]


def _fail(message: str, code: int = EXIT_ERRORED) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def _api(ctx: typer.Context) -> Api:
    try:
        return Api(load((ctx.obj or {}).get("target")))
    except TargetError as e:
        _fail(str(e))


def _split(value: str, what: str) -> tuple[str, str]:
    left, sep, right = value.partition("/")
    if not sep or not left or not right:
        _fail(f"{what} must be PIPELINE/NAME, not {value!r}")
    return left, right


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except RequestFailed as e:
        _fail(str(e))


def login(ctx: typer.Context,
          url: Annotated[str, typer.Option("-c", "--concourse-url", "--url",
                                           help="The server's URL.")],
          token_stdin: Annotated[bool, typer.Option(
              "--token-stdin", help="Read the token from stdin (as docker login "
              "--password-stdin).")] = False,
          token: Annotated[str | None, typer.Option(
              "--token", "-k", help="The token itself: visible in ps and shell history; "
              "prefer the prompt, --token-stdin or HEADWATER_TOKEN.")] = None) -> None:
    """Save a target: the server's URL and a token (checked before it is saved).

    The token comes from --token-stdin, else $HEADWATER_TOKEN, else a hidden prompt
    (empty for a --dev server, which needs none)."""
    name = (ctx.obj or {}).get("target")
    if not name:
        _fail("name the target: headwater -t NAME login -c URL")
    token = _login_token(token, token_stdin)
    target = Target(name=name, url=url.rstrip("/"), token=token)
    with Api(target) as api:
        _call(api.get, "/teams/main/pipelines")
    path = save(target)
    out.print(f"target saved: {name} -> {target.url} ({path})")


def _login_token(given: str | None, from_stdin: bool) -> str | None:
    """The token `login` saves, from the first source that has one (see `login`)."""
    if from_stdin:
        if given is not None:
            _fail("give the token either with --token-stdin or --token, not both")
        text = sys.stdin.readline().strip()
        if not text:
            _fail("--token-stdin: stdin held no token")
        return text
    if given is not None:
        err.print("warning: --token on the command line is visible to other users (ps, "
                  "shell history): pipe it to --token-stdin or set HEADWATER_TOKEN instead",
                  markup=False)
        return given or None
    env = os.environ.get("HEADWATER_TOKEN", "").strip()
    if env:
        return env
    try:
        answer: str = typer.prompt("token (empty for a --dev server)", default="",
                                   hide_input=True, show_default=False, err=True)
    except typer.Abort:  # no terminal and nothing on stdin
        return None
    return answer.strip() or None


def set_pipeline(ctx: typer.Context, pipeline: Pipeline,
                 config: Annotated[Path, typer.Option("-c", "--config")],
                 var: VarFlag = None, yaml_var: YamlVarFlag = None,
                 load_vars_from: VarsFileFlag = None,
                 non_interactive: Annotated[bool, typer.Option("-n", "--non-interactive")
                                            ] = False) -> None:
    """Create or update a pipeline: shows the diff and asks first."""
    from headwater.ci.vars import VarsError, load_vars

    try:
        text = config.read_text()
        values = load_vars(var or [], yaml_var or [], load_vars_from or [])
    except OSError as e:
        _fail(f"cannot read {e.filename}: {e.strerror}")
    except VarsError as e:
        _fail(str(e))
    refuse_unbound_old_style_vars(text, values, filename=str(config))  # before sending
    with _api(ctx) as api:
        try:
            current = api.get(api.team(f"/pipelines/{pipeline}"))["config_text"]
        except RequestFailed as e:
            if e.status != 404:
                _fail(str(e))
            current = None
        diff = list(difflib.unified_diff((current or "").splitlines(), text.splitlines(),
                                         "current", "new", lineterm=""))
        if current is not None and not diff:
            out.print("no changes to apply")
        for line in diff[2:]:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            out.print(line, style=style, markup=False)
        if not non_interactive and not typer.confirm("apply configuration?", default=False):
            _fail("bailing out", code=1)
        try:
            result = api.request("PUT", api.team(f"/pipelines/{pipeline}/config"),
                                 json={"config": text, "vars": values})
        except RequestFailed as e:
            _fail(f"{config}: {e}")
    for w in result["warnings"]:
        err.print(f"WARNING: {_where(config, w)}", markup=False)
    if result["created"]:
        target = api.target.name
        out.print(f"pipeline created!\nthe pipeline is currently paused. to unpause it:\n"
                  f"  headwater -t {target} unpause-pipeline -p {pipeline}")
    else:
        out.print(f"configuration updated (version {result['version']})")


def _where(path: Path, d: dict[str, Any]) -> str:
    line = f"line {d['line']}: " if d.get("line") else ""
    return f"{path}:{line}{d['path']}: {d['message']}"


def _listing(ctx: typer.Context, path: str, as_json: bool, columns: list[str],
             cells: Callable[[dict[str, Any]], list[str]]) -> None:
    """GET a team's list: JSON for scripts, or a table of `columns` for people."""
    from rich.table import Table

    with _api(ctx) as api:
        rows = _call(api.get, api.team(path))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*cells(row))
    out.print(table)


def _yes(value: object) -> str:
    return "yes" if value else "no"


def pipelines(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the pipelines."""
    _listing(ctx, "/pipelines", as_json, ["name", "paused", "version"],
             lambda p: [p["name"], _yes(p["paused"]), str(p["version"])])


def get_pipeline(ctx: typer.Context, pipeline: Pipeline, as_json: JsonFlag = False) -> None:
    """Print a pipeline's config as it was set (with its ((var)) placeholders)."""
    with _api(ctx) as api:
        p = _call(api.get, api.team(f"/pipelines/{pipeline}"))
    if as_json:
        print(json.dumps(p, indent=2))
    else:
        sys.stdout.write(p["config_text"])


def _pause(ctx: typer.Context, pipeline: str, verb: str) -> None:
    with _api(ctx) as api:
        _call(api.request, "PUT", api.team(f"/pipelines/{pipeline}/{verb}"))
    out.print(f"{verb}d '{pipeline}'")


def pause_pipeline(ctx: typer.Context, pipeline: Pipeline) -> None:
    """Pause a pipeline: no new builds are scheduled."""
    _pause(ctx, pipeline, "pause")


def unpause_pipeline(ctx: typer.Context, pipeline: Pipeline) -> None:
    """Unpause a pipeline."""
    _pause(ctx, pipeline, "unpause")


def _pause_job(ctx: typer.Context, job: str, verb: str) -> None:
    p, j = _split(job, "--job")
    with _api(ctx) as api:
        _call(api.request, "PUT", api.team(f"/pipelines/{p}/jobs/{j}/{verb}"))
    out.print(f"{verb}d '{j}'")


def pause_job(ctx: typer.Context, job: JobFlag) -> None:
    """Pause a job: no new builds, and its pending builds wait."""
    _pause_job(ctx, job, "pause")


def unpause_job(ctx: typer.Context, job: JobFlag) -> None:
    """Unpause a job."""
    _pause_job(ctx, job, "unpause")


def jobs(ctx: typer.Context, pipeline: Pipeline, as_json: JsonFlag = False) -> None:
    """List a pipeline's jobs, whether they are paused, and their latest build."""

    def cells(row: dict[str, Any]) -> list[str]:
        latest = row.get("finished_build") or {}
        return [row["name"], _yes(row["paused"]), str(latest.get("name", "n/a")),
                str(latest.get("status", "n/a"))]

    _listing(ctx, f"/pipelines/{pipeline}/jobs", as_json,
             ["name", "paused", "latest build", "status"], cells)


def destroy_pipeline(ctx: typer.Context, pipeline: Pipeline,
                     non_interactive: Annotated[bool, typer.Option("-n", "--non-interactive")
                                                ] = False) -> None:
    """Destroy a pipeline with its builds and versions."""
    if not non_interactive and not typer.confirm(
            f"!!! this will remove all data for pipeline `{pipeline}`\n\nare you sure?",
            default=False):
        _fail("bailing out", code=1)
    with _api(ctx) as api:
        _call(api.request, "DELETE", api.team(f"/pipelines/{pipeline}"))
    out.print(f"`{pipeline}` deleted")


WatchFlag = Annotated[bool, typer.Option("-w", "--watch", help="Follow its log; exit "
                                                                 "with its status.")]


def _start(ctx: typer.Context, job: str, suffix: str, watch_: bool) -> None:
    """POST a new build of PIPELINE/JOB (`suffix`: a build to rerun), say so, maybe watch."""
    p, j = _split(job, "--job")
    with _api(ctx) as api:
        build = _call(api.request, "POST", api.team(f"/pipelines/{p}/jobs/{j}/builds{suffix}"))
        out.print(f"started {p}/{j} #{build['name']}")
        if watch_:
            raise typer.Exit(_watch(api, build["id"]))


def trigger_job(ctx: typer.Context, job: JobFlag, watch_: WatchFlag = False) -> None:
    """Start a build of a job now, with the latest versions of its inputs."""
    _start(ctx, job, "", watch_)


def rerun_build(ctx: typer.Context, job: JobFlag,
                build: Annotated[str, typer.Option("-b", "--build", help="The build's name.")],
                watch_: WatchFlag = False) -> None:
    """Run a build again with the same input versions (named N.1, N.2...)."""
    _start(ctx, job, f"/{build}", watch_)


def builds(ctx: typer.Context,
           job: Annotated[str | None, typer.Option("-j", "--job", help="PIPELINE/JOB")] = None,
           pipeline: Annotated[str | None, typer.Option("-p", "--pipeline")] = None,
           count: Annotated[int, typer.Option("-c", "--count")] = 50,
           as_json: JsonFlag = False) -> None:
    """List builds, newest first."""
    from rich.table import Table

    params: dict[str, Any] = {"limit": count}
    if job:
        params["pipeline"], params["job"] = _split(job, "--job")
    elif pipeline:
        params["pipeline"] = pipeline
    with _api(ctx) as api:
        rows = _call(api.get, "/builds", params=params)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "name", "status", "start", "end", box=None)
    for b in rows:
        name = f"{b['pipeline']}/{b['job']}/{b['name']}" if b["job"] else f"one-off/{b['name']}"
        table.add_row(str(b["id"]), name, b["status"], _fmt(b["start_time"]),
                      _fmt(b["end_time"]))
    out.print(table)


def _fmt(t: float | None) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d@%H:%M:%S") if t else "n/a"


def _build_id(api: Api, job: str | None, build: str | None) -> int:
    if job is None:
        if build is None or not build.isdigit():
            _fail("give -j PIPELINE/JOB [-b NAME], or -b BUILD_ID")
        return int(build)
    p, j = _split(job, "--job")
    if build is None:
        rows = _call(api.get, api.team(f"/pipelines/{p}/jobs/{j}/builds"), params={"limit": 1})
        if not rows:
            _fail(f"job {p}/{j} has no builds yet")
        return int(rows[0]["id"])
    return int(_call(api.get, api.team(f"/pipelines/{p}/jobs/{j}/builds/{build}"))["id"])


def watch(ctx: typer.Context,
          job: Annotated[str | None, typer.Option("-j", "--job", help="PIPELINE/JOB")] = None,
          build: Annotated[str | None, typer.Option("-b", "--build",
                                                    help="The build's name in the job, "
                                                         "or its id without -j.")] = None,
          timestamps: Annotated[bool, typer.Option("-t", "--timestamps")] = False) -> None:
    """Stream a build's log until it ends; exit with its status."""
    with _api(ctx) as api:
        raise typer.Exit(_watch(api, _build_id(api, job, build), timestamps=timestamps))


def _events(api: Api, build_id: int) -> Iterator[BuildEvent]:
    from headwater.ci.eventtypes import from_envelope  # light: dataclasses and json

    with api.stream(f"/builds/{build_id}/events") as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                event = from_envelope(line[5:])
                if event is not None:
                    yield event


def _watch(api: Api, build_id: int, *, timestamps: bool = False) -> int:
    import datetime as dt

    from headwater.ci import eventtypes as ev

    status: BuildStatus | None = None
    at_line_start = True
    try:
        for event in _events(api, build_id):
            match event:
                case ev.Log(payload=text):
                    if timestamps and at_line_start and text:
                        stamp = dt.datetime.fromtimestamp(event.time or 0).strftime("%H:%M:%S")
                        text = f"{stamp}  {text}"
                    sys.stdout.write(text)
                    sys.stdout.flush()
                    at_line_start = text.endswith("\n")
                case ev.Error(message=message):
                    out.print(message, style="red", markup=False)
                case ev.Status(status=now) if now != BuildStatus.STARTED:
                    status = now
    except RequestFailed as e:
        _fail(str(e))
    if status is None:
        status = BuildStatus(_call(api.get, f"/builds/{build_id}")["status"])
    style = {BuildStatus.SUCCEEDED: "green", BuildStatus.FAILED: "red",
             BuildStatus.ERRORED: "yellow"}.get(status, "")
    out.print(status, style=style)
    return EXIT.get(status, EXIT_ERRORED)


def check_resource(ctx: typer.Context, resource: ResourceFlag,
                   from_: Annotated[list[str] | None, typer.Option(
                       "-f", "--from", help="check from this version (k:v)")] = None,
                   ) -> None:
    """Check a resource now; shows its newest versions or the check's error."""
    p, r = _split(resource, "--resource")
    body = None
    if from_:
        body = {"from": _version_items(from_, "--from")}
    with _api(ctx) as api:
        result = _call(api.request, "POST", api.team(f"/pipelines/{p}/resources/{r}/check"),
                       json=body)
        if result["check_error"]:
            _fail(f"check failed: {result['check_error']}", code=1)
        versions = _call(api.get, api.team(f"/pipelines/{p}/resources/{r}/versions"),
                         params={"limit": 5})
    out.print("checked")
    for v in versions:
        out.print("  " + ", ".join(f"{k}: {val}" for k, val in v["version"].items()),
                  markup=False)


def _version_items(items: list[str], flag: str) -> dict[str, str]:
    bad = [item for item in items if ":" not in item]
    if bad:
        _fail(f"{flag} {bad[0]!r}: write a version field as key:value, e.g. ref:abc123")
    return dict(item.split(":", 1) for item in items)


def pin_resource(ctx: typer.Context, resource: ResourceFlag,
                 version: Annotated[list[str], typer.Option(
                     "-v", "--version", help="key:value of the version (repeatable)")],
                 comment: Annotated[str | None, typer.Option("-c", "--comment")] = None,
                 ) -> None:
    """Pin a resource to one of its versions: every get of it uses that one."""
    p, r = _split(resource, "--resource")
    wanted = _version_items(version, "--version")
    with _api(ctx) as api:
        versions = _call(api.get, api.team(f"/pipelines/{p}/resources/{r}/versions"),
                         params={"limit": 10000})
        match = next((v for v in versions
                      if all(v["version"].get(k) == val for k, val in wanted.items())), None)
        if match is None:
            _fail(f"could not find version matching {json.dumps(wanted)} in {p}/{r}")
        body = {"pin_comment": comment} if comment is not None else None
        _call(api.request, "PUT",
              api.team(f"/pipelines/{p}/resources/{r}/versions/{match['id']}/pin"), json=body)
    out.print(f"pinned '{p}/{r}' with version {json.dumps(match['version'])}", markup=False)


def unpin_resource(ctx: typer.Context, resource: ResourceFlag) -> None:
    """Unpin a resource pinned with pin-resource."""
    p, r = _split(resource, "--resource")
    with _api(ctx) as api:
        _call(api.request, "PUT", api.team(f"/pipelines/{p}/resources/{r}/unpin"))
    out.print(f"unpinned '{p}/{r}'")


def resources(ctx: typer.Context, pipeline: Pipeline, as_json: JsonFlag = False) -> None:
    """List a pipeline's resources: type, pin, the last check's error."""
    _listing(ctx, f"/pipelines/{pipeline}/resources", as_json,
             ["name", "type", "pinned", "check error"],
             lambda r: [r["name"], r["type"],
                        json.dumps(r["pinned_version"]) if r["pinned_version"] else "n/a",
                        r["check_error"] or ""])


def _tar(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname=".")
    return buf.getvalue()


def _pairs(values: list[str] | None, flag: str) -> dict[str, Path]:
    pairs = {}
    for item in values or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            _fail(f"{flag} takes name=dir, not {item!r}")
        pairs[name] = Path(path)
    return pairs


def execute(ctx: typer.Context,
            config: Annotated[Path, typer.Option("-c", "--config", help="task.yml")],
            input_: Annotated[list[str] | None, typer.Option("-i", "--input",
                                                             help="name=dir")] = None,
            output: Annotated[list[str] | None, typer.Option("-o", "--output",
                                                             help="name=dir")] = None) -> None:
    """Run one task on the server now, with local directories as its inputs."""
    inputs = _pairs(input_, "-i")
    outputs = _pairs(output, "-o")
    try:
        text = config.read_text()
    except OSError as e:
        _fail(f"cannot read {config}: {e.strerror}")
    for name, path in inputs.items():
        if not path.is_dir():
            _fail(f"input {name}: {path} is not a directory")
    files = [("inputs", (name, _tar(path), "application/gzip")) for name, path in inputs.items()]
    with _api(ctx) as api:
        build = _call(api.request, "POST", api.team("/builds"), data={"config": text},
                      files=files or None)
        out.print(f"executing build {build['id']}")
        code = _watch(api, build["id"])
        for name, path in outputs.items():
            archive = _call(api.get, f"/builds/{build['id']}/artifacts/{name}")
            path.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                tar.extractall(path, filter="data")
    raise typer.Exit(code)


def abort_build(ctx: typer.Context,
                job: Annotated[str | None, typer.Option("-j", "--job")] = None,
                build: Annotated[str | None, typer.Option("-b", "--build")] = None) -> None:
    """Abort a build: its steps are interrupted, on_abort and ensure hooks run."""
    with _api(ctx) as api:
        build_id = _build_id(api, job, build)
        _call(api.request, "PUT", f"/builds/{build_id}/abort")
    out.print("build successfully aborted")


def register(app: typer.Typer) -> None:
    verbs: list[tuple[str, Callable[..., None]]] = [
                     ("login", login), ("set-pipeline", set_pipeline),
                     ("pipelines", pipelines), ("get-pipeline", get_pipeline),
                     ("pause-pipeline", pause_pipeline), ("unpause-pipeline", unpause_pipeline),
                     ("destroy-pipeline", destroy_pipeline), ("jobs", jobs),
                     ("pause-job", pause_job), ("unpause-job", unpause_job),
                     ("trigger-job", trigger_job), ("rerun-build", rerun_build),
                     ("builds", builds), ("watch", watch), ("check-resource", check_resource),
                     ("resources", resources), ("pin-resource", pin_resource),
                     ("unpin-resource", unpin_resource),
                     ("execute", execute), ("abort-build", abort_build)]
    for name, fn in verbs:
        app.command(name)(fn)
