"""The node: containerd (CRI) + runc + CNI bridge, and the kubelet.

Everything the node writes is kept under the stack's directory or named after the
stack: containerd's root, state, socket and network namespaces
(`netns_mounts_under_state_dir`), runc's root, the CNI config and IPAM data, the
kubelet's root and pod logs. What cannot be moved is named per stack (the bridge
`hw-<id>`, a /24 of 10.200.0.0/13 picked free) and removed by `cleanup`. The bridge
gets the gateway address from us, so the host reaches pods (probes, port-forward)
without IP forwarding; pods get no default route, so nothing they send leaves the
machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from headwater.devstack import probe, process
from headwater.devstack.controlplane import NODE_NAME, ControlPlane, api_get
from headwater.devstack.layout import Layout
from headwater.devstack.registry import Registry

PAUSE_REPOSITORY = "headwater/pause"
PAUSE_TAG = "1"
_POD_RANGE = ipaddress.IPv4Network("10.200.0.0/13")


@dataclass(frozen=True)
class Node:
    bridge: str
    subnet: str
    kubelet_port: int
    kubelet_healthz_port: int

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))


def _dirs(layout: Layout) -> dict[str, Path]:
    return {
        "containerd": layout.sub("containerd"),
        "runc": layout.sub("runc"),
        "cni": layout.sub("cni"),
        "kubelet": layout.sub("kubelet"),
    }


def socket(layout: Layout) -> Path:
    return layout.sub("containerd", "containerd.sock")


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                         capture_output=True, text=True, check=True).stdout
    nets = []
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "")
        with contextlib.suppress(ValueError):
            if dst and dst != "default":
                nets.append(ipaddress.ip_network(dst, strict=False))
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


def pick_subnet(stack_id: str, wanted: str | None) -> str:
    """`wanted` if no route uses it, else the first free /24 from a hash of the stack id."""
    used = _used_networks()
    subnets: list[ipaddress.IPv4Network] = list(_POD_RANGE.subnets(new_prefix=24))
    start = int(stack_id, 16) % len(subnets)
    candidates = ([ipaddress.IPv4Network(wanted)] if wanted else []) + subnets[start:] + \
        subnets[:start]
    for net in candidates:
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free /24 left in 10.200.0.0/13 for the pod network")


def prepare(layout: Layout, node: Node, cp: ControlPlane, registry: Registry) -> None:
    d = _dirs(layout)
    for p in d.values():
        p.mkdir(parents=True, exist_ok=True)
    ctd, cni = d["containerd"], d["cni"]
    (cni / "net.d").mkdir(exist_ok=True)
    hosts_dir = ctd / "certs.d" / registry.host
    hosts_dir.mkdir(parents=True, exist_ok=True)
    (hosts_dir / "hosts.toml").write_text(
        f'server = "{registry.url}"\n\n[host."{registry.url}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    auth = ""
    if registry.auth:
        user, password = registry.auth
        auth = (f'[plugins."io.containerd.grpc.v1.cri".registry.configs."{registry.host}".auth]\n'
                f'  username = "{user}"\n  password = "{password}"\n')
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    config = f"""version = 2
root = "{ctd / 'root'}"
state = "{ctd / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket(layout)}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{ctd / 'opt'}"

