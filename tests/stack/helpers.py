"""Helpers of the stack tests: build an image with buildah, wait for a rollout,
port-forward to a pod. Each runs the real tool as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio.dynamic import DynamicClient


def build_and_push(workdir: Path, *, ref: str, page: str) -> None:
    """Build a FROM-scratch image (static busybox serving `page` on :8080) with buildah
    and push it, in Docker format, to the plain-http local registry as `ref`."""
    ctx = workdir / "context"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (ctx / "busybox").chmod(0o755)
    (ctx / "index.html").write_text(page)
    (ctx / "Containerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        "COPY index.html /www/index.html\n"
        'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n'
    )
    store = ["--root", str(workdir / "storage"), "--runroot", str(workdir / "runroot"),
             "--storage-driver", "vfs"]
    env = {"TMPDIR": str(workdir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    workdir.joinpath("tmp").mkdir(exist_ok=True)
    subprocess.run(["buildah", *store, "build", "--quiet", "--isolation", "chroot",
                    "--format", "docker", "-t", ref, str(ctx)],
                   check=True, env=env, capture_output=True)
    subprocess.run(["buildah", *store, "push", "--quiet", "--tls-verify=false", ref,
                    f"docker://{ref}"], check=True, env=env, capture_output=True)


def deployment(namespace: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "web", "image": image,
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                           "periodSeconds": 1},
                    }],
                },
            },
        },
    }


async def wait_rollout(dyn: DynamicClient, namespace: str, name: str,
                       limit: float = 120) -> list[Any]:
    """Wait until every replica runs the current template; return the Running pods."""
    deployments = await dyn.resources.get(api_version="apps/v1", kind="Deployment")
    pods = await dyn.resources.get(api_version="v1", kind="Pod")
    deadline = time.monotonic() + limit
    while True:
        d = await dyn.get(deployments, name=name, namespace=namespace)
        s, want = d.status, d.spec.replicas
        done = (s.observedGeneration or 0) >= d.metadata.generation and (
            s.updatedReplicas == want and s.readyReplicas == want
            and s.availableReplicas == want and (s.replicas or 0) == want)
        listed = await dyn.get(pods, namespace=namespace,
                               label_selector=",".join(
                                   f"{k}={v}" for k, v in d.spec.selector.matchLabels.items()))
        live = [p for p in listed.items if not p.metadata.deletionTimestamp]
        if done and len(live) == want and all(p.status.phase == "Running" for p in live):
            return live
        if time.monotonic() > deadline:
            phases = [(p.metadata.name, p.status.phase) for p in live]
            raise AssertionError(f"rollout of {namespace}/{name} not done: {s}, pods {phases}")
        await asyncio.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def port_forward(kubectl: str, kubeconfig: str, namespace: str, target: str,
                 remote: int) -> Iterator[int]:
    """`kubectl port-forward` to `target`; yields the local port once it listens."""
    local = _free_port()
    proc = subprocess.Popen(
        [kubectl, "--kubeconfig", kubeconfig, "-n", namespace, "port-forward",
         "--address", "127.0.0.1", target, f"{local}:{remote}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:N -> 8080" once ready
        assert "Forwarding from" in line, line + (proc.stdout.read() if proc.poll() else "")
        yield local
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
