"""`headwater demo`: the seed blog post's loop, played on the local stack.

With a stack up (`headwater up`), it sets up what the story needs, once, and keeps it
under `<state dir>/demo/` (0700) so that a second run reuses it and plays one more
release:

- `headwater server` (CI + CD, `--stack`) as a stack process (`run/headwater-server.pid`,
  so `headwater down` stops it), its data dir `demo/server`, its API token made here in
  its database before it starts (only the hash is stored) and kept in `demo/token`
  (0600): the server never prints it to its log;
- the app repository `helloworld.git` on the stack's Git server (branch master: the
  example app, `deploy/` with REGISTRY set to the stack's registry and a copy of
  /bin/busybox; branch version: `1.0.0`), its working copy `demo/app`;
- the image `:1.0.0`, pushed once with the built-in docker-image put;
- the CD source `helloworld` (`demo/cd.yml`): `deploy/` of master, `git-ci-skip`
  (release commits end with `[ci skip]`), a 2 s Git and registry poll: the stack's
  registry may have no `--hook-url` for this server;
- the seed pipeline, its vars in `demo/vars.yml` (0600: the deploy key), unpaused
  after the first human commit (a new pipeline's first check takes master's head only,
  so that commit, not the initial one, builds 1.0.1).

Then one human commit changes the page, and each hop is waited for and timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import yaml

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.reach import Reach
from headwater.devstack import StackInfo, posthook, process
from headwater.devstack.gitserver import create_repo
from headwater.devstack.hooks import hooks_dir
from headwater.errors import HeadwaterError
from headwater.gitrepo.run import git
from headwater.store.crypto import Keyring
from headwater.store.db import secure_dir
from headwater.store.store import Store
from headwater.story.hops import HopFailed, Timeline

T = TypeVar("T")

APP = "helloworld"
IMAGE = "osones/demo-concourse-flux"
JOB = "Docker Build"
SERVER = "headwater-server"
EXAMPLE_NAMES = ("index.html", "Dockerfile")
MANIFESTS = ("application/vnd.docker.distribution.manifest.v2+json, "
             "application/vnd.oci.image.manifest.v1+json")
WAIT = 240.0  # seconds a hop may take before the story stops


@dataclass(frozen=True)
class Settings:
    example: Path           # examples/helloworld
    ci_skip: bool = True    # CD's --git-ci-skip
    poll: str = "2s"        # the CD source's Git and registry poll intervals


@dataclass
class Result:
    name: str
    version: str
    page: str
    builds: int
    server_url: str
    token_file: Path
    kubeconfig: str | None
    clone_url: str
    release_commit: str  # the CD source is named as the story: its timeline's URL


def example_dir() -> Path:
    """The example app: in the source tree (editable install) or next to the package."""
    here = Path(__file__).resolve()
    for base in (here.parents[3], here.parents[1]):
        if (base / "examples" / APP / "Dockerfile").exists():
            return base / "examples" / APP
    raise HopFailed("setup", "examples/helloworld is not next to the installed headwater",
                    todo="run headwater from its source tree (pip install -e .)")


def variant(ci_skip: bool) -> tuple[str, str]:
    """The name (repository, pipeline, CD source, namespace) and image repository of
    the story: `helloworld` with `--git-ci-skip`; without it `helloworld-paths`, whose
    pipeline's git resource ignores `deploy/` instead."""
    return (APP, IMAGE) if ci_skip else (f"{APP}-paths", f"{IMAGE}-paths")


def pipeline_text(text: str, *, ci_skip: bool) -> str:
    """The seed pipeline as written; without `--git-ci-skip`, its `git` resource also
    gets `ignore_paths: [deploy/]` (CD's release commits touch only deploy/)."""
    if ci_skip:
        return text
    anchor = "      branch: master\n"
    if anchor not in text:
        raise HopFailed("pipeline", "the example pipeline's git resource has no "
                        "`branch: master` line to put ignore_paths after",
                        todo="restore examples/helloworld/ci/pipeline.yml")
    return text.replace(anchor, anchor + "      ignore_paths: [deploy/]\n", 1)


def deploy_text(text: str, image: str, *, namespace: str) -> str:
    """A manifest of deploy/ with the stack's image repository and the story's
    namespace."""
    text = text.replace(f"REGISTRY/{IMAGE}:", f"{image}:")
    text = text.replace(f"namespace: {APP}\n", f"namespace: {namespace}\n")
    if "kind: Namespace" in text:
        text = text.replace(f"name: {APP}\n", f"name: {namespace}\n")
    return text


