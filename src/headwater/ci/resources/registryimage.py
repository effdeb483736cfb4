"""The built-in `registry-image` and `docker-image` resource types.

One implementation, two dialects (registryimage_source.py says how their sources
differ, registryimage_put.py their put params):

- check: the digest the source's `tag` points at (one HEAD of the manifest). Versions
  are `{"tag", "digest"}` (registry-image) or `{"digest"}` (docker-image). Given the
  last version, registry-image answers it first when it is still on the registry and
  the tag moved, as its check does. With `tag_regex` (registry-image), every tag
  matching it, in the registry's order; with neither `tag` nor `tag_regex`
  (registry-image), its semver tags (registryimage_semver.py);
- get: registryimage_get.py;
- put: build the context with buildah, or load a given image, then push it under
  each tag (registryimage_buildah.py); the version is the pushed manifest's digest.

The registry is reached with headwater's OCI client (check, get) and buildah
(build, push); both use the source's credentials, plain-http hosts and CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import glob
import os
import stat
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath
from headwater.ci.resources import registryimage_semver as semver
from headwater.ci.resources.base import Fetched, Log, MetadataField, ResourceError, Version
from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.reach import Reach
from headwater.ci.resources.registryimage_buildah import (
    BuildahSettings,
    Session,
    from_hosts,
    remote_adds,
    session,
)
from headwater.ci.resources.registryimage_get import fetch
from headwater.ci.resources.registryimage_put import PutPlan, plan_put
from headwater.ci.resources.registryimage_semver import SemverMode
from headwater.ci.resources.registryimage_source import (
    DOCKER_IMAGE,
    REGISTRY_IMAGE,
    ImageRepo,
    parse_source,
    registry_failure,
)
from headwater.ci.resources.rootfs import ImageLimits
from headwater.imagepolicy import SemverError
from headwater.imagepolicy import Version as ImageVersion
from headwater.registry import NotOnRegistry, RegistryClient, RegistryError

MAX_PARAM_FILE = 64 * 1024  # a tag file, build args, labels
MAX_DOCKERFILE = 1024 * 1024
_LOCAL = "localhost/headwater-put:latest"


class RegistryImageResource:
    """`registry-image` (kind REGISTRY_IMAGE) or `docker-image` (DOCKER_IMAGE)."""

    def __init__(self, kind: str = REGISTRY_IMAGE, *, limits: ImageLimits | None = None,
                 buildah: BuildahSettings | None = None, cgroups: Cgroups | None = None,
                 run_limits: Limits | None = None, reach: Reach | None = None) -> None:
        """`limits` bound what a get downloads and unpacks; `run_limits` (the server's
        task limits) what a put's buildah and each RUN step of its build may use,
        buildah in a cgroup of `cgroups`; `reach` which registries may be spoken to."""
        self._reach = reach or Reach.anything()
        if kind not in (REGISTRY_IMAGE, DOCKER_IMAGE):
            raise ValueError(kind)
        self.kind = kind
        self._limits = limits or ImageLimits()
        self._buildah = buildah or BuildahSettings()
        self._cgroups = cgroups
        self._run_limits = run_limits

    def __repr__(self) -> str:
        return f"RegistryImageResource({self.kind!r})"

    def _source(self, source: Mapping[str, Any]) -> ImageRepo:
        repo = parse_source(self.kind, source)
        return dataclasses.replace(repo, guard=self._reach.guard(repo.label))

    def _version(self, tag: str, digest: str) -> Version:
        return {"digest": digest} if self.kind == DOCKER_IMAGE else {"tag": tag,
                                                                      "digest": digest}

    # -- check --------------------------------------------------------------------

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        repo = self._source(source)
        try:
            async with repo.client() as client:
                if repo.semver is not None:
                    return await self._check_semver(repo, repo.semver, client, version)
                if repo.tag is None:
                    return await self._check_regex(repo, client)
                try:
                    current = (await client.head_manifest(repo.repository, repo.tag)).digest
                except NotOnRegistry:
                    return []
                versions = [self._version(repo.tag, current)]
                previous = (version or {}).get("digest")
                if self.kind == REGISTRY_IMAGE and previous and previous != current:
                    try:
                        await client.head_manifest(repo.repository, previous)
                        versions.insert(0, self._version(repo.tag, previous))
                    except NotOnRegistry:
                        pass
                return versions
        except RegistryError as e:
            raise registry_failure(repo, "check", e) from None

    async def _check_semver(self, repo: ImageRepo, mode: SemverMode, client: RegistryClient,
                            version: Version | None) -> list[Version]:
        cursor = None
        if version and version.get("tag"):
            with contextlib.suppress(SemverError):
                cursor = ImageVersion.parse(version["tag"].removesuffix(f"-{mode.variant}")
                                            if mode.variant else version["tag"])
        found = []
        for tag, ver in semver.candidates(await client.tags(repo.repository), mode, cursor):
            try:
                digest = (await client.head_manifest(repo.repository, tag)).digest
            except NotOnRegistry:
                continue
            found.append((tag, ver, digest))
        return [dict(v) for v in semver.versions(found, mode)]

    async def _check_regex(self, repo: ImageRepo, client: RegistryClient) -> list[Version]:
        assert repo.tag_regex is not None
        versions = []
        for tag in await client.tags(repo.repository):
            if repo.tag_regex.search(tag):
                try:
                    digest = (await client.head_manifest(repo.repository, tag)).digest
                except NotOnRegistry:
                    continue
                versions.append(self._version(tag, digest))
        return versions

    # -- get ----------------------------------------------------------------------

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        repo = self._source(source)
        return await fetch(repo, version, params, dest, log=log, limits=self._limits)

    # -- put ----------------------------------------------------------------------

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        repo = self._source(source)
        await self._reach.check_registry(repo.registry, what=repo.label)

        def read(path: str, key: str) -> str:
            return _read_param_file(workdir, path, key, repo.label, MAX_PARAM_FILE)

        plan = await asyncio.to_thread(plan_put, repo, params, read, env or {})
        async with session(repo, self._buildah, log, cgroups=self._cgroups,
                           limits=self._run_limits) as buildah:
            if plan.build:
                await self._build(buildah, repo, plan, workdir, log)
            else:
                assert plan.image is not None
                transport = await asyncio.to_thread(_image_transport, workdir, plan.image,
                                                    repo.label)
                await log(f"loading {plan.image}\n")
                await buildah.pull(transport, _LOCAL)
            digest = ""
            for tag in plan.tags:
                await log(f"pushing {repo.ref(tag)} ({plan.manifest_format} format)\n")
                pushed = await buildah.push(_LOCAL, tag, image_format=plan.manifest_format)
                digest = digest or pushed
        await log(f"pushed {repo.repository}@{digest} as {', '.join(plan.tags)}\n")
        return Fetched(version=self._version(plan.tags[0], digest),
                       metadata=[MetadataField("repository", repo.written),
                                 MetadataField("tags", " ".join(plan.tags))])

    async def _build(self, buildah: Session, repo: ImageRepo, plan: PutPlan, workdir: Path,
                     log: Log) -> None:
        assert plan.build is not None and plan.dockerfile is not None
        if not await asyncio.to_thread(confine.is_dir, Beneath(workdir, plan.build)):
            raise ResourceError(f"{repo.label}: build {plan.build!r} is not a directory of "
                                "the put's inputs (a get or a task output), or goes through "
                                "a symbolic link")
        text = await asyncio.to_thread(_read_param_file, workdir, plan.dockerfile,
                                       "dockerfile", repo.label, MAX_DOCKERFILE)
        for number, line in remote_adds(text):
            raise ResourceError(
                f"{repo.label}: {plan.dockerfile} line {number}: {line[:200]!r}: ADD of a URL "
                "(or of a variable) is refused: buildah would download it from the CI "
                "server's own network, where the server's local services are; download it "
                "in a task (or a get) and COPY the file")
        dockerfile = buildah.home / "Dockerfile"
        await asyncio.to_thread(dockerfile.write_text, text)
        await asyncio.to_thread(buildah.set_plain_http, from_hosts(text))
        await log(f"building {plan.build} with {plan.dockerfile}\n")
        await buildah.build(context=workdir / plan.build, dockerfile=dockerfile, tag=_LOCAL,
                            build_args=plan.build_args, labels=plan.labels,
                            target=plan.target,
                            image_format="docker" if plan.manifest_format == "docker"
                            else "oci")


def _read_param_file(workdir: Path, path: str, key: str, label: str, limit: int) -> str:
    """The text of the file a param names, read without following a link out of the
    put's directory."""
    parent, _, name = path.strip("/").rpartition("/")
    try:
        data = confine.read_file(Beneath(workdir, parent or "."), name, limit=limit)
    except (FileNotFoundError, NotADirectoryError):
        raise ResourceError(f"{label}: the {key} file {path!r} does not exist: check the "
                            "path (it starts with the name of a get or task output)") from None
    except confine.Refused as e:
        raise ResourceError(f"{label}: the {key} file {path!r}: {e}") from None
    return data.decode("utf-8", errors="replace")


