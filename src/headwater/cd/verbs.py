"""fluxctl's verbs, each acting through one Git commit as Flux v1 does.

`automate`, `deautomate`, `lock`, `unlock` and `policy` change a workload's policy
annotations; `release` sets images; `rollback` restores the image a workload had
before the last commit that changed it and locks the workload, so automation does not
roll it forward again. Each edits the manifest with `manifestedit` (the diff is the
annotation or image lines, nothing else) and commits with `Checkout.commit_and_push`,
returning the pushed revision, or None when there was nothing to change. The edit is
made again on the branch head being committed to, so a concurrent commit is kept.

Messages are fluxd's (`policyCommitMessage`, `ReleaseImageSpec.CommitMessage`):
`Automated: default:deployment/app`, `Locked: ...`, `Release IMG to W`, with the
user's `-m` message first (policies) or instead (release). A user's mistake (unknown
workload, missing container, bad pattern, locked workload) raises VerbError before
anything is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater import yamlload
from headwater.cd.automation import manifest_files
from headwater.cd.manifestedit import set_annotations, set_image
from headwater.cd.nextimage import next_image, spelt
from headwater.cd.workloads import Workload, WorkloadError, policy_changes, read_workloads
from headwater.errors import UserError
from headwater.gitrepo import Checkout, GitError, git
from headwater.imagepolicy import TagInfo, Trigger, UnsupportedPatternError, parse_pattern, rank
from headwater.registry import InvalidReference, Reference, Scanner, parse

DEFAULT_NAMESPACE = "default"
LOCK_POLICIES = ("locked", "locked_msg", "locked_user")

Author = tuple[str, str]  # (name, email) of the person a commit is for


class VerbError(UserError):
    """A user's mistake: nothing was committed. The message names what is wrong."""


class UnknownWorkload(VerbError):
    """The workload named is not in the source's manifests (404 in the API)."""


@dataclass(frozen=True)
class Located:
    """A workload and the file (relative to the repository root) that defines it."""

    file: str
    workload: Workload

    @property
    def id(self) -> str:
        return workload_id(self.workload)

    def to_json(self) -> dict[str, Any]:
        """`list-workloads --json`'s object (the CD API's too)."""
        w = self.workload
        return {
            "id": self.id, "file": self.file, "kind": w.kind,
            "namespace": w.namespace or DEFAULT_NAMESPACE, "name": w.name,
            "automated": w.automated, "locked": w.locked, "ignore": w.ignored,
            "locked_msg": w.locked_msg, "locked_user": w.locked_user,
            "policies": dict(w.policies),
            "containers": [{"name": c.name, "image": c.image, "init": c.init,
                            "policy": w.tag_pattern(c.name)} for c in w.containers],
        }


def workload_id(w: Workload) -> str:
    """fluxctl's name of a workload: `namespace:kind/name` (`default` when unset)."""
    return f"{w.namespace or DEFAULT_NAMESPACE}:{w.kind.lower()}/{w.name}"


def parse_workload_id(text: str) -> tuple[str, str, str]:
    """(namespace, kind in lower case, name) of `default:deployment/app` or
    `deployment/app` (the default namespace)."""
    namespace, _, rest = text.rpartition(":")
    kind, slash, name = rest.partition("/")
    if not slash or not kind or not name or "/" in name:
        raise VerbError(f"invalid workload {text!r}: expected namespace:kind/name, "
                        "e.g. default:deployment/app")
    if namespace in ("", "<cluster>"):
        namespace = DEFAULT_NAMESPACE
    return namespace, kind.lower(), name


def parse_author(user: str, default_email: str) -> Author:
    """`Name <email>` (git's author form), or a bare name with `default_email`."""
    name, lt, rest = user.partition("<")
    if lt and rest.endswith(">"):
        return name.strip() or rest[:-1], rest[:-1].strip()
    return user.strip(), default_email


