"""What runs where in a stack, and whether each part answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from headwater.devstack import controlplane, githttp, node, process, registry
from headwater.devstack.ports import accepts
from headwater.devstack.stack import StackInfo


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool
    endpoint: str
    healthy: bool
    rss: int  # resident memory in bytes


def check(info: StackInfo) -> list[ComponentStatus]:
    lay, p = info.layout, info.ports
    cp = info.control_plane
    nd = info.node
    probes: dict[str, tuple[str, Callable[[], bool]]] = {
        "git-daemon": (f"git://127.0.0.1:{p.get('git')}", lambda: accepts(p["git"])),
        "sshd": (f"ssh://{info.user}@127.0.0.1:{p.get('ssh')}", lambda: accepts(p["ssh"])),
        "registry": (info.registry.url, lambda: registry.healthy(info.registry)),
    }
    if gh := info.git_http:
        probes[githttp.NAME] = (f"{gh.url('')} (TLS, password or token)",
                                lambda: githttp.healthy(gh))
    if cp:
        probes |= {
            "etcd": (f"{cp.etcd_url} (client certificate)",
                     lambda: controlplane.etcd_healthy(cp)),
            "kube-apiserver": (cp.server, lambda: controlplane.apiserver_ready(cp)),
            "kube-controller-manager": (f"https://127.0.0.1:{cp.cm_port}",
                                        lambda: controlplane.component_healthy(cp.cm_port)),
            "kube-scheduler": (f"https://127.0.0.1:{cp.scheduler_port}",
                               lambda: controlplane.component_healthy(cp.scheduler_port)),
        }
    if cp and nd:
        probes |= {
            "containerd": (f"unix://{node.socket(lay)}", lambda: node.socket(lay).exists()),
            "kubelet": (f"https://127.0.0.1:{nd.kubelet_port} (node {controlplane.NODE_NAME})",
                        lambda: node.kubelet_healthy(nd) and node.node_ready(cp)),
        }
    out = []
    for name in info.components:
        endpoint, probe = probes.get(name, ("", lambda: False))
        proc = process.load(name, lay)
        alive = proc is not None and process.is_alive(proc)
        try:
            healthy = alive and probe()
        except OSError:
            healthy = False
        rss = process.rss_bytes(proc) if proc and alive else 0
        out.append(ComponentStatus(name, proc.pid if proc else None, alive, endpoint, healthy,
                                   rss))
    return out
