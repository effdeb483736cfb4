"""The built-in `docker-image` resource type: registryimage.py in docker-image's dialect.

Concourse's docker-image-resource drove a Docker daemon; headwater keeps its source
keys (`insecure_registries`, `ca_certs` with domains), get params (`save`, `rootfs`,
`skip_download`), put params (`build`, `dockerfile`, `tag_file`, `tag_prefix`,
`tag_as_latest`, `additional_tags`, `load`, ...) and versions (`{"digest"}`), and
pushes Docker v2 schema 2 manifests as `docker push` did, with buildah and no daemon.
"""

from __future__ import annotations

from headwater.ci.resources.cgroups import Cgroups, Limits
from headwater.ci.resources.reach import Reach
from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings
from headwater.ci.resources.registryimage_source import DOCKER_IMAGE
from headwater.ci.resources.rootfs import ImageLimits


class DockerImageResource(RegistryImageResource):
    def __init__(self, *, limits: ImageLimits | None = None,
                 buildah: BuildahSettings | None = None, cgroups: Cgroups | None = None,
                 run_limits: Limits | None = None, reach: Reach | None = None) -> None:
        super().__init__(DOCKER_IMAGE, limits=limits, buildah=buildah, cgroups=cgroups,
                         run_limits=run_limits, reach=reach)