[{cri}]
  sandbox_image = "{registry.host}/{PAUSE_REPOSITORY}:{PAUSE_TAG}"
  # This machine may not lower oom_score_adj: without this runc fails to start pods.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_unprivileged_ports = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{shutil.which('runc') or '/usr/bin/runc'}"
        Root = "{d['runc']}"
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni / 'net.d'}"
    max_conf_num = 1
  [{cri}.registry]
    config_path = "{ctd / 'certs.d'}"
{auth}"""
    process_config = ctd / "config.toml"
    process_config.write_text(config)
    os.chmod(process_config, 0o600)  # may hold the registry password
    conflist = {
        "cniVersion": "0.4.0",
        "name": node.bridge,
        "plugins": [{
            "type": "bridge",
            "bridge": node.bridge,
            "isGateway": False,  # the bridge's address is ours; see the module docstring
            "ipMasq": False,
            "hairpinMode": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": node.subnet, "gateway": node.gateway}]],
                "dataDir": str(cni / "ipam"),
            },
        }],
    }
    (cni / "net.d" / "10-headwater.conflist").write_text(json.dumps(conflist, indent=2))
    kubelet = d["kubelet"]
    kubelet_config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(cp.ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(layout.pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(layout.pki / "kubelet.key"),
        "containerRuntimeEndpoint": f"unix://{socket(layout)}",
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(kubelet / "pod-logs"),
        "resolvConf": "",
        "clusterDomain": "cluster.local",
        "serializeImagePulls": False,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
    }
    (kubelet / "config.yaml").write_text(yaml.safe_dump(kubelet_config))


def ensure_bridge(node: Node) -> None:
    """Create the stack's bridge with the gateway address (idempotent)."""
    if subprocess.run(["ip", "link", "show", node.bridge], capture_output=True).returncode:
        subprocess.run(["ip", "link", "add", node.bridge, "type", "bridge"], check=True)
    prefix = ipaddress.ip_network(node.subnet).prefixlen
    subprocess.run(["ip", "addr", "replace", f"{node.gateway}/{prefix}", "dev", node.bridge],
                   check=True)
    subprocess.run(["ip", "link", "set", node.bridge, "up"], check=True)


def start_containerd(layout: Layout) -> process.Proc:
    ctd = _dirs(layout)["containerd"]
    proc = process.start("containerd", ["containerd", "--config", str(ctd / "config.toml")],
                         layout=layout)
    process.wait_until(proc, lambda: _ctr(layout, "version").returncode == 0,
                       what="serving its socket", timeout=30, interval=0.2)
    return proc


def _ctr(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", str(socket(layout)), *args],
                          capture_output=True, text=True, timeout=20)


def start_kubelet(layout: Layout, bin_dir: Path) -> process.Proc:
    kubelet = _dirs(layout)["kubelet"]
    return process.start("kubelet", [
        str(bin_dir / "kubelet"),
        f"--config={kubelet / 'config.yaml'}",
        f"--kubeconfig={layout.sub('kube', 'kubelet.kubeconfig')}",
        f"--root-dir={kubelet / 'root'}",
        f"--hostname-override={NODE_NAME}",
    ], layout=layout)


def node_ready(cp: ControlPlane) -> bool:
    try:
        r = api_get(cp, f"/api/v1/nodes/{NODE_NAME}")
    except httpx.HTTPError:
        return False
    if r.status_code != 200:
        return False
    conditions = r.json().get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def kubelet_healthy(node: Node) -> bool:
    return probe.status(f"http://127.0.0.1:{node.kubelet_healthz_port}/healthz") == 200


# --- cleanup: what the node leaves behind when it stops, or when a stack was killed ---

def _mounts_under(root: Path) -> list[Path]:
    prefix = str(root.resolve()) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _shims(layout: Layout) -> list[int]:
    """containerd-shim-runc-v2 processes that serve this stack's containerd."""
    address = str(socket(layout))
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
            pids.append(int(entry.name))
    return pids


def stop_containers(layout: Layout) -> None:
    """Kill every container this stack's runc root knows, then their shims."""
    root = _dirs(layout)["runc"] / "k8s.io"
    if root.is_dir() and shutil.which("runc"):
        for state in root.iterdir():
            subprocess.run(["runc", "--root", str(root), "kill", "--all", state.name, "KILL"],
                           capture_output=True)
        for state in root.iterdir():
            subprocess.run(["runc", "--root", str(root), "delete", "--force", state.name],
                           capture_output=True)
    for pid in _shims(layout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while _shims(layout) and time.monotonic() < deadline:
        for pid in _shims(layout):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def cleanup(layout: Layout, bridge: str | None) -> list[str]:
    """Undo what the node made outside plain files; return what was removed."""
    removed: list[str] = []
    stop_containers(layout)
    for mount in _mounts_under(layout.root):  # netns, volumes, rootfs; deepest first
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        removed.append(f"mount {mount}")
    if bridge and subprocess.run(["ip", "link", "show", bridge],
                                 capture_output=True).returncode == 0:
        subprocess.run(["ip", "link", "delete", bridge], check=False)
        removed.append(f"bridge {bridge}")
    logs = Path("/var/log/containers")  # the kubelet's symlinks, a fixed path
    if logs.is_dir():
        ours = str(layout.sub("kubelet").resolve())
        for link in logs.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(ours):
                link.unlink()
    return removed