def all_workloads(root: Path, paths: Sequence[str]) -> list[Located]:
    """Every workload under the git paths, in file order (unreadable files skipped,
    as automation skips them: sync reports them)."""
    found: list[Located] = []
    for name in manifest_files(root, paths):
        try:
            found += [Located(name, w)
                      for w in read_workloads(yamlload.read_text(root / name))]
        except (WorkloadError, UnicodeDecodeError, yamlload.YamlLimitError):
            continue
    return found


def find(root: Path, paths: Sequence[str], wanted: str) -> Located:
    namespace, kind, name = parse_workload_id(wanted)
    matches = [loc for loc in all_workloads(root, paths)
               if loc.workload.kind.lower() == kind and loc.workload.name == name
               and (loc.workload.namespace or DEFAULT_NAMESPACE) == namespace]
    if not matches:
        raise UnknownWorkload(f"workload {namespace}:{kind}/{name} not found under "
                        f"{', '.join(paths)}")
    if len(matches) > 1:
        raise VerbError(f"workload {namespace}:{kind}/{name} is defined more than once: "
                        f"{', '.join(m.file for m in matches)}")
    return matches[0]


def _write(root: Path, file: str, old: str, new: str) -> list[str]:
    if new == old:
        return []
    (root / file).write_text(new)
    return [file]


# -- policies


def _events(add: Mapping[str, str], remove: Sequence[str]) -> list[str]:
    """fluxd's policyEventTypes, in its order; `locked_msg`/`locked_user` count as
    part of locking rather than as an extra "Updated policies"."""
    events = []
    if "automated" in add:
        events.append("Automated")
    if "automated" in remove:
        events.append("Deautomated")
    if "locked" in add:
        events.append("Locked")
    if "locked" in remove:
        events.append("Unlocked")
    if (set(add) | set(remove)) - {"automated", *LOCK_POLICIES}:
        events.append("Updated policies")
    return events


def policy_message(events: Sequence[str], workload: str, message: str | None) -> str:
    """fluxd's policyCommitMessage for one workload."""
    lines = [f"{e}: {workload}" for e in events]
    if message:
        return f"{message}\n\n" + "".join(f"- {line}\n" for line in lines)
    if len(lines) > 1:
        return "Updated workload policies\n\n" + "".join(f"- {line}\n" for line in lines)
    return lines[0] + "\n"


async def update_policies(
    checkout: Checkout, paths: Sequence[str], workload: str, *,
    add: Mapping[str, str] | None = None, remove: Sequence[str] = (),
    message: str | None = None, author: Author | None = None,
) -> str | None:
    """Add and remove policies of one workload in one commit (fluxctl policy).

    `tag.<container>` policies must name a container of the workload and hold a
    valid pattern; `tag_all` (a pattern) becomes one `tag.<c>` per container."""
    adds = dict(add or {})
    for policy, pattern in adds.items():
        if policy == "tag_all" or policy.startswith("tag."):
            check_pattern(workload, policy, pattern)
    await checkout.sync()
    # Files are walked and parsed in a thread, never on the event loop.
    located = await asyncio.to_thread(find, checkout.path, paths, workload)  # fail early
    _check_containers(located, adds, remove)

    def edit(root: Path) -> list[str]:
        loc = find(root, paths, workload)
        _check_containers(loc, adds, remove)
        w = loc.workload
        changes = policy_changes(w, add=adds, remove=remove)
        text = (root / loc.file).read_text()
        new = set_annotations(text, kind=w.kind, namespace=w.namespace, name=w.name,
                              changes=changes)
        return _write(root, loc.file, text, new)

    return await checkout.commit_and_push(
        edit, author=author,
        message=policy_message(_events(adds, remove), located.id, message))


def check_pattern(workload: str, policy: str, pattern: str) -> None:
    """VerbError unless fluxd's `Pattern.Valid()` accepts `pattern`."""
    if pattern in ("*", "glob:*"):
        return
    if not parse_pattern(pattern).valid:
        raise VerbError(f"{workload}: annotation fluxcd.io/{policy}: invalid policy "
                        f"{pattern!r} (e.g. semver:~1.0, glob:1.*, regexp:^v\\d+$)")