def _image_transport(workdir: Path, pattern: str, label: str) -> str:
    """`image`/`load` as buildah's source: `oci:<dir>`, `docker-archive:<tar>` or
    `oci-archive:<tar>`; a glob must match one path, reached without links."""
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ResourceError(f"{label}: image {pattern!r} must be a path in the put's inputs "
                            "(it starts with the name of a get or task output), not absolute "
                            "and without '..'")
    matches = sorted(glob.glob(pattern, root_dir=workdir))
    if len(matches) != 1:
        raise ResourceError(f"{label}: image {pattern!r} matches {len(matches)} paths of the "
                            "put's inputs: it must match exactly one")
    rel = matches[0].strip("/")
    parent, _, name = rel.rpartition("/")
    try:
        with confine.open_dir(Beneath(workdir, parent or ".")) as fd:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except (OSError, confine.Refused) as e:
        raise ResourceError(f"{label}: image {rel!r}: {e}") from None
    path = workdir / rel
    if stat.S_ISDIR(info.st_mode):
        for root, dirs, files in os.walk(path):
            for entry in dirs + files:
                if os.path.islink(os.path.join(root, entry)):
                    raise ResourceError(f"{label}: image {rel!r} holds a symbolic link "
                                        f"({entry}): an OCI layout has none")
        if not (path / "oci-layout").is_file():
            raise ResourceError(f"{label}: image {rel!r} is a directory without "
                                "oci-layout: give an OCI image layout or a tarball")
        return f"oci:{path}"
    if not stat.S_ISREG(info.st_mode):
        raise ResourceError(f"{label}: image {rel!r} is not a file or directory")
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
    except (tarfile.TarError, OSError) as e:
        raise ResourceError(f"{label}: image {rel!r} is not a tarball ({e})") from None
    if "manifest.json" in names:
        return f"docker-archive:{path}"
    if "oci-layout" in names or "./oci-layout" in names:
        return f"oci-archive:{path}"
    raise ResourceError(f"{label}: image {rel!r} is neither a `docker save` tarball "
                        "(manifest.json) nor an OCI archive (oci-layout)")
