"""Wiring of a CD controller from its sources, shared by `headwater cd` and `headwater server`.

One Kubernetes client, one discovery cache and one registry scanner serve every
source; each source gets its syncer, its image automator (unless scanning is off) and
its loop. `open_controller` owns the Kubernetes connection and the registry client for
as long as the controller lives. Without sources it connects to nothing: a server
without `--cd-config` still answers the CD routes (no sources).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from headwater import log as hwlog
from headwater import yamlload
from headwater.cd.automation import Automator, ImagePolicy, load_image_policies
from headwater.cd.controller import Controller, SourceLoop
from headwater.cd.metrics import SyncMetrics
from headwater.cd.rollouts import Rollouts
from headwater.cd.source import Source
from headwater.cd.sync import Syncer
from headwater.kube.client import Kube
from headwater.kube.discovery import Discovery
from headwater.registry import RegistryClient, Scanner


@dataclass(frozen=True)
class Scanning:
    client: RegistryClient
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: Path | None = None
    context: str | None = None
    kubectl: str | None = None  # for kustomize
    inventory_namespace: str = "headwater-system"


def load_policies(sources: list[Source]) -> dict[str, dict[str, ImagePolicy]]:
    """Each source's Flux v2 image policies (`PolicyFileError` names the bad file)."""
    return {s.name: load_image_policies(s.image_policies) for s in sources
            if s.image_policies}


@contextlib.asynccontextmanager
async def open_controller(sources: list[Source], *, cluster: ClusterSettings,
                          scanning: Scanning, workdir: Path, metrics: SyncMetrics,
                          policies: dict[str, dict[str, ImagePolicy]],
                          yaml_limits: yamlload.Limits = yamlload.DEFAULT,
                          ) -> AsyncIterator[Controller]:
    if not sources:
        async with scanning.client:
            yield Controller([], metrics)
        return
    logger = hwlog.get("sync")
    async with await Kube.connect(cluster.kubeconfig, context=cluster.context) as kube, \
            scanning.client:
        discovery = Discovery()
        scanner = Scanner(scanning.client, include=scanning.include, exclude=scanning.exclude)
        loops = []
        for s in sources:
            syncer = Syncer(s, kube=kube, discovery=discovery, workdir=workdir,
                            kubectl=cluster.kubectl,
                            inventory_namespace=cluster.inventory_namespace,
                            log=logger, yaml_limits=yaml_limits)
            automator = None if s.registry_disable_scanning else Automator(
                checkout=syncer.checkout, paths=s.paths, scanner=scanner,
                ci_skip=s.git_ci_skip, ci_skip_message=s.git_ci_skip_message,
                log=hwlog.get("daemon"), kube=kube,
                image_policies=policies.get(s.name),
                message_template=s.git_release_template, yaml_limits=yaml_limits)
            rollouts = Rollouts(kube, timeout=s.wait_timeout, log=logger)
            loops.append(SourceLoop(syncer, metrics, logger, automator, rollouts))
        yield Controller(loops, metrics, scanner=scanner)
