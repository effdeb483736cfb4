"""Image automation: when a registry has a newer tag that a workload's policy allows,
commit the new image to Git, push, then sync (Flux v1's automated releases).

`plan` is pure given the files and what the scanner knows: which container of which
workload in which file moves to which image. `Automator.run_once` scans the images the
automated workloads use, plans, and commits through `Checkout.commit_and_push`,
whose edit plans again on the head it commits to: a human commit pushed meanwhile is
kept and the release applies on top of it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.cd.manifestedit import EditError, set_image
from headwater.cd.render import MANIFEST_SUFFIXES
from headwater.cd.workloads import Workload, WorkloadError, read_workloads
from headwater.gitrepo import Checkout
from headwater.imagepolicy import TagInfo, decide, parse_pattern
from headwater.kube.client import Kube
from headwater.kube.errors import ApiError
from headwater.registry import (
    InvalidCredentials,
    InvalidReference,
    Keychain,
    RepoEntry,
    Scanner,
    from_pull_secret,
    parse,
)

AUTOMATION_TRAILER = "Headwater-Automation: image-release"


@dataclass(frozen=True)
class Release:
    file: str            # relative to the repository root
    workload: Workload
    container: str
    current: str         # the image as the file has it
    image: str           # the image to write

    def __str__(self) -> str:
        return f"{self.workload.id} {self.container}: {self.current} -> {self.image}"


@dataclass(frozen=True)
class Problem:
    """A user's mistake automation skips (and says so), e.g. a bad policy string."""
    file: str
    workload: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.workload}: {self.message}"


def manifest_files(root: Path, paths: Sequence[str]) -> list[str]:
    """The manifest files under `paths`, relative to `root`, as render walks them."""
    out: list[str] = []
    for p in paths:
        base = (root / p).resolve()
        files = [base] if base.is_file() else sorted(
            f for f in base.rglob("*") if f.is_file() and f.suffix in MANIFEST_SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(base).parts))
        out += [str(f.relative_to(root.resolve())) for f in files]
    return sorted(set(out))


def automated(root: Path, files: Sequence[str]) -> list[tuple[str, Workload]]:
    """(file, workload) for every workload automation may change."""
    found = []
    for name in files:
        try:
            workloads = read_workloads((root / name).read_text())
        except (WorkloadError, UnicodeDecodeError):
            continue  # render reports broken files; automation leaves them alone
        found += [(name, w) for w in workloads if w.automatable]
    return found


def image_repositories(workloads: Sequence[tuple[str, Workload]]) -> set[str]:
    repos = set()
    for _, w in workloads:
        for c in w.containers:
            try:
                repos.add(parse(c.image).repo().name)
            except InvalidReference:
                continue
    return repos


def plan(workloads: Sequence[tuple[str, Workload]], scans: Mapping[str, RepoEntry]
         ) -> tuple[list[Release], list[Problem]]:
    """What Flux's calculateChanges would release (pure)."""
    releases: list[Release] = []
    problems: list[Problem] = []
    for name, w in workloads:
        for c in w.containers:
            text = w.tag_pattern(c.name)
            pattern = parse_pattern(text)
            if not pattern.valid:
                key = w.annotation_key(f"tag.{c.name}") or f"fluxcd.io/tag.{c.name}"
                problems.append(Problem(name, w.id, f"annotation {key}: invalid policy "
                                        f"{text!r}; fix it (e.g. semver:~1.0, glob:1.*)"))
                continue
            try:
                ref = parse(c.image)
            except InvalidReference as e:
                problems.append(Problem(name, w.id, f"container {c.name}: {e}"))
                continue
            entry = scans.get(ref.repo().name)
            if entry is None or ref.tag is None:
                continue
            tags = [TagInfo(t, e.info.created) for t, e in sorted(entry.usable().items())]
            decision = decide(pattern, tags, ref.tag)
            if decision.update and decision.latest is not None:
                new = ref.with_tag(decision.latest.tag)
                # Spelt as the file spells it: `nginx:1.0` stays short.
                short = ref.registry == "docker.io" and not c.image.startswith("docker.io/")
                releases.append(Release(name, w, c.name, c.image,
                                        new.familiar() if short else str(new)))
    return releases, problems


