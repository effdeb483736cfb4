"""Image automation: when a registry has a newer tag that a workload's policy allows,
commit the new image to Git, push, then sync (Flux v1's automated releases).

`plan` is pure given the files and what the scanner knows: which container of which
workload in which file moves to which image. `Automator.run_once` scans the images the
automated workloads use, plans, and commits through `Checkout.commit_and_push`,
whose edit plans again on the head it commits to: a human commit pushed meanwhile is
kept and the release applies on top of it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from headwater import yamlload
from headwater.cd.manifestedit import EditError, set_image, set_setter
from headwater.cd.nextimage import next_image
from headwater.cd.render import MANIFEST_SUFFIXES
from headwater.cd.source import check_template
from headwater.cd.workloads import (
    SetterMarker,
    Workload,
    WorkloadError,
    read_workloads,
    setter_markers,
)
from headwater.errors import UserError
from headwater.gitrepo import Checkout
from headwater.imagepolicy import (
    TagInfo,
    Trigger,
    UnsupportedPatternError,
    decide,
    parse_pattern,
)
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


def automated(root: Path, files: Sequence[str], *,
              limits: yamlload.Limits = yamlload.DEFAULT) -> list[tuple[str, Workload]]:
    """(file, workload) for every workload automation may change."""
    found = []
    for name in files:
        try:
            workloads = read_workloads(yamlload.read_text(root / name, limits=limits),
                                       limits=limits)
        except (WorkloadError, UnicodeDecodeError, yamlload.YamlLimitError):
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
            if entry is None:
                continue
            tags = [TagInfo(t, e.info.created) for t, e in sorted(entry.usable().items())]
            try:
                image = next_image(c.image, pattern, tags, trigger=Trigger.AUTOMATED)
            except UnsupportedPatternError as e:  # imagepolicy's, said as the user's
                key = w.annotation_key(f"tag.{c.name}") or f"fluxcd.io/tag.{c.name}"
                problems.append(Problem(name, w.id, f"annotation {key}: {e}"))
                continue
            if image is not None:
                releases.append(Release(name, w, c.name, c.image, image))
    return releases, problems


@dataclass(frozen=True)
class ImagePolicy:
    """A Flux v2-style ImagePolicy named by setter markers `# {"$imagepolicy": "ns:name"}`:
    the image repository it follows and its tag policy (a Flux v1 pattern string)."""
    name: str       # "namespace:name", as markers name it
    image: str      # the repository, e.g. 127.0.0.1:5000/app
    policy: str     # semver:~1.0, glob:..., regexp:...


@dataclass(frozen=True)
class SetterRelease:
    file: str
    policy: ImagePolicy
    image: str      # the whole new image; each marked field takes its part

    def __str__(self) -> str:
        return f"{self.file} {self.policy.name}: -> {self.image}"


class PolicyFileError(UserError):
    """A bad image policy file; the message names the file, the entry and the key."""


def load_image_policies(path: Path) -> dict[str, ImagePolicy]:
    """The policy file: `policies: [{name: app, namespace: flux-system, image: REPO,
    policy: semver:~1.0}]`."""
    try:
        doc = yamlload.load(yamlload.read_text(path), filename=str(path))
    except yamlload.YamlLimitError as e:
        raise PolicyFileError(str(e)) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise PolicyFileError(f"{path}: {e}") from None
    entries = doc.get("policies") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise PolicyFileError(f"{path}: expected a mapping with a `policies:` list")
    out: dict[str, ImagePolicy] = {}
    for i, item in enumerate(entries):
        where = f"{path}: policies[{i}]"
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str)
                                                 for k in ("name", "image", "policy")):
            raise PolicyFileError(f"{where}: needs name, image and policy (strings)")
        if not parse_pattern(item["policy"]).valid:
            raise PolicyFileError(f"{where}: policy {item['policy']!r} is not valid")
        try:
            image = parse(item["image"]).repo().name
        except InvalidReference as e:
            raise PolicyFileError(f"{where}: image: {e}") from None
        key = f"{item.get('namespace') or 'flux-system'}:{item['name']}"
        out[key] = ImagePolicy(key, image, item["policy"])
    return out


def plan_setters(root: Path, files: Sequence[str], policies: Mapping[str, ImagePolicy],
                 scans: Mapping[str, RepoEntry], *, limits: yamlload.Limits = yamlload.DEFAULT,
                 ) -> tuple[list[SetterRelease], list[Problem]]:
    """Releases for fields marked with a setter of a known policy (pure but for reads)."""
    releases: list[SetterRelease] = []
    problems: list[Problem] = []
    for name in files:
        try:
            markers = setter_markers(yamlload.read_text(root / name, limits=limits),
                                     limits=limits)
        except (WorkloadError, UnicodeDecodeError, yamlload.YamlLimitError):
            continue
        by_policy: dict[str, list[SetterMarker]] = {}
        for m in markers:
            by_policy.setdefault(m.policy, []).append(m)
        for key, marks in sorted(by_policy.items()):
            policy = policies.get(key)
            if policy is None:
                problems.append(Problem(name, key, f"line {marks[0].line}: no image policy "
                                        f"{key!r} in the policy file"))
                continue
            entry = scans.get(policy.image)
            current = next((m.value if m.form == "tag" else parse(m.value).tag
                            for m in marks if m.form in ("tag", "image")), None)
            if entry is None or current is None:
                continue
            tags = [TagInfo(t, e.info.created) for t, e in sorted(entry.usable().items())]
            try:
                decision = decide(parse_pattern(policy.policy), tags, current,
                                  trigger=Trigger.AUTOMATED)
            except UnsupportedPatternError as e:
                problems.append(Problem(name, key, f"image policy {key!r}: {e}"))
                continue
            if decision.update and decision.latest is not None:
                image = str(parse(policy.image).with_tag(decision.latest.tag))
                releases.append(SetterRelease(name, policy, image))
    return releases, problems


def apply_releases(root: Path, releases: Sequence[Release | SetterRelease], *,
                   limits: yamlload.Limits = yamlload.DEFAULT) -> list[str]:
    """Edit the files in place; the files changed."""
    changed: dict[str, str] = {}
    for r in releases:
        text = changed.get(r.file) or (root / r.file).read_text()
        if isinstance(r, SetterRelease):
            changed[r.file] = set_setter(text, marker=r.policy.name, value=r.image,
                                         limits=limits)
        else:
            changed[r.file] = set_image(text, kind=r.workload.kind,
                                        namespace=r.workload.namespace, name=r.workload.name,
                                        container=r.container, image=r.image, limits=limits)
    for name, text in changed.items():
        (root / name).write_text(text)
    return sorted(changed)


def commit_message(releases: Sequence[Release | SetterRelease], *, ci_skip: bool,
                   ci_skip_message: str = "[ci skip]", template: str = "") -> str:
    """Flux's messages: `Auto-release <image>`, or `Auto-release multiple (N) images`
    with the list; or `template` with {image} (the first), {images} (one per line) and
    {count}. A `Headwater-Automation` line marks every release commit (`git log --grep`);
    with `ci_skip` the message then ends with `[ci skip]`, as fluxd's do."""
    images = sorted({r.image for r in releases})
    if template:
        message = template.format(image=images[0], images="\n".join(images),
                                  count=len(images)).rstrip("\n")
    elif len(images) == 1:
        message = f"Auto-release {images[0]}"
    else:
        message = f"Auto-release multiple ({len(images)}) images\n\n" + "\n".join(
            f" - {i}" for i in images)
    message += f"\n\n{AUTOMATION_TRAILER}"
    if ci_skip:  # last, as fluxd writes it: the message ends with it
        message += f"\n\n{ci_skip_message}"
    return message + "\n"


