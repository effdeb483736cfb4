"""Which implementation a resource type name resolves to, in Concourse's precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.ci.plan import ResourceTypeRef
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.dockerimage import DockerImageResource
from headwater.ci.resources.image import ImageResourceType
from headwater.ci.resources.registryimage import RegistryImageResource
from headwater.ci.resources.script import ScriptResourceType
from headwater.ci.resources.time import TimeResource
from headwater.ci.resources.types import ResourceTypes

TESTDATA = Path(__file__).parent / "testdata"


def test_built_in_types_resolve_first() -> None:
    time = TimeResource()
    assert ResourceTypes({"time": time}, TESTDATA).resolve("time") is time


def test_a_directory_in_the_types_dir_is_a_script_type() -> None:
    rtype = ResourceTypes({}, TESTDATA).resolve("counter")
    assert isinstance(rtype, ScriptResourceType)
    assert rtype.directory == TESTDATA / "counter"
    image_layout = ResourceTypes({}, TESTDATA).resolve("badjson")
    assert isinstance(image_layout, ScriptResourceType)


def test_a_pipeline_resource_type_overrides_a_built_in_with_an_image(tmp_path: Path) -> None:
    custom = [ResourceTypeRef(name="time", type="registry-image",
                              source={"repository": "example/time-resource"})]
    types = ResourceTypes({"time": TimeResource()}, images_dir=tmp_path)
    assert isinstance(types.resolve("time", custom), ImageResourceType)
    assert isinstance(types.resolve("time"), TimeResource)
    with pytest.raises(ResourceError, match=r"'time' is an image \(example/time-resource\), "
                                            r"and this server has no directory to pull"):
        ResourceTypes({"time": TimeResource()}).resolve("time", custom)


def test_a_pipeline_resource_type_of_another_kind_is_refused() -> None:
    custom = [ResourceTypeRef(name="x", type="git")]
    with pytest.raises(ResourceError, match="'x' is fetched with type 'git'"):
        ResourceTypes({}).resolve("x", custom)


@pytest.mark.parametrize("name", ["nope", "../counter", ".hidden", ""])
def test_unknown_types_are_errors_listing_the_known_ones(name: str) -> None:
    with pytest.raises(ResourceError) as failure:
        ResourceTypes({"time": TimeResource()}, TESTDATA).resolve(name)
    assert f"unknown resource type {name!r}" in str(failure.value)
    assert "known types: badjson, counter, time" in str(failure.value)


def test_the_default_types_are_the_built_ins_and_a_types_dir() -> None:
    types = ResourceTypes.default(types_dir=TESTDATA)
    assert isinstance(types.resolve("time"), TimeResource)
    assert isinstance(types.resolve("counter"), ScriptResourceType)
    registry_image, docker_image = types.resolve("registry-image"), types.resolve("docker-image")
    assert isinstance(registry_image, RegistryImageResource)
    assert isinstance(docker_image, DockerImageResource)
    assert (registry_image.kind, docker_image.kind) == ("registry-image", "docker-image")