def _check_containers(loc: Located, add: Mapping[str, str], remove: Sequence[str]) -> None:
    names = [c.name for c in loc.workload.containers]
    for policy in (*add, *remove):
        if policy.startswith("tag.") and policy.removeprefix("tag.") not in names:
            raise VerbError(f"{loc.id}: no container {policy.removeprefix('tag.')!r} "
                            f"(containers: {', '.join(names) or 'none'})")


async def automate(checkout: Checkout, paths: Sequence[str], workload: str, *,
                   message: str | None = None, author: Author | None = None) -> str | None:
    return await update_policies(checkout, paths, workload, add={"automated": "true"},
                                 message=message, author=author)


async def deautomate(checkout: Checkout, paths: Sequence[str], workload: str, *,
                     message: str | None = None, author: Author | None = None) -> str | None:
    return await update_policies(checkout, paths, workload, remove=["automated"],
                                 message=message, author=author)


def _lock_policies(message: str | None, author: Author | None) -> dict[str, str]:
    """fluxctl lock: `locked`, with `locked_user` and `locked_msg` when given."""
    add = {"locked": "true"}
    if author is not None:
        add["locked_user"] = f"{author[0]} <{author[1]}>" if author[1] else author[0]
    if message:
        add["locked_msg"] = message
    return add


async def lock(checkout: Checkout, paths: Sequence[str], workload: str, *,
               message: str | None = None, author: Author | None = None) -> str | None:
    return await update_policies(checkout, paths, workload,
                                 add=_lock_policies(message, author),
                                 message=message, author=author)


async def unlock(checkout: Checkout, paths: Sequence[str], workload: str, *,
                 message: str | None = None, author: Author | None = None) -> str | None:
    return await update_policies(checkout, paths, workload, remove=list(LOCK_POLICIES),
                                 message=message, author=author)


async def policy(
    checkout: Checkout, paths: Sequence[str], workload: str, *,
    tags: Mapping[str, str] | None = None, tag_all: str | None = None,
    message: str | None = None, author: Author | None = None,
) -> str | None:
    """fluxctl policy --tag container=pattern / --tag-all pattern (`*` removes)."""
    add: dict[str, str] = {}
    remove: list[str] = []
    for container, pattern in (tags or {}).items():
        if pattern == "*":
            remove.append(f"tag.{container}")
        else:
            add[f"tag.{container}"] = pattern
    if tag_all is not None:
        add["tag_all"] = tag_all
    if not add and not remove:
        raise VerbError(f"{workload}: give --tag container=pattern or --tag-all pattern")
    return await update_policies(checkout, paths, workload, add=add, remove=remove,
                                 message=message, author=author)


# -- images


def _tags(scans: Mapping[str, Sequence[TagInfo]], ref: Reference) -> list[TagInfo]:
    return list(scans.get(ref.repo().name, ()))


async def scan_tags(scanner: Scanner, images: Sequence[str]) -> dict[str, list[TagInfo]]:
    """The usable tags of each image repository (canonical name), with creation times."""
    repos = set()
    for image in images:
        with contextlib.suppress(InvalidReference):
            repos.add(parse(image).repo().name)
    results = await scanner.scan(sorted(repos))
    out: dict[str, list[TagInfo]] = {}
    for name, result in results.items():
        if result.error is None:
            out[name] = [TagInfo(t, e.info.created)
                         for t, e in sorted(result.entry.usable().items())]
    return out


def _refuse_locked(loc: Located) -> None:
    w = loc.workload
    key = w.annotation_key("locked") or "fluxcd.io/locked"
    why = f": {w.locked_msg}" if w.locked_msg else ""
    by = f" (by {w.locked_user})" if w.locked_user else ""
    raise VerbError(f"{loc.id} is locked ({key}){by}{why}; use --force to release anyway")


