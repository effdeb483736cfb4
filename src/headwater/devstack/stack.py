"""`headwater up / down / status`: one local stack under one state directory.

`up` starts, in order: the Git server (git://, ssh and https), the registry, etcd, kube-apiserver,
controller-manager and scheduler, then containerd and the kubelet, and waits for
the node to be Ready. Ports, names and directories are per stack, so a user's stack
and the test suite's run side by side. What was started is recorded in stack.json
as it happens: if `up` fails half-way, it stops what it started and says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from headwater.devstack import (
    controlplane,
    githttp,
    gitserver,
    hooks,
    kubebuild,
    node,
    process,
    registry,
    sysdeps,
)
from headwater.devstack.errors import MissingPackage, NotRoot, StackError
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick
from headwater.registry import push

# Start order; `down` stops in reverse.
ORDER = ("git-daemon", "sshd", githttp.NAME, "registry", "etcd", "kube-apiserver",
         "kube-controller-manager", "kube-scheduler", "containerd", "kubelet",
         "headwater-server")  # the server `headwater demo` starts: stopped first


@dataclass
class Options:
    cluster: bool = True            # run a local Kubernetes cluster
    node: bool = True               # ... with a node (containerd + kubelet), needs root
    kubeconfig: Path | None = None  # or use this cluster instead of a local one
    registry_auth: bool = False
    hook_url: str = hooks.DEFAULT_HOOK_URL  # the registry's notifications go here ("": none)
    registry_user: str = "headwater"  # the one user of an auth registry


@dataclass
class Reporter:
    """How `up` tells a person what it does; the CLI prints, tests stay quiet."""
    step: Callable[[str, str], None] = lambda name, detail: None
    build: kubebuild.Progress | None = None


@dataclass
class StackInfo:
    """What stack.json records: how to reach each part of a running stack."""
    state_dir: str
    options: dict[str, Any]
    ports: dict[str, int] = field(default_factory=dict)
    bridge: str | None = None
    subnet: str | None = None
    kubeconfig: str | None = None
    kube_bin: str | None = None
    registry_password: str | None = None
    registry_user: str = "headwater"
    user: str = "root"
    components: list[str] = field(default_factory=list)

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.state_dir))

    @property
    def git(self) -> gitserver.GitServer:
        base = self.layout.sub("git")
        return gitserver.GitServer(
            repos=base / "repos", daemon_port=self.ports["git"], ssh_port=self.ports["ssh"],
            deploy_key=base / "deploy_key", readonly_key=base / "readonly_key",
            known_hosts=base / "known_hosts", user=self.user)

    @property
    def git_http(self) -> githttp.GitHttp | None:
        """The HTTPS endpoint (URL, credentials, CA), if this stack has one."""
        if githttp.NAME not in self.ports:
            return None
        return githttp.load(self.layout, port=self.ports[githttp.NAME], repos=self.git.repos)

    @property
    def registry(self) -> registry.Registry:
        user = self.registry_user if self.registry_password else None
        return registry.Registry(self.ports["registry"], user, self.registry_password)

    @property
    def kubectl(self) -> str | None:
        if self.kube_bin:
            return str(Path(self.kube_bin) / "kubectl")
        return shutil.which("kubectl")

    @property
    def control_plane(self) -> controlplane.ControlPlane | None:
        if "kube-apiserver" not in self.components:
            return None
        token = controlplane.load_tokens(self.layout.pki)["admin"]
        p = self.ports
        return controlplane.ControlPlane(p["apiserver"], p["etcd"], p["etcd-peer"], p["cm"],
                                         p["scheduler"], self.layout.pki / "ca.crt", token)

    @property
    def node(self) -> node.Node | None:
        if "kubelet" not in self.components or not self.bridge or not self.subnet:
            return None
        return node.Node(self.bridge, self.subnet, self.ports["kubelet"],
                         self.ports["kubelet-healthz"])

    def save(self) -> None:
        path = self.layout.state_file
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.chmod(path, 0o600)


def load(state_dir: Path) -> StackInfo | None:
    try:
        data = json.loads(Layout(state_dir).state_file.read_text())
    except FileNotFoundError:
        return None
    return StackInfo(**data)


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    layout.create()
    with (layout.root / "lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _procs(info: StackInfo) -> list[process.Proc]:
    lay = info.layout
    found = [process.load(n, lay) for n in info.components]
    return [p for p in found if p]


def running(info: StackInfo) -> bool:
    procs = _procs(info)
    return bool(procs) and len(procs) == len(info.components) and all(map(process.is_alive, procs))


class AlreadyUp(StackError):
    def __init__(self, info: StackInfo) -> None:
        self.info = info
        super().__init__(f"a stack is already running from {info.state_dir}")


def _required(opts: Options) -> dict[str, str]:
    needed = sysdeps.GIT | sysdeps.REGISTRY
    if opts.cluster and not opts.kubeconfig:
        needed |= sysdeps.CONTROL_PLANE | (sysdeps.NODE if opts.node else {})
    return needed


def preflight(opts: Options, *, euid: int) -> None:
    """Refuse early, with what to do, when this machine cannot run what `opts` asks."""
    if opts.cluster and not opts.kubeconfig and opts.node and euid != 0:
        raise NotRoot()
    if missing := sysdeps.missing(_required(opts)):
        raise MissingPackage(missing)
    if "/bin/busybox" in _required(opts) and sysdeps.missing_packages(
            {"/bin/busybox": "busybox-static"}):
        raise MissingPackage({"/bin/busybox (static)": "busybox-static"})


def up(state_dir: Path, opts: Options, report: Reporter | None = None) -> StackInfo:
    """Start a stack in `state_dir`; raise AlreadyUp if one runs there already."""
    report = report or Reporter()
    layout = Layout(state_dir)
    with _locked(layout):
        previous = load(state_dir)
        if previous and running(previous):
            raise AlreadyUp(previous)
        preflight(opts, euid=os.geteuid())
        local_cluster = opts.cluster and not opts.kubeconfig
        if previous:  # a stack that died or was killed: clear what it left
            _stop_all(previous)
        info = StackInfo(state_dir=str(layout.root), options=_opts_dict(opts),
                         user=pwd.getpwuid(os.geteuid()).pw_name)
        if local_cluster:
            if kubebuild.cached() is None:
                report.step("kubernetes", f"building {kubebuild.VERSION} from source, once "
                            f"(~6 min on 2 cores); log: {kubebuild.cache_root() / 'build.log'}")
            info.kube_bin = str(kubebuild.ensure(report.build))
            report.step("kubernetes", f"{kubebuild.VERSION} binaries in {info.kube_bin}")
        elif opts.kubeconfig:
            info.kubeconfig = str(opts.kubeconfig.resolve())
        try:
            _start(info, previous, opts, local_cluster, report)
        except BaseException:
            _stop_all(info)
            raise
        return info


def _opts_dict(opts: Options) -> dict[str, Any]:
    d = asdict(opts)
    d["kubeconfig"] = str(opts.kubeconfig) if opts.kubeconfig else None
    return d


def _start(info: StackInfo, previous: StackInfo | None, opts: Options, local_cluster: bool,
           report: Reporter) -> None:
    layout = info.layout
    old = previous.ports if previous else {}
    taken: set[int] = set()

    def port(name: str) -> int:
        info.ports[name] = pick(old.get(name), taken)
        return info.ports[name]

    def started(procs: list[process.Proc], detail: str) -> None:
        info.components += [p.name for p in procs]
        info.save()
        report.step(procs[0].name if len(procs) == 1 else "/".join(p.name for p in procs),
                    detail)

    t0 = time.monotonic()
    git = gitserver.prepare(layout, daemon_port=port("git"), ssh_port=port("ssh"),
                            user=info.user)
    hooks.install_missing(git.repos, layout.root)  # repositories made by hand since
    info.save()
    started(gitserver.start(layout, git), f"{git.git_url('<repo>.git')} (read-only)  "
            f"{git.ssh_url('<repo>.git')} (push, deploy key)")
    https = githttp.prepare(layout, port=port(githttp.NAME), repos=git.repos)
    started([githttp.start(layout, https)],
            f"{https.url('<repo>.git')} (clone and push with the password or token; "
            f"TLS from {https.ca_file})")
    notify = hooks.registry_notifications(opts.hook_url, hooks.ensure_secret(layout.root)
                                          ) if opts.hook_url else None
    reg = registry.prepare(layout.sub("registry"), port=port("registry"),
                           auth=opts.registry_auth, notifications=notify,
                           username=opts.registry_user)
    info.registry_password = reg.password
    info.registry_user = opts.registry_user
    started([registry.start(layout.sub("registry"), reg, name="registry", layout=layout)],
            reg.url)
    if not local_cluster:
        return
    assert info.kube_bin
    bin_dir = Path(info.kube_bin)
    cp = controlplane.prepare(layout, api_port=port("apiserver"), etcd_port=port("etcd"),
                              etcd_peer_port=port("etcd-peer"), cm_port=port("cm"),
                              scheduler_port=port("scheduler"))
    info.kubeconfig = str(layout.kubeconfig)
    info.save()
    procs = controlplane.start(layout, cp, bin_dir=bin_dir)
    started(procs[:2], cp.server)
    info.components += [p.name for p in procs[2:]]
    info.save()
    if opts.node:
        nd = node.Node(
            bridge=f"hw-{layout.stack_id}",
            subnet=node.pick_subnet(layout.stack_id, previous.subnet if previous else None),
            kubelet_port=port("kubelet"), kubelet_healthz_port=port("kubelet-healthz"))
        info.bridge, info.subnet = nd.bridge, nd.subnet
        info.save()
        _push_pause(reg)
        node.prepare(layout, nd, cp, reg)
        node.ensure_bridge(nd)
        started([node.start_containerd(layout)], str(node.socket(layout)))
        kubelet = node.start_kubelet(layout, bin_dir)
        info.components.append(kubelet.name)
        info.save()
    controlplane.wait_healthy(procs, cp)
    report.step("kube-controller-manager/kube-scheduler", "healthy")
    if opts.node:
        process.wait_until(kubelet, lambda: node.node_ready(cp), what="Ready as a node",
                           timeout=120, interval=0.5)
        report.step("kubelet", f"node {controlplane.NODE_NAME} Ready, pods on {nd.subnet}")
    report.step("ready", f"in {time.monotonic() - t0:.1f}s")


def _push_pause(reg: registry.Registry) -> None:
    """The pod sandbox image: static busybox sleeping forever, pushed to our registry."""
    busybox = Path("/bin/busybox")
    lay, diff_id = push.layer({"bin/busybox": busybox}, {"bin/sleep": "busybox"})
    config = push.image_config([diff_id], entrypoint=["/bin/sleep", "2147483647"],
                               created="1970-01-01T00:00:00Z")
    push.push(reg.url, node.PAUSE_REPOSITORY, node.PAUSE_TAG, config=config, layers=[lay],
              auth=reg.auth)


def _stop_all(info: StackInfo) -> list[str]:
    """Stop every recorded process in reverse start order and clear node leftovers."""
    layout = info.layout
    done: list[str] = []
    names = [n for n in reversed(ORDER) if n in info.components or
             (layout.run / f"{n}.pid").exists()]
    for name in names:
        proc = process.load(name, layout)
        if proc is None:
            continue
        if name == "containerd":  # containers first, while their runtime still answers
            node.stop_containers(layout)
        process.stop(proc, layout, timeout=20 if name == "kubelet" else 10)
        done.append(f"stopped {name} (pid {proc.pid})")
    if info.bridge or (layout.sub("containerd").exists()):
        done += node.cleanup(layout, info.bridge)
    info.components = []
    if layout.state_file.exists():
        info.save()
    return done


def down(state_dir: Path, *, purge: bool = False) -> list[str]:
    """Stop what `up` started; with `purge`, also delete the state directory."""
    layout = Layout(state_dir)
    if not layout.root.exists():
        return []
    with _locked(layout):
        info = load(state_dir) or StackInfo(state_dir=str(layout.root), options={})
        done = _stop_all(info)
        if purge:
            shutil.rmtree(layout.root, ignore_errors=True)
            done.append(f"removed {layout.root}")
    return done
