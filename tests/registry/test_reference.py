"""Image references normalise as Docker's (and so Kubernetes' and Flux's) do."""

from __future__ import annotations

import pytest

from headwater.registry.reference import (
    InvalidReference,
    Reference,
    parse,
    registry_host,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", Reference("docker.io", "library/nginx")),
    ("nginx:1.25", Reference("docker.io", "library/nginx", "1.25")),
    ("library/nginx", Reference("docker.io", "library/nginx")),
    ("docker.io/nginx", Reference("docker.io", "library/nginx")),
    ("index.docker.io/nginx:1", Reference("docker.io", "library/nginx", "1")),
    ("index.docker.io/fluxcd/flux:1.25.4", Reference("docker.io", "fluxcd/flux", "1.25.4")),
    ("osones/demo-concourse-flux:1.0.1",
     Reference("docker.io", "osones/demo-concourse-flux", "1.0.1")),
    ("localhost/app", Reference("localhost", "app")),
    ("localhost:5000/app:v2", Reference("localhost:5000", "app", "v2")),
    ("127.0.0.1:5000/hw2:1.0.3", Reference("127.0.0.1:5000", "hw2", "1.0.3")),
    ("ghcr.io/org/team/app", Reference("ghcr.io", "org/team/app")),
    ("quay.io/app@" + DIGEST, Reference("quay.io", "app", None, DIGEST)),
    ("nginx:1.25@" + DIGEST, Reference("docker.io", "library/nginx", "1.25", DIGEST)),
    ("[::1]:5000/app", Reference("[::1]:5000", "app")),
    # A first component without '.', ':' or capitals is a Docker Hub namespace.
    ("myorg/app:latest", Reference("docker.io", "myorg/app", "latest")),
    ("a/b/c", Reference("docker.io", "a/b/c")),
    # ... and with capitals it is a host (distribution's splitDockerDomain).
    ("MyHost/app", Reference("MyHost", "app")),
    ("registry.example.com/a__b/c-d.e:1_0", Reference("registry.example.com", "a__b/c-d.e", "1_0")),
])
def test_parse_normalises_as_docker(text: str, expected: Reference) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "nginx", "nginx:1.25", "127.0.0.1:5000/hw2:1.0.3", "ghcr.io/org/app@" + DIGEST,
    "quay.io/a/b:1@" + DIGEST, "localhost/app", "myorg/app",
])
def test_str_is_canonical_and_round_trips(text: str) -> None:
    ref = parse(text)
    assert parse(str(ref)) == ref
    assert str(parse(str(ref))) == str(ref)


def test_str_and_familiar_forms_of_docker_hub_images() -> None:
    ref = parse("nginx:1.25")
    assert str(ref) == "docker.io/library/nginx:1.25"
    assert ref.familiar() == "nginx:1.25"
    assert parse("index.docker.io/fluxcd/flux").familiar() == "fluxcd/flux"
    assert parse("127.0.0.1:5000/app:1").familiar() == "127.0.0.1:5000/app:1"


def test_docker_hub_is_served_from_registry_1() -> None:
    assert parse("nginx").api_host == "registry-1.docker.io"
    assert parse("ghcr.io/a/b").api_host == "ghcr.io"
    assert parse("127.0.0.1:5000/a").api_host == "127.0.0.1:5000"


def test_name_version_repo_and_with_tag() -> None:
    ref = parse("ghcr.io/org/app:1.0@" + DIGEST)
    assert ref.name == "ghcr.io/org/app"
    assert ref.version == DIGEST
    assert ref.repo() == Reference("ghcr.io", "org/app")
    assert ref.with_tag("2.0") == Reference("ghcr.io", "org/app", "2.0")
    with pytest.raises(InvalidReference, match="invalid tag"):
        ref.with_tag("-bad")


@pytest.mark.parametrize(("text", "complaint"), [
    ("", "empty"),
    (" nginx", "spaces"),
    ("Nginx", "must be lowercase"),
    ("docker.io/Library/nginx", "must be lowercase"),
    ("nginx:", "bad tag"),
    ("nginx:-x", "bad tag"),
    ("nginx:" + "a" * 129, "bad tag"),
    ("nginx@sha256:123", "digest"),
    ("host:port/app", "bad registry"),
    ("app//x", "must be lowercase"),
    ("app/", "must be lowercase"),
    ("a" * 256, "longer than 255"),
])
def test_invalid_references_say_which_part_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(InvalidReference, match=complaint):
        parse(text)


@pytest.mark.parametrize(("key", "host"), [
    ("https://index.docker.io/v1/", "docker.io"),
    ("index.docker.io", "docker.io"),
    ("docker.io", "docker.io"),
    ("https://registry-1.docker.io/v2/", "docker.io"),
    ("registry.hub.docker.com", "docker.io"),
    ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
    ("127.0.0.1:5000", "127.0.0.1:5000"),
    ("GHCR.io", "ghcr.io"),
    ("https://gcr.io", "gcr.io"),
])
def test_registry_host_reduces_config_keys_to_a_host(key: str, host: str) -> None:
    assert registry_host(key) == host
