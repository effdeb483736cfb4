"""Which implementation runs a resource of a given type.

Looked up in Concourse's order of precedence:

1. the pipeline's own `resource_types` (a pipeline may override a built-in name):
   images (`type: registry-image` or `docker-image`) whose `/opt/resource` scripts
   run in a bubblewrap sandbox on the image's root filesystem (image.py), pulled
   into `images_dir`;
2. the built-in types the server registers (`time`, `git`, `semver`,
   `registry-image`, `docker-image`), which connect from the server's process and so
   are held to its `reach` (reach.py: no local paths, no loopback service unless
   allowed);
3. a directory `<types_dir>/<name>/` holding `check`, `in`, `out` (or the image
   layout `opt/resource/...`): an external type, run as scripts.

Anything else is an unknown type, and the error lists what is known. Scripts of
types 1 and 3 run in the server's `cgroups` with its default `limits` (cgroups.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from headwater.ci.plan import ResourceTypeRef
from headwater.ci.resources.base import ResourceError, ResourceType
from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.git import GitResource
from headwater.ci.resources.image import ImageResourceType
from headwater.ci.resources.netns import NetworkPolicy
from headwater.ci.resources.reach import Reach
from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.ci.resources.rootfs import IMAGE_TYPES, ImageLimits, ResourceImages
from headwater.ci.resources.script import ScriptResourceType, scripts_dir
from headwater.ci.resources.semver import SemverResource
from headwater.ci.resources.time import TimeResource


class ResourceTypes:
    def __init__(self, builtins: Mapping[str, ResourceType], types_dir: Path | None = None,
                 *, images_dir: Path | None = None,
                 script_timeout: float | None = None,
                 image_limits: ImageLimits | None = None,
                 network: NetworkPolicy | None = None, cgroups: Cgroups | None = None,
                 limits: Limits | None = None, reach: Reach | None = None) -> None:
        self._builtins = dict(builtins)
        self._network = network
        self._cgroups = cgroups
        self._limits = limits
        self._types_dir = types_dir
        self._images = ResourceImages(images_dir, limits=image_limits or ImageLimits(),
                                      reach=reach) if images_dir is not None else None
        self._script_timeout = script_timeout

    @classmethod
    def default(cls, *, types_dir: Path | None = None, images_dir: Path | None = None,
                script_timeout: float | None = None,
                image_limits: ImageLimits | None = None,
                network: NetworkPolicy | None = None, cgroups: Cgroups | None = None,
                limits: Limits | None = None, cache_dir: Path | None = None,
                reach: Reach | None = None) -> ResourceTypes:
        """The built-in types (`time`, `git` with its check caches under `cache_dir`,
        `semver`, `registry-image`, `docker-image`), script types under `types_dir`, and
        image types of pipelines, pulled into `images_dir` (refused without one) within
        `image_limits`, whose scripts reach of the host's loopback only what `network`
        allows. The built-ins and the image pulls connect from this process: `reach`
        says where they may (everything when None, for tests that build their own)."""
        reach = reach or Reach.anything()
        builtins: dict[str, ResourceType] = {
            "time": TimeResource(),
            "git": GitResource(cache_dir=cache_dir / "git" if cache_dir else None,
                               reach=reach),
            "semver": SemverResource(reach=reach),
            "registry-image": RegistryImageResource(limits=image_limits, cgroups=cgroups,
                                                    run_limits=limits, reach=reach),
            "docker-image": DockerImageResource(limits=image_limits, cgroups=cgroups,
                                                run_limits=limits, reach=reach),
        }
        return cls(builtins, types_dir, images_dir=images_dir,
                   script_timeout=script_timeout, image_limits=image_limits, network=network,
                   cgroups=cgroups, limits=limits, reach=reach)

    @property
    def images(self) -> ResourceImages | None:
        """The image cache, which task images share (None: no `images_dir`)."""
        return self._images

    def resolve(self, type_name: str,
                resource_types: Sequence[ResourceTypeRef] = ()) -> ResourceType:
        for ref in resource_types:
            if ref.name == type_name:
                return self._custom(ref)
        if type_name in self._builtins:
            return self._builtins[type_name]
        directory = self._directory(type_name)
        if directory is not None:
            return ScriptResourceType(directory, timeout=self._script_timeout,
                                      cgroups=self._cgroups, limits=self._limits)
        known = sorted({*self._builtins, *self._script_names()})
        where = f" nor a directory {self._types_dir}/{type_name}/ with check, in and out" \
            if self._types_dir else ""
        raise ResourceError(
            f"unknown resource type {type_name!r}: not one of the pipeline's resource_types, "
            f"not built in{where}; known types: {', '.join(known) or 'none'}")

    def _custom(self, ref: ResourceTypeRef) -> ResourceType:
        if ref.type not in IMAGE_TYPES:
            raise ResourceError(
                f"resource type {ref.name!r} is fetched with type {ref.type!r}: only "
                f"{' and '.join(IMAGE_TYPES)} images can provide a resource type")
        if self._images is None:
            raise ResourceError(
                f"resource type {ref.name!r} is an image ({ref.source.get('repository')}), "
                "and this server has no directory to pull images into")
        return ImageResourceType(ref.name, ref.source, self._images,
                                 privileged=ref.privileged, timeout=self._script_timeout,
                                 network=self._network, cgroups=self._cgroups,
                                 limits=self._limits)

    def _directory(self, type_name: str) -> Path | None:
        if self._types_dir is None or not type_name or "/" in type_name \
                or type_name.startswith("."):
            return None
        candidate = self._types_dir / type_name
        return candidate if candidate.is_dir() and scripts_dir(candidate) else None

    def _script_names(self) -> list[str]:
        if self._types_dir is None or not self._types_dir.is_dir():
            return []
        return [p.name for p in self._types_dir.iterdir() if self._directory(p.name)]