async def release(
    checkout: Checkout, paths: Sequence[str], workload: str, *,
    image: str | None = None, scanner: Scanner | None = None, force: bool = False,
    message: str | None = None, author: Author | None = None,
) -> tuple[str | None, dict[str, str]]:
    """Set images of one workload: every container whose image repository is
    `image`'s (`--update-image`), or, with `image` None, each container's newest
    tag its policy allows (`--update-all-images`, needs `scanner`). A locked
    workload is refused unless `force`. (revision or None, {container: image})."""
    target = None
    if image is not None:
        try:
            target = parse(image)
        except InvalidReference as e:
            raise VerbError(str(e)) from None
        if target.tag is None and target.digest is None:
            raise VerbError(f"--update-image {image}: give a tag, e.g. {image}:1.0")
    elif scanner is None:
        raise ValueError("release of all latest images needs a scanner")
    await checkout.sync()
    loc = await asyncio.to_thread(find, checkout.path, paths, workload)
    if loc.workload.locked and not force:
        _refuse_locked(loc)
    if loc.workload.ignored:
        key = loc.workload.annotation_key("ignore") or "fluxcd.io/ignore"
        raise VerbError(f"{loc.id} is ignored ({key}): fluxd never changes it")
    if target is not None:
        images = _images_for(loc, target)
    else:
        assert scanner is not None
        scans = await scan_tags(scanner, [c.image for c in loc.workload.containers])
        images = _latest_images(loc, scans)
    if not images:
        return None, {}

    def edit(root: Path) -> list[str]:
        here = find(root, paths, workload)
        if here.workload.locked and not force:
            _refuse_locked(here)
        w = here.workload
        text = new = (root / here.file).read_text()
        for container, img in images.items():
            new = set_image(new, kind=w.kind, namespace=w.namespace, name=w.name,
                            container=container, image=img)
        return _write(root, here.file, text, new)

    spec = image if image is not None else "all latest"
    revision = await checkout.commit_and_push(
        edit, author=author, message=message or f"Release {spec} to {loc.id}\n")
    return revision, images if revision else {}


def _images_for(loc: Located, target: Reference) -> dict[str, str]:
    images = {}
    for c in loc.workload.containers:
        try:
            ref = parse(c.image)
        except InvalidReference:
            continue
        if ref.repo().name == target.repo().name:
            images[c.name] = spelt(c.image, target)
    if not images:
        raise VerbError(f"{loc.id}: no container uses {target.name} (images: "
                        f"{', '.join(c.image for c in loc.workload.containers) or 'none'})")
    now = {c.name: c.image for c in loc.workload.containers}
    return {c: i for c, i in images.items() if now[c] != i}


def _latest_images(loc: Located, scans: Mapping[str, Sequence[TagInfo]]) -> dict[str, str]:
    w = loc.workload
    images = {}
    for c in w.containers:
        text = w.tag_pattern(c.name)
        pattern = parse_pattern(text)
        if not pattern.valid:
            key = w.annotation_key(f"tag.{c.name}") or f"fluxcd.io/tag.{c.name}"
            raise VerbError(f"{loc.id}: annotation {key}: invalid policy {text!r}")
        try:
            image = next_image(c.image, pattern, _tags(scans, parse(c.image)),
                               trigger=Trigger.RELEASE)
        except (InvalidReference, UnsupportedPatternError):
            continue
        if image is not None:
            images[c.name] = image
    return images


# -- rollback


async def rollback(
    checkout: Checkout, paths: Sequence[str], workload: str, *,
    message: str | None = None, author: Author | None = None, timeout: float = 20.0,
) -> tuple[str | None, dict[str, str]]:
    """Restore the images the workload had before the last commit that changed them,
    and lock it, in one commit. (revision or None, {container: restored image})."""
    await checkout.sync()
    root = checkout.path
    loc = await asyncio.to_thread(find, root, paths, workload)
    log = await git("log", "--format=%H", "HEAD", "--", loc.file, cwd=root, timeout=timeout)
    restore: dict[str, str] = {}
    for sha in log.split():
        after = await _images_at(root, sha, loc, timeout)
        before = await _images_at(root, f"{sha}^", loc, timeout)
        if after is None or before is None:
            continue  # the commit that added the workload (or a file it could not read)
        restore = {c: image for c, image in before.items()
                   if c in after and after[c] != image}
        if restore:
            break
    if not restore:
        raise VerbError(f"{loc.id}: no earlier image in the history of {loc.file}")
    images = ", ".join(sorted(set(restore.values())))

    def edit(root: Path) -> list[str]:
        here = find(root, paths, workload)
        w = here.workload
        text = new = (root / here.file).read_text()
        for container, img in restore.items():
            new = set_image(new, kind=w.kind, namespace=w.namespace, name=w.name,
                            container=container, image=img)
        new = set_annotations(new, kind=w.kind, namespace=w.namespace, name=w.name,
                              changes=policy_changes(w, add=_lock_policies(message, author)))
        return _write(root, here.file, text, new)

    text = f"Rollback {loc.id} to {images}\n" + (f"\n{message}\n" if message else "")
    revision = await checkout.commit_and_push(edit, author=author, message=text)
    return revision, restore if revision else {}