class Automator:
    """Scans, plans and commits releases for one source's working copy."""

    def __init__(self, *, checkout: Checkout, paths: Sequence[str], scanner: Scanner,
                 ci_skip: bool, ci_skip_message: str, log: Any, kube: Kube | None = None,
                 default_namespace: str = "default",
                 image_policies: Mapping[str, ImagePolicy] | None = None,
                 message_template: str = "",
                 yaml_limits: yamlload.Limits = yamlload.DEFAULT) -> None:
        check_template(message_template)
        self.message_template = message_template
        self.image_policies = dict(image_policies or {})
        self.checkout, self.paths, self.scanner = checkout, paths, scanner
        self.ci_skip, self.ci_skip_message = ci_skip, ci_skip_message
        self.log = log
        self.kube, self.default_namespace = kube, default_namespace
        self.yaml_limits = yaml_limits

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
        workloads = await asyncio.to_thread(  # the file walk too: never on the loop
            lambda: automated(root, manifest_files(root, self.paths), limits=self.yaml_limits))
        self.scanner.client.use_credentials(await self.pull_secrets(workloads))
        repos = image_repositories(workloads) | {p.image for p in self.image_policies.values()}
        results = await self.scanner.scan(sorted(repos))
        return workloads, {name: r.entry for name, r in results.items() if r.error is None}

    def _plan(self, root: Path, workloads: Sequence[tuple[str, Workload]],
              scans: Mapping[str, RepoEntry]
              ) -> tuple[list[Release | SetterRelease], list[Problem]]:
        releases, problems = plan(workloads, scans)
        if not self.image_policies:
            return list(releases), problems
        setters, more = plan_setters(root, manifest_files(root, self.paths),
                                     self.image_policies, scans, limits=self.yaml_limits)
        return [*releases, *setters], problems + more

    async def run_once(self) -> str | None:
        """Release what the policies allow; the pushed revision, or None."""
        await self.checkout.sync()
        workloads, scans = await self.scan(self.checkout.path)
        releases, problems = await asyncio.to_thread(self._plan, self.checkout.path,
                                                     workloads, scans)
        for p in problems:
            self.log.error("image automation skipped a workload", err=str(p))
        if not releases:
            return None
        done: list[Release | SetterRelease] = []

        def edit(root: Path) -> list[str]:
            # Planned again on the head being committed to (it may have moved).
            nonlocal done
            done, _ = self._plan(root, automated(root, manifest_files(root, self.paths),
                                                 limits=self.yaml_limits), scans)
            try:
                return apply_releases(root, done, limits=self.yaml_limits)
            except EditError as e:
                self.log.warning("image automation could not edit a manifest", err=str(e))
                return []

        revision = await self.checkout.commit_and_push(
            edit, message=commit_message(releases, ci_skip=self.ci_skip,
                                         template=self.message_template,
                                         ci_skip_message=self.ci_skip_message),
            fetched=True)  # synced above, planned on that tree: a refused push refetches
        if revision:
            for image in sorted({r.image for r in done}):
                self.log.info(f"Automated release of {image}", revision=revision[:7])
        return revision
