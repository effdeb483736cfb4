"""registry-image and docker-image against a registry over https with its own CA
(`ca_certs`): trusted with it, refused without it, for check, get, put and a build's
base image."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.ci.resources.registryimage_buildah import BuildahSettings
from headwater.devstack import probe, process
from headwater.devstack.layout import Layout
from headwater.devstack.pki import CA
from headwater.devstack.ports import pick
from tests.ci.resources.test_registry_image import HTTPD, Logs, make_context

pytestmark = pytest.mark.skipif(shutil.which("buildah") is None or os.geteuid() != 0
                                or shutil.which("docker-registry") is None,
                                reason="needs buildah (as root) and docker-registry")

HOST = "127.0.0.2"  # loopback, but not one of the hosts spoken to over plain http


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A docker-registry on https://127.0.0.2:PORT with a certificate of a CA of its
    own; (host:port, the CA's PEM)."""
    layout = Layout(tmp_path / "stack")
    layout.create()
    ca = CA(tmp_path / "ca")
    crt, key = ca.issue("registry", cn=HOST, server=True, hosts=(HOST,))
    port = pick(None, set())
    config = {"version": 0.1, "log": {"level": "error"},
              "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
              "http": {"addr": f"{HOST}:{port}", "tls": {"certificate": str(crt),
                                                         "key": str(key)}}}
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    proc = process.start("registry-tls", ["docker-registry", "serve",
                                          str(tmp_path / "config.yml")], layout=layout)
    try:
        process.wait_until(proc, lambda: probe.status(
            f"https://{HOST}:{port}/v2/", ca=ca.cert_path) == 200,
            what="answering on /v2/", timeout=15)
        yield f"{HOST}:{port}", ca.cert_path.read_text()
    finally:
        process.stop(proc, layout)



async def test_ca_certs_let_a_put_check_get_and_base_image_reach_the_registry(
        tmp_path: Path, tls_registry: tuple[str, str], builds: BuildahSettings) -> None:
    host, pem = tls_registry
    source = {"repository": f"{host}/app", "tag": "base", "ca_certs": [pem]}
    resource = RegistryImageResource(buildah=builds)
    pushed = await resource.put(source, {"build": "src"}, make_context(tmp_path / "a"),
                                log=Logs())
    assert await resource.check(source, None, log=Logs()) == [pushed.version]
    await resource.get(source, pushed.version, {}, tmp_path / "got", log=Logs())
    assert (tmp_path / "got" / "rootfs" / "www" / "index.html").is_file()

    # docker-image's spelling, and a FROM on that registry
    docker = {"repository": f"{host}/app", "tag": "child",
              "ca_certs": [{"domain": host, "cert": pem}]}
    child = f"FROM {host}/app:base\nRUN echo child > /child\n"
    await DockerImageResource(buildah=builds).put(
        docker, {"build": "src"}, make_context(tmp_path / "b", child), log=Logs())


async def test_without_the_ca_the_registry_is_refused(
        tmp_path: Path, tls_registry: tuple[str, str], builds: BuildahSettings) -> None:
    host, _ = tls_registry
    source = {"repository": f"{host}/app", "tag": "x"}
    with pytest.raises(ResourceError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        await RegistryImageResource(buildah=builds).check(source, None, log=Logs())
    with pytest.raises(ResourceError, match=r"pushing .* failed.*certificate"):
        await RegistryImageResource(buildah=builds).put(
            source, {"build": "src"}, make_context(tmp_path, HTTPD), log=Logs())
