"""CD verbs, with fluxd's and fluxctl's names: `cd` (run the controller), `sync`, `identity`.

The controller, the Kubernetes client and the API server are imported inside `cd` (and
httpx inside `sync`): the flags are all this module needs to be loaded.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headwater.cli import yamlflags
from headwater.cli.console import LazyConsole
from headwater.cli.paths import data_dir

if TYPE_CHECKING:
    import httpx

    from headwater import yamlload
    from headwater.cd.automation import ImagePolicy
    from headwater.cd.runtime import ClusterSettings, Scanning
    from headwater.cd.source import Source

out = LazyConsole()
err = LazyConsole(stderr=True)


def default_identity() -> Path:
    return data_dir() / "identity" / "id_ed25519"


def kubectl_path(given: str | None) -> str | None:
    if given:
        return given
    from headwater.devstack import kubebuild
    from headwater.devstack.errors import StackError

    try:
        built = kubebuild.cached()
    except StackError:  # not a source checkout: fall back to PATH
        built = None
    return str(built / "kubectl") if built else shutil.which("kubectl")


def _duration(text: str) -> float:
    from headwater.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def cd(
    git_url: Annotated[str | None, typer.Option(help="The Git repository to sync from.")] = None,
    git_branch: Annotated[str, typer.Option(help="Branch to sync.")] = "master",
    git_path: Annotated[list[str] | None, typer.Option(
        help="Path(s) in the repository holding manifests (repeatable; default: all).")] = None,
    git_poll_interval: Annotated[str, typer.Option(help="How often to fetch Git.")] = "5m",
    git_timeout: Annotated[str, typer.Option(help="Timeout of each git command.")] = "20s",
    sync_interval: Annotated[str, typer.Option(
        help="How often to sync even without a new commit (resets drift).")] = "5m",
    sync_garbage_collection: Annotated[bool, typer.Option(
        help="Delete objects that left Git (only ours).")] = False,
    sync_garbage_collection_dry: Annotated[bool, typer.Option(
        help="Only log what garbage collection would delete.")] = False,
    git_sync_tag: Annotated[str, typer.Option(
        help="Tag moved to the last synced revision.")] = "headwater-sync",
    git_label: Annotated[str | None, typer.Option(help="Old name of --git-sync-tag.")] = None,
    git_readonly: Annotated[bool, typer.Option(
        help="Never push to Git: keep the synced revision in the cluster.")] = False,
    git_user: Annotated[str, typer.Option(help="Committer name for tags.")] = "headwater",
    git_email: Annotated[str, typer.Option(help="Committer email.")] = "headwater@localhost",
    git_ssh_key: Annotated[Path | None, typer.Option(
        help="Deploy key for ssh URLs (default: the key `headwater identity` prints).")] = None,
    git_known_hosts: Annotated[Path | None, typer.Option(
        help="known_hosts for ssh (default: trust on first use).")] = None,
    git_token: Annotated[str | None, typer.Option(
        envvar="HEADWATER_GIT_TOKEN", help="Token for https URLs.")] = None,
    git_ca_file: Annotated[Path | None, typer.Option(
        help="CA certificate(s) to trust for https URLs (PEM; as Flux v2's --ca-file), "
             "e.g. the local stack's pki/ca.crt.", exists=True, dir_okay=False)] = None,
    k8s_allow_namespace: Annotated[list[str] | None, typer.Option(
        help="Only sync objects in these namespaces (repeatable or comma-separated).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="A YAML file listing several sources.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(envvar="KUBECONFIG")] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    kubectl: Annotated[str | None, typer.Option(help="kubectl used for kustomize.")] = None,
    git_ci_skip: Annotated[bool, typer.Option(
        help="Append [ci skip] to automation's commit messages.")] = False,
    git_ci_skip_message: Annotated[str, typer.Option(
        help="What --git-ci-skip appends.")] = "[ci skip]",
    git_release_template: Annotated[str, typer.Option(
        help="Automation's commit message, with {image}, {images} and {count} "
             "(default: Flux's Auto-release messages).")] = "",
    registry_poll_interval: Annotated[str, typer.Option(
        help="How often image automation scans registries.")] = "5m",
    registry_disable_scanning: Annotated[bool, typer.Option(
        help="No image automation.")] = False,
    registry_rps: Annotated[float, typer.Option(help="Registry requests per second.")] = 50,
    registry_burst: Annotated[int, typer.Option(help="Registry request burst.")] = 125,
    registry_include_image: Annotated[list[str] | None, typer.Option(
        help="Only scan images matching these globs (repeatable).")] = None,
    registry_exclude_image: Annotated[list[str] | None, typer.Option(
        help="Never scan images matching these globs (repeatable).")] = None,
    image_policies: Annotated[Path | None, typer.Option(
        help="YAML list of image policies for Flux v2 setter markers "
             '(# {"$imagepolicy": "ns:name"}).', exists=True, dir_okay=False)] = None,
    docker_config: Annotated[Path | None, typer.Option(
        help="Docker config.json with registry credentials.", exists=True,
        dir_okay=False)] = None,
    wait: Annotated[bool, typer.Option(
        help="Wait for workloads to roll out; a sync fails if they do not.")] = False,
    wait_timeout: Annotated[str, typer.Option(help="How long --wait waits.")] = "5m",
    inventory_namespace: Annotated[str, typer.Option(
        help="Namespace of the inventories.")] = "headwater-system",
    workdir: Annotated[Path | None, typer.Option(help="Where working copies live.")] = None,
    listen: Annotated[str, typer.Option(help="API address (host:port).")] = "127.0.0.1:3030",
    api_token: Annotated[str | None, typer.Option(
        envvar="HEADWATER_API_TOKEN", help="Bearer token the API requires.")] = None,
    once: Annotated[bool, typer.Option(
        "--once", help="Sync every source once and exit (1 if one failed).")] = False,
    yaml_max_bytes: yamlflags.MaxBytes = yamlflags.DEFAULT_BYTES,
    yaml_max_nodes: yamlflags.MaxNodes = yamlflags.DEFAULT_NODES,
) -> None:
    """Run the CD controller: keep the cluster equal to Git paths (fluxd's flags)."""
    import asyncio

    from headwater import log as hwlog
    from headwater.cd.automation import PolicyFileError
    from headwater.cd.runtime import ClusterSettings, Scanning, load_policies
    from headwater.cd.source import Source, SourceError, load_file
    from headwater.registry import FLUX_DEFAULT_EXCLUDE, RegistryClient, load_docker_config
    from headwater.web.devguard import is_loopback

    hwlog.redact(git_token, api_token)
    yaml_limits = yamlflags.limits(yaml_max_bytes, yaml_max_nodes)
    if not config and not git_url:
        err.print("[red]error:[/red] give --git-url (and friends) or --config FILE")
        raise typer.Exit(2)
    try:
        if config:
            sources = load_file(config)
        else:
            assert git_url
            namespaces = tuple(n for v in (k8s_allow_namespace or []) for n in v.split(",") if n)
            sources = [Source(
                git_url=git_url, git_branch=git_branch, git_path=tuple(git_path or ()),
                git_poll_interval=_duration(git_poll_interval),
                git_timeout=_duration(git_timeout), sync_interval=_duration(sync_interval),
                sync_garbage_collection=sync_garbage_collection,
                sync_garbage_collection_dry=sync_garbage_collection_dry,
                git_sync_tag=git_label or git_sync_tag, git_readonly=git_readonly,
                git_user=git_user, git_email=git_email, k8s_allow_namespace=namespaces,
                git_ssh_key=git_ssh_key, git_known_hosts=git_known_hosts, git_token=git_token,
                git_ca_file=git_ca_file,
                wait=wait, wait_timeout=_duration(wait_timeout), git_ci_skip=git_ci_skip,
                git_ci_skip_message=git_ci_skip_message,
                registry_poll_interval=_duration(registry_poll_interval),
                registry_disable_scanning=registry_disable_scanning,
                image_policies=image_policies, git_release_template=git_release_template)]
        policies = load_policies(sources)
    except (SourceError, PolicyFileError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    sources = [with_identity(s) for s in sources]
    host, _, port = listen.rpartition(":")
    if not api_token and not is_loopback(host):
        err.print("[red]error:[/red] --api-token is required to listen beyond loopback")
        raise typer.Exit(2)
    workdir = workdir or data_dir() / "cd"
    workdir.mkdir(parents=True, exist_ok=True)
    registry = RegistryClient(
        credentials=load_docker_config(docker_config) if docker_config else None,
        rps=registry_rps, burst=registry_burst)
    scanning = Scanning(registry, tuple(registry_include_image or ()),
                        tuple(registry_exclude_image or FLUX_DEFAULT_EXCLUDE))
    code = asyncio.run(_run(
        sources, cluster=ClusterSettings(kubeconfig=kubeconfig, context=context,
                                         kubectl=kubectl_path(kubectl),
                                         inventory_namespace=inventory_namespace),
        workdir=workdir, host=host, port=int(port), token=api_token, once=once,
        scanning=scanning, policies=policies, yaml_limits=yaml_limits))
    raise typer.Exit(code)


def with_identity(s: Source) -> Source:
    """fluxd always has an identity: ssh URLs use it unless a key was given."""
    from dataclasses import replace

    from headwater.gitrepo.keys import ensure_ed25519

    if s.git_ssh_key or not (s.git_url.startswith("ssh://") or "@" in s.git_url.split("/")[0]):
        return s
    ensure_ed25519(_mkdir(default_identity()), "headwater")
    return replace(s, git_ssh_key=default_identity())


def _mkdir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


async def _run(sources: list[Source], *, cluster: ClusterSettings, workdir: Path, host: str,
               port: int, token: str | None, once: bool, scanning: Scanning,
               policies: dict[str, dict[str, ImagePolicy]], yaml_limits: yamlload.Limits,
               ) -> int:
    """The controller's loops and its API (the server's CD router, `web/app.py`) on one
    event loop; with `once`, one sync of each source and no API."""
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    import uvicorn
    from prometheus_client import CollectorRegistry

    from headwater import log as hwlog
    from headwater.cd.metrics import SyncMetrics
    from headwater.cd.runtime import open_controller
    from headwater.web.app import make_app
    from headwater.web.deps import Services, static_token

    registry = CollectorRegistry()
    async with open_controller(sources, cluster=cluster, scanning=scanning, workdir=workdir,
                               metrics=SyncMetrics(registry), policies=policies,
                               yaml_limits=yaml_limits) as controller:
        if once:
            results = [await loop.sync_once() for loop in controller.loops.values()]
            print(json.dumps([r.to_json() for r in results], indent=2))
            return 0 if all(r.ok for r in results) else 1
        app = make_app(Services(cd=controller, registry=registry,
                                check_token=static_token(token) if token else None))
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               lifespan="on", access_log=False))

        broke: list[BaseException] = []

        @contextlib.asynccontextmanager
        async def lifespan(_: object) -> AsyncIterator[None]:
            # The loops live as long as the API; one that breaks stops the process.
            loops = asyncio.create_task(controller.run(), name="cd")
            loops.add_done_callback(lambda _: setattr(server, "should_exit", True))
            hwlog.get("api").info("listening", address=f"http://{host}:{port}",
                                  auth="token" if token else "none (loopback dev mode)")
            try:
                yield
            finally:
                loops.cancel()
                [outcome] = await asyncio.gather(loops, return_exceptions=True)
                if isinstance(outcome, Exception):
                    broke.append(outcome)
                    hwlog.get("api").error("the controller stopped", err=repr(outcome))
                hwlog.get("api").info("stopped")

        app.router.lifespan_context = lifespan
        await server.serve()  # until SIGINT/SIGTERM (uvicorn stops, then re-raises it)
    return 1 if broke else 0


