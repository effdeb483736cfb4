"""Fixtures of the sync tests: a Git repository to commit manifests to, a client of the
stack's cluster, and syncers wired as `headwater cd` wires them."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from headwater import devstack
from headwater import log as hwlog
from headwater.cd.source import Source
from headwater.cd.sync import Syncer
from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.kube.errors import ApiError
from tests.gitseed import Seed, plain_git, push_url

INVENTORY_NS = "headwater-system"


class Repo(Seed):
    """A clone of a repository on the stack's Git server, to push commits from."""

    def __init__(self, stack: devstack.StackInfo, name: str, work: Path) -> None:
        super().__init__(stack, name, work)
        self.url = push_url(stack, name)  # syncs push their tag, automation its commits

    def server_ref(self, ref: str) -> str | None:
        out = plain_git("ls-remote", "origin", ref, cwd=self.work)
        return out.split()[0] if out else None


@pytest.fixture
def repo(stack: devstack.StackInfo, git_repo: str, tmp_path: Path) -> Repo:
    return Repo(stack, git_repo, tmp_path / "dev")


@pytest.fixture
async def kube(stack: devstack.StackInfo) -> AsyncIterator[Kube]:
    async with await Kube.connect(stack.kubeconfig) as k:
        yield k


@dataclass
class Env:
    """Per-test names (namespace, sources) and what to remove afterwards."""
    stack: devstack.StackInfo
    kube: Kube
    workdir: Path
    ns: str
    sources: list[str]
    crds: list[str]

    def source(self, repo: Repo, **options: Any) -> Source:
        name = options.pop("name", None) or f"s{uuid.uuid4().hex[:8]}"
        self.sources.append(name)
        git = self.stack.git
        return replace(Source(git_url=repo.url, name=name, git_branch="main",
                              git_ssh_key=git.deploy_key, git_known_hosts=git.known_hosts),
                       **options)

    def syncer(self, source: Source) -> Syncer:
        hwlog.setup()
        return Syncer(source, kube=self.kube, discovery=Discovery(), workdir=self.workdir,
                      kubectl=self.stack.kubectl, inventory_namespace=INVENTORY_NS,
                      log=hwlog.get("sync"))

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self.kube.request("GET", path)
        except ApiError as e:
            if e.not_found:
                return None
            raise
        return obj

    async def configmap(self, name: str, ns: str | None = None) -> dict[str, Any] | None:
        return await self.get(f"/api/v1/namespaces/{ns or self.ns}/configmaps/{name}")


@pytest.fixture
async def env(stack: devstack.StackInfo, kube: Kube, tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(stack, kube, tmp_path / "work", f"sync-{uuid.uuid4().hex[:8]}", [], [])
    try:
        yield e
    finally:
        for path in [f"/api/v1/namespaces/{INVENTORY_NS}/configmaps/headwater-inventory-{s}"
                     for s in e.sources] + [f"/api/v1/namespaces/{e.ns}"] + [
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{c}" for c in e.crds]:
            try:
                await kube.request("DELETE", path)
            except ApiError as err:
                if not err.not_found:
                    raise


def forget_cd_once(stack: devstack.StackInfo, ns: str) -> None:
    """Remove what `headwater cd --once` (source `default`) left in namespace `ns` and
    its inventory, without waiting."""
    assert stack.kubeconfig
    kubectl = [stack.kubectl or "kubectl", "--kubeconfig", stack.kubeconfig]
    subprocess.run([*kubectl, "delete", "namespace", ns, "--wait=false"],
                   capture_output=True, check=False)
    subprocess.run([*kubectl, "-n", INVENTORY_NS, "delete", "configmap",
                    "headwater-inventory-default", "--wait=false"],
                   capture_output=True, check=False)


def configmap(name: str, ns: str, data: dict[str, str], **meta: Any) -> str:
    """A ConfigMap manifest as a person would write it."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}",
             f"  namespace: {ns}"]
    if meta.get("annotations"):
        lines.append("  annotations:")
        lines += [f'    {k}: "{v}"' for k, v in meta["annotations"].items()]
    lines.append("data:")
    lines += [f'  {k}: "{v}"' for k, v in data.items()]
    return "\n".join(lines) + "\n"


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"