def next_patch(version: str) -> str:
    major, minor, patch = version.strip().split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def is_release_commit(message: str, version: str, ci_skip: bool) -> bool:
    """Whether `message` is CD's automation commit releasing `version` (with
    `--git-ci-skip`: its body ends with `[ci skip]`, where the git resource looks for
    it as Concourse's does)."""
    subject, _, body = message.partition("\n")
    return (subject.startswith("Auto-release") and subject.rstrip().endswith(f":{version}") and
            (not ci_skip or "[ci skip]" in body))


def pods_serving(pods: list[dict[str, Any]], image: str) -> bool:
    """Every pod of the Deployment runs `image` and is ready; pods being deleted (the
    old ones in their grace period) no longer count, as for `kubectl rollout status`."""
    pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if not pods:
        return False
    for pod in pods:
        images = [c["image"] for c in pod["spec"]["containers"]]
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in pod.get("status", {}).get("conditions", []))
        if images != [image] or not ready:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_for(hook_url: str | None) -> int:
    """The port of the stack's registry `--hook-url` when it is a free loopback port
    (the default: 8080), so that the registry's notifications reach this server;
    else any free port."""
    parsed = urlsplit(hook_url or "")
    if parsed.hostname == "127.0.0.1" and parsed.port:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", parsed.port))
            except OSError:
                return _free_port()
        return parsed.port
    return _free_port()