async def _images_at(root: Path, rev: str, loc: Located, timeout: float
                     ) -> dict[str, str] | None:
    """{container: image} of the workload in `loc.file` at `rev`; None if absent."""
    try:
        text = await git("show", f"{rev}:{loc.file}", cwd=root, timeout=timeout,
                         max_output=yamlload.DEFAULT.max_bytes)
    except GitError:  # absent then, or larger than a manifest may be
        return None
    w = loc.workload
    try:
        found = [x for x in await asyncio.to_thread(read_workloads, text)
                 if x.kind == w.kind and x.name == w.name and x.namespace == w.namespace]
    except WorkloadError:
        return None
    return {c.name: c.image for c in found[0].containers} if found else None


# -- listing


async def list_workloads(checkout: Checkout, paths: Sequence[str],
                         workload: str | None = None) -> list[Located]:
    await checkout.sync()
    if workload is not None:
        return [await asyncio.to_thread(find, checkout.path, paths, workload)]
    return await asyncio.to_thread(all_workloads, checkout.path, paths)


@dataclass(frozen=True)
class ContainerImages:
    """One container's image and the tags its policy allows, newest first."""

    workload: str
    container: str
    image: str
    pattern: str
    current: str | None  # the current tag
    tags: tuple[TagInfo, ...]
    error: str | None = None

    @property
    def newer(self) -> tuple[TagInfo, ...]:
        """The allowed tags ranked above the current one (all of them when the current
        tag is not among them: it does not match the policy)."""
        for i, t in enumerate(self.tags):
            if t.tag == self.current:
                return self.tags[:i]
        return self.tags

    def to_json(self) -> dict[str, Any]:
        """`list-images --json`'s object (the CD API's too)."""
        return {
            "workload": self.workload, "container": self.container, "image": self.image,
            "policy": self.pattern, "current": self.current, "error": self.error,
            "available": [{"tag": t.tag, "created": _iso(t.created),
                           "current": t.tag == self.current} for t in self.tags]}


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


async def list_images(checkout: Checkout, paths: Sequence[str], scanner: Scanner,
                      workload: str | None = None) -> list[ContainerImages]:
    return await images_of(await list_workloads(checkout, paths, workload), scanner)


async def images_of(located: Sequence[Located], scanner: Scanner) -> list[ContainerImages]:
    """Each container of `located` with the tags its policy allows, newest first (the
    registries scanned once for all; the CD controller calls this on its working copy)."""
    scans = await scan_tags(scanner, [c.image for loc in located
                                      for c in loc.workload.containers])
    out = []
    for loc in located:
        w = loc.workload
        for c in w.containers:
            text = w.tag_pattern(c.name)
            error: str | None = None
            current: str | None = None
            tags: tuple[TagInfo, ...] = ()
            try:
                ref = parse(c.image)
                current = ref.tag
                pattern = parse_pattern(text)
                if not pattern.valid:
                    key = w.annotation_key(f"tag.{c.name}") or f"fluxcd.io/tag.{c.name}"
                    error = f"annotation {key}: invalid policy {text!r}"
                elif ref.repo().name not in scans:
                    error = f"no tags read from {ref.repo().name}"
                else:
                    tags = tuple(rank(pattern, _tags(scans, ref)))
            except (InvalidReference, UnsupportedPatternError) as e:
                error = str(e)
            out.append(ContainerImages(loc.id, c.name, c.image, text, current, tags, error))
    return out