def sync(
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result.")] = False,
    scan: Annotated[bool, typer.Option(
        "--scan", help="Scan registries and release new images first.")] = False,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    url: Annotated[str, typer.Option(envvar="HEADWATER_CD_URL",
                                     help="The controller's API.")] = "http://127.0.0.1:3030",
    api_token: Annotated[str | None, typer.Option(envvar="HEADWATER_API_TOKEN")] = None,
    timeout: Annotated[str, typer.Option(help="How long to wait.")] = "10m",
) -> None:
    """Ask the running controller to sync now (fluxctl sync); exit 1 if it failed."""
    import httpx

    params = {"wait": str(wait).lower(), "scan": str(scan).lower()} | (
        {"source": source} if source else {})
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    try:
        r = httpx.post(f"{url}/api/v1/sync", params=params, headers=headers,
                       timeout=_duration(timeout))
    except httpx.HTTPError as e:
        err.print(f"[red]error:[/red] cannot reach the controller at {url}: {e}")
        raise typer.Exit(2) from None
    if r.status_code >= 400:
        err.print(f"[red]error:[/red] {_error_of(r)}", highlight=False, markup=False)
        raise typer.Exit(2)
    if not wait:
        out.print("sync requested")
        return
    failed = False
    for res in r.json()["results"]:
        rev = res["revision"][:7]
        if res["ok"]:
            out.print(f"{res['source']}: synced {rev} ({len(res['applied'])} applied, "
                      f"{res['unchanged']} unchanged, {len(res['pruned'])} pruned)")
        else:
            failed = True
            err.print(f"{res['source']}: {res['reason']} at {rev or '?'}:\n{res['message']}",
                      highlight=False, markup=False)
    raise typer.Exit(1 if failed else 0)


def _error_of(r: httpx.Response) -> str:
    """The message of an API error answer (`detail`; `error` from older controllers)."""
    try:
        body = r.json()
    except ValueError:
        return r.text
    return str(body.get("detail") or body.get("error") or r.text) if isinstance(
        body, dict) else r.text


def identity(
    regenerate: Annotated[bool, typer.Option(help="Make a new key (the old one stops "
                                             "working where it was installed).")] = False,
    path: Annotated[Path | None, typer.Option(help="Key file.")] = None,
) -> None:
    """Print the public ssh key to install as a deploy key (created on first use)."""
    from headwater.gitrepo.keys import ensure_ed25519

    key = _mkdir(path or default_identity())
    if regenerate:
        key.unlink(missing_ok=True)
        key.with_name(key.name + ".pub").unlink(missing_ok=True)
    sys.stdout.write(ensure_ed25519(key, "headwater") + "\n")


def register(app: typer.Typer) -> None:
    app.command("cd")(cd)
    app.command("sync")(sync)
    app.command("identity")(identity)
