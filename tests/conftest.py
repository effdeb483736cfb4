"""Fixtures that hand tests the real components of the local stack (DESIGN.md §6).

One stack per test session, started with the same code as `headwater up` in a
temporary state directory and stopped (by pid) and purged at the end, whatever
happened. Each test gets its own namespace, Git repository and registry repository,
removed after it even when it fails.

Set HEADWATER_TEST_STACK=<state dir of a running stack> to reuse a stack across
runs while developing (it is left running).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.dynamic import DynamicClient

from headwater import devstack
from headwater.devstack import githttp, gitserver, process
from headwater.devstack import registry as devstack_registry
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick
from headwater.devstack.registry import Registry


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[devstack.StackInfo]:
    reuse = os.environ.get("HEADWATER_TEST_STACK")
    if reuse:
        info = devstack.load(Path(reuse))
        assert info and info.components, f"no running stack in {reuse}"
        yield info
        return
    # A short path: containerd's socket lives under it and unix sockets allow 108 bytes.
    state = Path(tempfile.mkdtemp(prefix="hwt-", dir="/tmp"))
    try:
        yield devstack.up(state, devstack.Options())
    finally:
        devstack.down(state, purge=True)


@pytest.fixture(scope="session")
async def api_client(stack: devstack.StackInfo) -> AsyncIterator[client.ApiClient]:
    assert stack.kubeconfig
    api = await config.new_client_from_config(config_file=stack.kubeconfig)
    async with api:
        yield api


@pytest.fixture(scope="session")
async def dyn(api_client: client.ApiClient) -> DynamicClient:
    dynamic: DynamicClient = await DynamicClient(api_client)
    return dynamic


@pytest.fixture
async def namespace(api_client: client.ApiClient) -> AsyncIterator[str]:
    name = _unique("t")
    core = client.CoreV1Api(api_client)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        await core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def git_repo(stack: devstack.StackInfo) -> Iterator[str]:
    """The name of a new, empty bare repository (branch main) on the stack's Git server."""
    name = _unique("repo") + ".git"
    path = gitserver.create_repo(stack.git, name)
    try:
        yield name
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def git_http(stack: devstack.StackInfo) -> Iterator[githttp.GitHttp]:
    """The stack's HTTPS Git endpoint, serving the same repositories as its Git server.

    A stack started without one (by an older `up`) gets one here, started by the stack's
    own code in a temporary state directory (its own CA) and stopped afterwards."""
    if (mine := stack.git_http) and githttp.healthy(mine):
        yield mine
        return
    with tempfile.TemporaryDirectory(prefix="hwgh-") as d:
        layout = Layout(Path(d))
        layout.create()
        server = githttp.prepare(layout, port=pick(None, set()), repos=stack.git.repos)
        proc = githttp.start(layout, server)
        try:
            yield server
        finally:
            process.stop(proc, layout)


@contextlib.contextmanager
def started_auth_registry(username: str = "headwater") -> Iterator[Registry]:
    """A registry started by the stack's own code with htpasswd auth on (one user,
    `username`), in a temporary directory; stopped by its pid at the end."""
    with tempfile.TemporaryDirectory(prefix="hwreg-") as d:
        layout = Layout(Path(d))
        layout.create()
        home = layout.sub("registry")
        reg = devstack_registry.prepare(home, port=pick(None, set()), auth=True,
                                        username=username)
        proc = devstack_registry.start(home, reg, name=f"registry-{username}",
                                       layout=layout)
        try:
            yield reg
        finally:
            process.stop(proc, layout)


@pytest.fixture(scope="session")
def auth_registry() -> Iterator[Registry]:
    """A second registry, started by the stack's own code with htpasswd auth on."""
    with started_auth_registry() as reg:
        yield reg


@pytest.fixture
def registry_repo(stack: devstack.StackInfo) -> Iterator[str]:
    """A registry repository name of this test; its manifests are deleted afterwards."""
    name = f"test/{_unique('img')}"
    try:
        yield name
    finally:
        _delete_repository(stack.registry.url, name)


def _delete_repository(url: str, repo: str) -> None:
    accept = ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ])
    with httpx.Client(base_url=url, timeout=10) as http:
        r = http.get(f"/v2/{repo}/tags/list")
        if r.status_code != 200:
            return
        for tag in r.json().get("tags") or []:
            head = http.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": accept})
            if digest := head.headers.get("Docker-Content-Digest"):
                http.delete(f"/v2/{repo}/manifests/{digest}")
