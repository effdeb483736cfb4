"""The control plane: Debian's etcd, then kube-apiserver, kube-controller-manager and
kube-scheduler built from k8s.io/kubernetes.

Security is on as in a real cluster: TLS everywhere, static token authentication, Node +
RBAC authorization, NodeRestriction. etcd listens on 127.0.0.1 only and answers only
clients with a certificate of its own CA (`pki/etcd/`: the apiserver's, the health
probe's), on its client and its peer port alike: whoever talks to etcd owns the cluster,
any process of the machine can reach loopback, and the cluster's CA also signs what
the controller-manager approves (kubelet client certificates), so it cannot be etcd's.
The apiserver
reaches the kubelet with a client certificate and checks the kubelet's serving
certificate against the stack's CA. People use the generated `kubeconfig`
(an admin token); each component has its own token and identity.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from headwater.devstack import probe, process
from headwater.devstack.layout import Layout
from headwater.devstack.pki import CA, service_account_keys, write_private

NODE_NAME = "localhost"  # the kubelet refuses a loopback node IP; the apiserver dials this name
SERVICE_CIDR = "10.96.0.0/16"  # virtual: no kube-proxy runs, nothing routes it


@dataclass(frozen=True)
class ControlPlane:
    api_port: int
    etcd_port: int
    etcd_peer_port: int
    cm_port: int
    scheduler_port: int
    ca: Path
    admin_token: str

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def etcd_url(self) -> str:
        return f"https://127.0.0.1:{self.etcd_port}"

    @property
    def etcd_ca(self) -> Path:
        return self.ca.parent / "etcd" / "ca.crt"

    def etcd_cert(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) `name` signed by etcd's CA."""
        return self.etcd_ca.parent / f"{name}.crt", self.etcd_ca.parent / f"{name}.key"


