"""etcd answers only clients with a certificate of its own CA: a process of this machine
without one (or with one of the cluster's CA) can neither read nor write it, while the
apiserver, which has one, works."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx
import pytest

from headwater.devstack import StackInfo
from headwater.devstack.controlplane import ControlPlane, api_get
from headwater.devstack.pki import CA


def _cp(stack: StackInfo) -> ControlPlane:
    cp = stack.control_plane
    assert cp is not None
    return cp


def _tls(cp: ControlPlane, client: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cp.etcd_ca))
    if client:
        context.load_cert_chain(str(client[0]), str(client[1]))
    return context


def _put(url: str, verify: ssl.SSLContext | bool) -> httpx.Response:
    """etcd's v3 JSON gateway: write /registry/attack (what owning the cluster starts with)."""
    body = {"key": base64.b64encode(b"/registry/attack").decode(),
            "value": base64.b64encode(b"owned").decode()}
    return httpx.post(f"{url}/v3/kv/put", json=body, verify=verify, timeout=5)


def _other_ca_client(tmp_path: Path) -> tuple[Path, Path]:
    return CA(tmp_path / "other-ca").issue("client", cn="intruder", client=True)


@pytest.mark.parametrize("client", ["none", "cluster-ca", "other-ca"])
def test_etcd_refuses_a_client_without_a_certificate_of_its_ca(
    stack: StackInfo, tmp_path: Path, client: str
) -> None:
    cp = _cp(stack)
    cert = {"none": None,
            # signed by the cluster's CA, as the controller-manager signs approved CSRs
            "cluster-ca": (stack.layout.pki / "apiserver-kubelet-client.crt",
                           stack.layout.pki / "apiserver-kubelet-client.key"),
            "other-ca": _other_ca_client(tmp_path)}[client]
    for url in (cp.etcd_url, f"https://127.0.0.1:{cp.etcd_peer_port}"):
        with pytest.raises(httpx.HTTPError) as refused:  # the TLS handshake fails
            _put(url, _tls(cp, cert))
        assert isinstance(refused.value, (httpx.ConnectError, httpx.ReadError,
                                          httpx.RemoteProtocolError)), refused.value
    # plain HTTP gets no etcd answer at all (etcd hangs up)
    for port in (cp.etcd_port, cp.etcd_peer_port):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    # while the same write with a certificate of etcd's CA is taken: the certificate is
    # all that stood between this process and the cluster's data
    own = _tls(cp, cp.etcd_cert("healthcheck-client"))
    assert _put(cp.etcd_url, own).status_code == 200
    key = base64.b64encode(b"/registry/attack").decode()
    deleted = httpx.post(f"{cp.etcd_url}/v3/kv/deleterange", json={"key": key}, verify=own,
                         timeout=5)
    assert deleted.json().get("deleted") == "1"


def test_etcd_answers_its_own_clients_and_the_apiserver_works(stack: StackInfo) -> None:
    cp = _cp(stack)
    health = httpx.get(f"{cp.etcd_url}/health", timeout=5,
                       verify=_tls(cp, cp.etcd_cert("healthcheck-client")))
    assert health.json()["health"] == "true"
    ready = api_get(cp, "/readyz/etcd")
    assert ready.status_code == 200, ready.text
    assert api_get(cp, "/api/v1/namespaces/default").status_code == 200


def test_etcd_keys_are_private(stack: StackInfo) -> None:
    for key in (_cp(stack).etcd_ca.parent).glob("*.key"):
        assert key.stat().st_mode & 0o077 == 0, key