async def _wait(what: str, probe: Callable[[], Awaitable[T | None]], *, timeout: float,
                todo: str, tail: Callable[[], Awaitable[str]] | None = None,
                interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise HopFailed(what, f"not seen after {timeout:.0f}s",
                            await tail() if tail else "", todo)
        await asyncio.sleep(interval)


class Story:
    def __init__(self, info: StackInfo, settings: Settings, timeline: Timeline) -> None:
        self.info, self.settings, self.timeline = info, settings, timeline
        self.dir = Path(info.state_dir) / "demo"
        self.name, self.image_name = variant(settings.ci_skip)
        self.repo = f"{self.name}.git"
        self.work = self.dir / ("app" if settings.ci_skip else "app-paths")
        self.vars_file = self.dir / ("vars.yml" if settings.ci_skip else "vars-paths.yml")
        self.bare = info.git.repos / self.repo
        self.registry = f"127.0.0.1:{info.ports['registry']}"
        self.image = f"{self.registry}/{self.image_name}"
        self.token_file = self.dir / "token"
        self.git_env = {**os.environ, "GIT_AUTHOR_NAME": "headwater demo",
                        "GIT_AUTHOR_EMAIL": "demo@headwater.invalid",
                        "GIT_COMMITTER_NAME": "headwater demo",
                        "GIT_COMMITTER_EMAIL": "demo@headwater.invalid",
                        "GIT_SSH_COMMAND": info.git.ssh_command()}
        self.url = ""
        self.token = ""

    # -- helpers ---------------------------------------------------------------

    async def _git(self, *args: str, cwd: Path | None = None) -> str:
        return await git(*args, cwd=cwd or self.work, env=self.git_env, timeout=60)

    async def _kubectl(self, *args: str) -> str:
        assert self.info.kubeconfig
        proc = await asyncio.create_subprocess_exec(
            self.info.kubectl or "kubectl", "--kubeconfig", self.info.kubeconfig, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        if proc.returncode != 0:
            raise RuntimeError(err.decode(errors="replace")[-2000:])
        return out.decode()

    def _api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url + "/api/v1", timeout=30,
                                 headers={"Authorization": f"Bearer {self.token}"})

    def _server_tail(self) -> str:
        return process.tail(self.info.layout.logs / f"{SERVER}.log", 20)

    async def _server_tail_async(self) -> str:
        return await asyncio.to_thread(self._server_tail)

    # -- setup -----------------------------------------------------------------

    async def server(self) -> None:
        """The server, started unless its pid file names a live one."""
        hop = self.timeline.start("server")
        self.dir.mkdir(mode=0o700, exist_ok=True)
        state_file = self.dir / "server.json"
        cd = self.dir / "cd.yml"
        wanted = yaml.safe_dump({"sources": self._cd_sources()}, sort_keys=False)
        key = self._encryption_key()
        proc = process.load(SERVER, self.info.layout)
        running = proc is not None and process.is_alive(proc) and state_file.exists()
        same = (running and cd.exists() and cd.read_text() == wanted and
                json.loads(state_file.read_text()).get("encrypted") is True)
        if proc is not None and same:
            self.url = json.loads(state_file.read_text())["url"]
            self.token = self.token_file.read_text().strip()
            self.timeline.end(hop, f"running at {self.url} (pid {proc.pid})")
            return
        restarted = ""
        if proc is not None and running:  # a new CD source: the server reads them at start
            await asyncio.to_thread(process.stop, proc, self.info.layout)
            restarted = " (restarted with a new CD source or its encryption key)"
        data = self.dir / "server"
        if not self.token_file.exists():
            self.token = await self._make_token(data, key)
            _write_private(self.token_file, self.token)
        self.token = self.token_file.read_text().strip()
        cd.write_text(wanted)
        port = _port_for(self.info.options.get("hook_url"))
        self.url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "headwater", "server", "--bind", f"127.0.0.1:{port}",
                "--data-dir", str(data), "--stack", self.info.state_dir,
                "--scheduler-interval", "1s", "--checker-interval", "1s",
                "--cd-config", str(cd)]
        if self.info.kubeconfig:
            argv += ["--kubeconfig", self.info.kubeconfig]
        if self.info.kubectl:
            argv += ["--kubectl", self.info.kubectl]
        # The key in the environment, not argv (ps): the pipeline's vars hold the deploy
        # key, stored AES-256-GCM encrypted.
        proc = process.start(SERVER, argv, layout=self.info.layout,
                             env={"HEADWATER_ENCRYPTION_KEY": key})
        state_file.write_text(json.dumps({"url": self.url, "pid": proc.pid,
                                          "encrypted": True}))

        async def healthy() -> bool | None:
            if not process.is_alive(proc):
                raise HopFailed("server", "headwater server exited", self._server_tail(),
                                f"read {proc.log}")
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=2) as c:
                    return (await c.get(self.url + "/healthz")).status_code == 200
            return None

        await _wait("server", healthy, timeout=60, tail=self._server_tail_async,
                    todo=f"read {proc.log}")
        self.timeline.end(hop, f"started at {self.url} (pid {proc.pid}){restarted}")

    def _encryption_key(self) -> str:
        """The server's database key, made once (0600 in the demo dir)."""
        path = self.dir / "encryption-key"
        if not path.exists():
            _write_private(path, secrets.token_hex(16))  # 32 bytes of text: AES-256
        return path.read_text().strip()

    async def _make_token(self, data: Path, key: str) -> str:
        """The server's first token, made in its database before it starts: the
        server then prints none to its log."""
        await asyncio.to_thread(data.mkdir, mode=0o700, parents=True, exist_ok=True)
        await asyncio.to_thread(secure_dir, data)
        store = await Store.open(None, data_dir=data, keyring=Keyring.of(key))
        try:
            return await store.create_token("demo")
        finally:
            await store.close()

    def _cd_sources(self) -> list[dict[str, Any]]:
        """A CD source per variant whose repository exists (this one's was just made)."""
        git_info = self.info.git
        found = []
        for ci_skip in (True, False):
            name, _ = variant(ci_skip)
            if (git_info.repos / f"{name}.git").exists():
                found.append({
                    "name": name, "git-url": git_info.ssh_url(f"{name}.git"),
                    "git-branch": "master", "git-path": ["deploy"],
                    "git-ssh-key": str(git_info.deploy_key),
                    "git-known-hosts": str(git_info.known_hosts), "git-ci-skip": ci_skip,
                    "git-poll-interval": self.settings.poll, "sync-interval": "1m",
                    "registry-poll-interval": self.settings.poll,
                    "sync-garbage-collection": True})
        return found

    async def repository(self) -> None:
        hop = self.timeline.start("app repository")
        if self.bare.exists() and (self.work / ".git").exists():
            await self._git("fetch", "-q", "origin", "master")
            await self._git("reset", "-q", "--hard", "origin/master")
            self.timeline.end(hop, f"{self.info.git.git_url(self.repo)} (reused)")
            return
        if self.bare.exists():
            shutil.rmtree(self.work, ignore_errors=True)
            await self._git("clone", "-q", "--branch", "master", self.info.git.ssh_url(self.repo),
                            str(self.work), cwd=self.dir)
            self.timeline.end(hop, f"{self.info.git.git_url(self.repo)} (cloned)")
            return
        await asyncio.to_thread(create_repo, self.info.git, self.repo, branch="master")
        await asyncio.to_thread(self._copy_app)
        await self._git("init", "-q", "--initial-branch=master", str(self.work), cwd=self.dir)
        await self._git("remote", "add", "origin", self.info.git.ssh_url(self.repo))
        await self._git("add", "-A")
        await self._git("commit", "-q", "-m", "helloworld: the app of the blog post")
        await self._git("push", "-q", "origin", "HEAD:refs/heads/master")
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            version = Path(tmp)
            await self._git("init", "-q", "--initial-branch=version", tmp, cwd=self.dir)
            (version / "version").write_text("1.0.0\n")
            await self._git("add", "version", cwd=version)
            await self._git("commit", "-q", "-m", "version 1.0.0", cwd=version)
            await self._git("push", "-q", self.info.git.ssh_url(self.repo),
                            "HEAD:refs/heads/version", cwd=version)
        self.timeline.end(hop, f"{self.info.git.git_url(self.repo)} (master, version 1.0.0)")

    def _copy_app(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for name in EXAMPLE_NAMES:
            shutil.copy(self.settings.example / name, self.work / name)
        deploy = self.work / "deploy"
        shutil.copytree(self.settings.example / "deploy", deploy, dirs_exist_ok=True)
        for manifest in deploy.glob("*.yaml"):
            manifest.write_text(deploy_text(manifest.read_text(), self.image,
                                            namespace=self.name))
        shutil.copy("/bin/busybox", self.work / "busybox")

    async def _has_tag(self, tag: str) -> bool:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.get(f"http://{self.registry}/v2/{self.image_name}/manifests/{tag}",
                            headers={"Accept": MANIFESTS}, auth=self._registry_auth())
        return r.status_code == 200

    def _registry_auth(self) -> tuple[str, str] | None:
        auth = self.info.registry.auth
        return (auth[0], auth[1]) if auth else None

    async def first_image(self) -> None:
        """`:1.0.0`, the tag deploy/ names, pushed once with the docker-image put."""
        hop = self.timeline.start("image 1.0.0")
        if await self._has_tag("1.0.0"):
            self.timeline.end(hop, f"{self.image}:1.0.0 (reused)")
            return
        lines: list[str] = []

        async def log(line: str) -> None:
            lines.append(line)
            del lines[:-40]

        source: dict[str, Any] = {"repository": self.image}
        if auth := self._registry_auth():
            source |= {"username": auth[0], "password": auth[1]}
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            work = Path(tmp)
            await asyncio.to_thread(shutil.copytree, self.work, work / "app",
                                    ignore=shutil.ignore_patterns(".git"))
            (work / "tag").write_text("1.0.0\n")
            try:
                await DockerImageResource(reach=Reach.anything()).put(
                    source, {"build": "app", "tag_file": "tag"}, work, log=log)
            except ResourceError as e:
                raise HopFailed("image 1.0.0", str(e), "\n".join(lines[-20:]),
                                "check that buildah works (`buildah info`)") from None
        self.timeline.end(hop, f"{self.image}:1.0.0 (built, pushed)")

    def _vars(self) -> dict[str, str]:
        auth = self._registry_auth()
        return {"app_git_uri": self.info.git.git_url(self.repo),
                "app_ssh_uri": self.info.git.ssh_url(self.repo),
                "image_repository": self.image,
                "rguichard_pkey": self.info.git.deploy_key.read_text(),
                "dh-rguichard-passwd": auth[1] if auth else "no-auth-on-this-registry"}

    async def pipeline(self) -> None:
        """Set the pipeline unless it is (a new one is paused until `play` commits)."""
        hop = self.timeline.start("pipeline")
        async with self._api() as api:
            got = await api.get(f"/teams/main/pipelines/{self.name}")
            if got.status_code == 200:
                self.timeline.end(hop, f"{self.name} (reused)")
                return
            values = self._vars()
            _write_private(self.vars_file, yaml.safe_dump(values))
            text = pipeline_text((self.settings.example / "ci" / "pipeline.yml").read_text(),
                                 ci_skip=self.settings.ci_skip)
            r = await api.put(f"/teams/main/pipelines/{self.name}/config",
                              json={"config": text, "vars": values})
            if r.status_code != 200:
                raise HopFailed("pipeline", f"set-pipeline answered {r.status_code}",
                                r.text[-2000:], "read the pipeline error above")
        self.timeline.end(hop, f"{self.name} set (vars in {self.vars_file}, 0600)")

    # -- the loop --------------------------------------------------------------

    async def _builds(self) -> list[dict[str, Any]]:
        async with self._api() as api:
            r = await api.get(f"/teams/main/pipelines/{self.name}/jobs/{JOB}/builds")
            r.raise_for_status()
            rows: list[dict[str, Any]] = r.json()
            return rows

    async def _build_log(self, build_id: int) -> str:
        lines: list[str] = []
        with contextlib.suppress(httpx.HTTPError):
            async with self._api() as api, api.stream(
                    "GET", f"/builds/{build_id}/events", timeout=10) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: {"):
                        data = json.loads(line[6:]).get("data", {})
                        if isinstance(data, dict) and "payload" in data:
                            lines += str(data["payload"]).splitlines()
                            del lines[:-20]
        return "\n".join(lines)

    async def play(self) -> Result:
        """One human commit, and each hop of the loop waited for."""
        version = await self._git("show", "origin/version:version", cwd=self.work) \
            if await self._fetch_version() else "1.0.0"
        target = next_patch(version)
        before = {b["id"] for b in await self._builds()}
        await self._commit(target)

        hop = self.timeline.start("build started")

        async def new_build() -> dict[str, Any] | None:
            fresh = [b for b in await self._builds() if b["id"] not in before]
            return fresh[-1] if fresh else None

        build = await _wait("build started", new_build, timeout=WAIT,
                            tail=self._server_tail_async,
                            todo=f"see the pipeline at {self.url}; the server's log is "
                                 f"{self.info.layout.logs / (SERVER + '.log')}")
        self.timeline.end(hop, f"build {build['name']} of {JOB!r}")

        hop = self.timeline.start(f"image {target} pushed")

        async def pushed() -> bool | None:
            done = await self._get_build(build["id"])
            if done["status"] in ("failed", "errored", "aborted"):
                raise HopFailed(f"image {target} pushed", f"build {done['name']} "
                                f"{done['status']}", await self._build_log(build["id"]),
                                f"headwater -t <target> watch -j {self.name}/'{JOB}' "
                                f"-b {done['name']}")
            return await self._has_tag(target) or None

        await _wait(f"image {target} pushed", pushed, timeout=WAIT,
                    todo="read the build's log in the UI")
        self.timeline.end(hop, f"{self.image}:{target}")

        hop = self.timeline.start("release commit")
        image = f"{self.image}:{target}"

        async def released() -> tuple[str, str] | None:
            sha, _, message = (await self._git("log", "-1", "--format=%H%n%B", "master",
                                               cwd=self.bare)).partition("\n")
            manifest = await self._git("show", "master:deploy/deployment.yaml", cwd=self.bare)
            if image in manifest and is_release_commit(message, target, self.settings.ci_skip):
                return sha, message
            return None

        sha, message = await _wait("release commit", released, timeout=WAIT,
                                   tail=self._server_tail_async,
                                   todo="GET /api/v1/cd/status with the token says why")
        skip = " [ci skip]" if "[ci skip]" in message else ""
        self.timeline.end(hop, f"{sha[:8]} {message.splitlines()[0]}{skip}")

        await self._pods(image, target)

        hop = self.timeline.start("page served")
        served = await self._fetch_page(target)
        self.timeline.end(hop, served.strip())

        hop = self.timeline.start("no second build")
        builds = await self._no_second_build(before)
        self.timeline.end(hop, f"{len(builds)} build for 1 commit; the release commit "
                               "built nothing")
        return Result(name=self.name, version=target, page=served, builds=len(builds),
                      server_url=self.url, token_file=self.token_file,
                      kubeconfig=self.info.kubeconfig, clone_url=self.info.git.git_url(self.repo),
                      release_commit=sha)

    async def _commit(self, target: str) -> None:
        """The human commit: the page names the release it will become."""
        hop = self.timeline.start("commit")
        page = f"<h1>Hello World, release {target}</h1>\n"
        (self.work / "index.html").write_text(page)
        await self._git("commit", "-q", "-am", f"helloworld: the page of {target}")
        await self._git("push", "-q", "origin", "HEAD:refs/heads/master")
        sha = await self._git("rev-parse", "HEAD")
        how = "the stack's post-receive hook tells the server"
        async with self._api() as api:  # every run: one stopped before it may not have
            (await api.put(f"/teams/main/pipelines/{self.name}/unpause")).raise_for_status()
            if not await asyncio.to_thread(self._hooked):
                how = "no stack hook to this server: git checked over the API"
                await api.post(f"/teams/main/pipelines/{self.name}/resources/git/check")
        self.timeline.end(hop, f"{sha[:8]} pushed to master ({how})")

    async def _pods(self, image: str, target: str) -> None:
        hop = self.timeline.start("pods ready")

        async def ready() -> bool | None:
            try:
                pods = json.loads(await self._kubectl(
                    "-n", self.name, "get", "pods", "-l", f"app={APP}", "-o", "json",
                ))["items"]
            except RuntimeError:
                return None
            return pods_serving(pods, image) or None

        async def pod_tail() -> str:
            try:
                return (await self._kubectl("-n", self.name, "get", "pods,events",
                                            "-o", "wide"))[-3000:]
            except RuntimeError as e:
                return str(e)

        await _wait("pods ready", ready, timeout=WAIT, tail=pod_tail,
                    todo=f"kubectl -n {self.name} describe pods")
        self.timeline.end(hop, f"deployment/{APP} runs :{target}")

    def _hooked(self) -> bool:
        """Whether the stack's post-receive hooks call this server (`hooks/server.json`,
        which the last server started with `--stack` wrote and removes when it stops)."""
        target = hooks_dir(Path(self.info.state_dir)) / posthook.TARGET_FILE
        try:
            return bool(json.loads(target.read_text()).get("url", "").startswith(self.url))
        except (OSError, ValueError):
            return False

    async def _fetch_version(self) -> bool:
        with contextlib.suppress(Exception):
            await self._git("fetch", "-q", "origin", "version:refs/remotes/origin/version")
            return True
        return False

    async def _get_build(self, build_id: int) -> dict[str, Any]:
        async with self._api() as api:
            r = await api.get(f"/builds/{build_id}")
            r.raise_for_status()
            row: dict[str, Any] = r.json()
            return row

    async def _fetch_page(self, target: str) -> str:
        """The page, through `kubectl port-forward` to the Service."""
        port = _free_port()
        assert self.info.kubeconfig
        forward = await asyncio.create_subprocess_exec(
            self.info.kubectl or "kubectl", "--kubeconfig", self.info.kubeconfig, "-n", self.name,
            "port-forward", f"service/{APP}", f"{port}:80",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            async def page() -> str | None:
                with contextlib.suppress(httpx.HTTPError):
                    async with httpx.AsyncClient(timeout=5) as c:
                        r = await c.get(f"http://127.0.0.1:{port}/")
                        if r.status_code == 200 and target in r.text:
                            return r.text
                return None

            return await _wait("page served", page, timeout=60,
                               todo=f"kubectl -n {self.name} port-forward "
                                    f"service/{APP} 8081:80")
        finally:
            with contextlib.suppress(ProcessLookupError):
                forward.kill()
            await forward.wait()

    async def _no_second_build(self, before: set[int]) -> list[dict[str, Any]]:
        """After the release commit was checked, still one new build."""
        async with self._api() as api:
            await api.post(f"/teams/main/pipelines/{self.name}/resources/git/check")
        await asyncio.sleep(3)  # three scheduler ticks
        builds = [b for b in await self._builds() if b["id"] not in before]
        if len(builds) != 1:
            raise HopFailed("no second build", f"{len(builds)} builds for one commit",
                            "\n".join(f"build {b['name']}: {b['status']}" for b in builds),
                            "the release commit must end with [ci skip] (--git-ci-skip) or "
                            "touch only ignored paths")
        return builds


async def run(info: StackInfo, settings: Settings, timeline: Timeline) -> Result:
    """Set up what is missing, then play one release."""
    story = Story(info, settings, timeline)
    await asyncio.to_thread(story.dir.mkdir, mode=0o700, exist_ok=True)
    try:
        await story.repository()
        await story.first_image()
        await story.server()
        await story.pipeline()
        return await story.play()
    except HopFailed:
        raise
    except (HeadwaterError, httpx.HTTPError, OSError, RuntimeError) as e:
        hop = timeline.hops[-1].name if timeline.hops else "setup"
        raise HopFailed(hop, str(e) or type(e).__name__, story._server_tail(),
                        "fix the cause above and run `headwater demo` again (it reuses "
                        "what exists)") from None