# identity -> (user, groups); tokens are generated per stack and kept in pki/tokens.csv
_IDENTITIES = {
    "admin": ("headwater-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
}


def load_tokens(pki: Path) -> dict[str, str]:
    path = pki / "tokens.csv"
    tokens: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            token, user = line.split(",")[:2]
            for ident, (u, _) in _IDENTITIES.items():
                if u == user:
                    tokens[ident] = token
    if set(tokens) != set(_IDENTITIES):
        tokens = {ident: secrets.token_hex(24) for ident in _IDENTITIES}
        rows = [f'{tokens[i]},{u},{u},"{g}"' for i, (u, g) in _IDENTITIES.items()]
        write_private(path, ("\n".join(rows) + "\n").encode())
    return tokens


def write_kubeconfig(path: Path, *, server: str, ca: Path, token: str, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "headwater", "cluster": {
            "server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "headwater", "context": {"cluster": "headwater", "user": user}}],
        "current-context": "headwater",
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


def prepare(
    layout: Layout, *, api_port: int, etcd_port: int, etcd_peer_port: int,
    cm_port: int, scheduler_port: int,
) -> ControlPlane:
    pki = layout.pki
    ca = CA(pki)
    ca.issue("apiserver", cn="kube-apiserver", server=True, hosts=(
        "127.0.0.1", "localhost", "10.96.0.1", "kubernetes", "kubernetes.default",
        "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"))
    ca.issue("apiserver-kubelet-client", cn="kube-apiserver-kubelet-client",
             org="system:masters", client=True)
    ca.issue("kubelet", cn=f"system:node:{NODE_NAME}", org="system:nodes", server=True,
             hosts=(NODE_NAME, "127.0.0.1"))
    etcd_ca = CA(pki / "etcd")  # etcd's own: the cluster's CA signs approved CSRs
    # etcd's serving certificate is also its peer client certificate (one member).
    etcd_ca.issue("etcd", cn="etcd", server=True, client=True,
                  hosts=("127.0.0.1", "localhost"))
    etcd_ca.issue("apiserver-etcd-client", cn="kube-apiserver-etcd-client", client=True)
    etcd_ca.issue("healthcheck-client", cn="etcd-healthcheck-client", client=True)
    service_account_keys(pki)
    tokens = load_tokens(pki)
    cp = ControlPlane(api_port, etcd_port, etcd_peer_port, cm_port, scheduler_port,
                      ca.cert_path, tokens["admin"])
    kube = layout.sub("kube")
    kube.mkdir(exist_ok=True)
    for ident in ("controller-manager", "scheduler", "kubelet"):
        write_kubeconfig(kube / f"{ident}.kubeconfig", server=cp.server, ca=cp.ca,
                         token=tokens[ident], user=ident)
    write_kubeconfig(layout.kubeconfig, server=cp.server, ca=cp.ca, token=cp.admin_token,
                     user="admin")
    return cp


def api_get(cp: ControlPlane, path: str) -> httpx.Response:
    """GET `path` from the API server as the stack's admin (health checks only)."""
    return httpx.get(f"{cp.server}{path}", verify=probe.verify(cp.ca), timeout=3,
                     headers={"Authorization": f"Bearer {cp.admin_token}"})


def etcd_healthy(cp: ControlPlane) -> bool:
    return probe.status(f"{cp.etcd_url}/health", ca=cp.etcd_ca,
                        client=cp.etcd_cert("healthcheck-client")) == 200


def apiserver_ready(cp: ControlPlane) -> bool:
    return probe.status(f"{cp.server}/readyz", ca=cp.ca, token=cp.admin_token) == 200


def component_healthy(port: int) -> bool:
    # controller-manager and scheduler serve /healthz with a self-signed certificate.
    return probe.status(f"https://127.0.0.1:{port}/healthz") == 200


def start(layout: Layout, cp: ControlPlane, *, bin_dir: Path) -> list[process.Proc]:
    pki, kube = layout.pki, layout.sub("kube")
    peer = f"https://127.0.0.1:{cp.etcd_peer_port}"
    etcd_crt, etcd_key = cp.etcd_cert("etcd")
    etcd = process.start("etcd", [
        "etcd", "--name=headwater", f"--data-dir={layout.sub('etcd')}",
        f"--listen-client-urls={cp.etcd_url}", f"--advertise-client-urls={cp.etcd_url}",
        f"--cert-file={etcd_crt}", f"--key-file={etcd_key}",
        "--client-cert-auth", f"--trusted-ca-file={cp.etcd_ca}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=headwater={peer}",
        f"--peer-cert-file={etcd_crt}", f"--peer-key-file={etcd_key}",
        "--peer-client-cert-auth", f"--peer-trusted-ca-file={cp.etcd_ca}",
        "--log-level=warn", "--quota-backend-bytes=4294967296", "--snapshot-count=20000",
    ], layout=layout)
    process.wait_until(etcd, lambda: etcd_healthy(cp), what="healthy", timeout=30)
    apiserver = process.start("kube-apiserver", [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers={cp.etcd_url}", f"--etcd-cafile={cp.etcd_ca}",
        f"--etcd-certfile={cp.etcd_cert('apiserver-etcd-client')[0]}",
        f"--etcd-keyfile={cp.etcd_cert('apiserver-etcd-client')[1]}",
        "--bind-address=127.0.0.1", f"--secure-port={cp.api_port}",
        "--advertise-address=127.0.0.1",
        # Endpoints may not hold a loopback address, so the `kubernetes` Service has none.
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={cp.ca}", f"--token-auth-file={pki / 'tokens.csv'}",
        "--anonymous-auth=false",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true", "--profiling=false",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={cp.ca}",
        "--kubelet-preferred-address-types=Hostname",
    ], layout=layout)
    process.wait_until(apiserver, lambda: apiserver_ready(cp), what="ready (/readyz)",
                       timeout=90, interval=0.25)
    cm = process.start("kube-controller-manager", [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kube / 'controller-manager.kubeconfig'}",
        f"--authentication-kubeconfig={kube / 'controller-manager.kubeconfig'}",
        f"--authorization-kubeconfig={kube / 'controller-manager.kubeconfig'}",
        "--bind-address=127.0.0.1", f"--secure-port={cp.cm_port}",
        "--leader-elect=false", "--controllers=*,-nodeipam,-serviceaccount-token",
        f"--root-ca-file={cp.ca}", "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
    ], layout=layout)
    scheduler = process.start("kube-scheduler", [
        str(bin_dir / "kube-scheduler"),
        f"--kubeconfig={kube / 'scheduler.kubeconfig'}",
        f"--authentication-kubeconfig={kube / 'scheduler.kubeconfig'}",
        f"--authorization-kubeconfig={kube / 'scheduler.kubeconfig'}",
        "--bind-address=127.0.0.1", f"--secure-port={cp.scheduler_port}",
        "--leader-elect=false",
    ], layout=layout)
    return [etcd, apiserver, cm, scheduler]


def _default_service_account(cp: ControlPlane) -> bool:
    return api_get(cp, "/api/v1/namespaces/default/serviceaccounts/default").status_code == 200


def wait_healthy(procs: list[process.Proc], cp: ControlPlane) -> None:
    """Controllers healthy, and the `default` ServiceAccount made (pods need it)."""
    ports = {"kube-controller-manager": cp.cm_port, "kube-scheduler": cp.scheduler_port}
    for proc in procs:
        if proc.name in ports:
            process.wait_until(proc, functools.partial(component_healthy, ports[proc.name]),
                               what="healthy (/healthz)", timeout=60, interval=0.25)
    cm = next(p for p in procs if p.name == "kube-controller-manager")
    process.wait_until(cm, lambda: _default_service_account(cp),
                       what="done creating the default ServiceAccount", timeout=60,
                       interval=0.25)