def apply_releases(root: Path, releases: Sequence[Release]) -> list[str]:
    """Edit the files in place; the files changed."""
    changed: dict[str, str] = {}
    for r in releases:
        text = changed.get(r.file) or (root / r.file).read_text()
        changed[r.file] = set_image(text, kind=r.workload.kind, namespace=r.workload.namespace,
                                    name=r.workload.name, container=r.container,
                                    image=r.image)
    for name, text in changed.items():
        (root / name).write_text(text)
    return sorted(changed)


def commit_message(releases: Sequence[Release], *, ci_skip: bool,
                   ci_skip_message: str = "[ci skip]") -> str:
    """Flux's messages: `Auto-release <image>`, or `Auto-release multiple (N) images`."""
    images = sorted({r.image for r in releases})
    if len(images) == 1:
        message = f"Auto-release {images[0]}"
    else:
        message = f"Auto-release multiple ({len(images)}) images\n\n" + "\n".join(
            f" - {i}" for i in images)
    if ci_skip:
        message += f"\n\n{ci_skip_message}"
    return f"{message}\n\n{AUTOMATION_TRAILER}\n"


class Automator:
    """Scans, plans and commits releases for one source's working copy."""

    def __init__(self, *, checkout: Checkout, paths: Sequence[str], scanner: Scanner,
                 ci_skip: bool, ci_skip_message: str, log: Any, kube: Kube | None = None,
                 default_namespace: str = "default") -> None:
        self.checkout, self.paths, self.scanner = checkout, paths, scanner
        self.ci_skip, self.ci_skip_message = ci_skip, ci_skip_message
        self.log = log
        self.kube, self.default_namespace = kube, default_namespace

    async def pull_secrets(self, workloads: Sequence[tuple[str, Workload]]) -> Keychain:
        """Registry credentials from the workloads' imagePullSecrets, read from the
        cluster (a secret that is missing or not a pull secret is logged and skipped)."""
        keychain = Keychain()
        if self.kube is None:
            return keychain
        wanted = sorted({(w.namespace or self.default_namespace, s)
                         for _, w in workloads for s in w.pull_secrets})
        for namespace, name in wanted:
            where = f"secret {namespace}/{name}"
            try:
                secret = await self.kube.request(
                    "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
                data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
                keychain = keychain.merged(
                    from_pull_secret(secret.get("type", ""), data, source=where))
            except (ApiError, InvalidCredentials, ValueError) as e:
                self.log.warning("imagePullSecret not used", secret=where, err=str(e))
        return keychain

    async def scan(self, root: Path) -> tuple[list[tuple[str, Workload]], dict[str, RepoEntry]]:
        workloads = automated(root, manifest_files(root, self.paths))
        self.scanner.client.use_credentials(await self.pull_secrets(workloads))
        results = await self.scanner.scan(sorted(image_repositories(workloads)))
        return workloads, {name: r.entry for name, r in results.items() if r.error is None}

    async def run_once(self) -> str | None:
        """Release what the policies allow; the pushed revision, or None."""
        await self.checkout.sync()
        workloads, scans = await self.scan(self.checkout.path)
        releases, problems = plan(workloads, scans)
        for p in problems:
            self.log.error("image automation skipped a workload", err=str(p))
        if not releases:
            return None
        done: list[Release] = []

        def edit(root: Path) -> list[str]:
            # Planned again on the head being committed to (it may have moved).
            nonlocal done
            done, _ = plan(automated(root, manifest_files(root, self.paths)), scans)
            try:
                return apply_releases(root, done)
            except EditError as e:
                self.log.warning("image automation could not edit a manifest", err=str(e))
                return []

        revision = await self.checkout.commit_and_push(
            edit, message=commit_message(releases, ci_skip=self.ci_skip,
                                         ci_skip_message=self.ci_skip_message))
        if revision:
            for image in sorted({r.image for r in done}):
                self.log.info(f"Automated release of {image}", revision=revision[:7])
        return revision
