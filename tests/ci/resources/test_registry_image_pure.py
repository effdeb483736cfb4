"""registry-image / docker-image: the pure decisions (tags, sources, FROM hosts, log
lines), table-tested without a registry."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.ci.resources import registryimage_semver as semver
from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.registryimage_buildah import (
    LineLog,
    from_hosts,
    registries_conf,
    remote_adds,
)
from headwater.ci.resources.registryimage_get import get_format
from headwater.ci.resources.registryimage_put import plan_put, tags_to_push
from headwater.ci.resources.registryimage_source import (
    DOCKER_IMAGE,
    REGISTRY_IMAGE,
    parse_source,
)

FILES = {"version/version": "1.0.1\n", "tags/more": "a b\nc\n", "args.json": '{"X": 1}'}


def read(path: str, key: str) -> str:
    if path not in FILES:
        raise ResourceError(f"the {key} file {path!r} does not exist")
    return FILES[path]


@pytest.mark.parametrize(("kind", "source", "params", "tags"), [
    (DOCKER_IMAGE, {}, {}, ["latest"]),
    (DOCKER_IMAGE, {"tag": "edge"}, {}, ["edge"]),
    (DOCKER_IMAGE, {}, {"tag_file": "version/version"}, ["1.0.1"]),
    (DOCKER_IMAGE, {}, {"tag": "version/version", "tag_prefix": "v"}, ["v1.0.1"]),
    (DOCKER_IMAGE, {}, {"tag_file": "version/version", "tag_as_latest": True},
     ["1.0.1", "latest"]),
    (DOCKER_IMAGE, {}, {"additional_tags": "tags/more", "tag_prefix": "v"},
     ["latest", "a", "b", "c"]),
    (REGISTRY_IMAGE, {"tag": "edge"}, {}, ["edge"]),
    (REGISTRY_IMAGE, {}, {"version": "1.2.3"}, ["1.2.3"]),
    (REGISTRY_IMAGE, {}, {"version": "v1.2"}, ["1.2.0"]),
    (REGISTRY_IMAGE, {"variant": "slim"}, {"version": "1.2.3"}, ["1.2.3-slim"]),
    (REGISTRY_IMAGE, {"tag": "x"}, {"additional_tags": "tags/more", "tag_prefix": "v"},
     ["x", "va", "vb", "vc"]),
    (REGISTRY_IMAGE, {}, {"tag_file": "version/version", "tag_as_latest": True},
     ["1.0.1", "latest"]),
])
def test_tags_to_push_follow_each_types_params(kind: str, source: dict[str, Any],
                                               params: dict[str, Any],
                                               tags: list[str]) -> None:
    repo = parse_source(kind, {"repository": "127.0.0.1:5000/app", **source})
    assert tags_to_push(repo, params, read) == tags


def test_registry_image_needs_a_tag_to_push() -> None:
    repo = parse_source(REGISTRY_IMAGE, {"repository": "127.0.0.1:5000/app"})
    with pytest.raises(ResourceError, match="no tag to push"):
        tags_to_push(repo, {}, read)


def test_registry_image_version_must_be_semver() -> None:
    repo = parse_source(REGISTRY_IMAGE, {"repository": "r.example/app"})
    with pytest.raises(ResourceError, match="'edge' is not a semantic version"):
        tags_to_push(repo, {"version": "edge"}, read)


def test_a_missing_tag_file_names_it() -> None:
    repo = parse_source(DOCKER_IMAGE, {"repository": "r.example/app"})
    with pytest.raises(ResourceError, match="'version/nope' does not exist"):
        tags_to_push(repo, {"tag_file": "version/nope"}, read)


def test_a_tag_file_holding_no_tag_is_refused() -> None:
    FILES["bad/tag"] = "not a tag!\n"
    repo = parse_source(DOCKER_IMAGE, {"repository": "r.example/app"})
    with pytest.raises(ResourceError, match="is not a valid tag"):
        tags_to_push(repo, {"tag_file": "bad/tag"}, read)


def test_build_params_expand_build_metadata_and_read_files() -> None:
    repo = parse_source(DOCKER_IMAGE, {"repository": "r.example/app"})
    plan = plan_put(repo, {"build": "src", "build_args": {"ID": "b-$BUILD_ID", "ON": True},
                           "build_args_file": "args.json", "labels": {"v": 1},
                           "target_name": "final"}, read, {"BUILD_ID": "42"})
    assert plan.dockerfile == "src/Dockerfile"
    assert plan.build_args == {"ID": "b-42", "ON": "true", "X": "1"}
    assert plan.labels == {"v": "1"}
    assert plan.target == "final"
    assert plan.manifest_format == "docker"
    oci = plan_put(repo, {"build": "src", "format": "oci"}, read, {})
    assert oci.manifest_format == "oci"
    registry = parse_source(REGISTRY_IMAGE, {"repository": "r.example/app", "tag": "1"})
    assert plan_put(registry, {"image": "img/image.tar"}, read, {}).manifest_format == "oci"


@pytest.mark.parametrize(("params", "error"), [
    ({}, "exactly one of build, image, load or load_file"),
    ({"build": "a", "image": "b"}, r"\(got build, image\)"),
    ({"build": "a", "nope": 1}, r"unknown put params \['nope'\]"),
    ({"build": "a", "format": "v1"}, "use oci or docker"),
])
def test_put_params_errors_say_what_to_write(params: dict[str, Any], error: str) -> None:
    repo = parse_source(DOCKER_IMAGE, {"repository": "r.example/app"})
    with pytest.raises(ResourceError, match=error):
        plan_put(repo, params, read, {})


@pytest.mark.parametrize(("kind", "source", "error"), [
    (DOCKER_IMAGE, {}, "needs `repository`"),
    (DOCKER_IMAGE, {"repository": "r.example/app:1"}, "write the tag under `tag`"),
    (DOCKER_IMAGE, {"repository": "r.example/app", "tag_regex": "x"}, "unknown source keys"),
    (REGISTRY_IMAGE, {"repository": "r.example/app", "username": "u"}, "go together"),
    (REGISTRY_IMAGE, {"repository": "r.example/app", "tag_regex": "("}, "not a regular"),
])
def test_sources_are_validated(kind: str, source: dict[str, Any], error: str) -> None:
    with pytest.raises(ResourceError, match=error):
        parse_source(kind, source)


def test_a_password_never_shows_in_the_sources_repr() -> None:
    repo = parse_source(DOCKER_IMAGE, {"repository": "r.example/app", "username": "u",
                                       "password": "s3cret-pw"})
    assert "s3cret-pw" not in repr(repo)


@pytest.mark.parametrize(("kind", "params", "fmt"), [
    (REGISTRY_IMAGE, {}, "rootfs"),
    (REGISTRY_IMAGE, {"format": "oci-layout"}, "oci-layout"),
    (REGISTRY_IMAGE, {"skip_download": True}, None),
    (DOCKER_IMAGE, {}, "metadata"),
    (DOCKER_IMAGE, {"save": True}, "oci"),
    (DOCKER_IMAGE, {"rootfs": True}, "rootfs.tar"),
])
def test_get_formats(kind: str, params: dict[str, Any], fmt: str | None) -> None:
    assert get_format(kind, params, "x") == fmt


def test_from_hosts_names_registries_of_base_images_only() -> None:
    text = ("FROM scratch\nFROM --platform=linux/amd64 127.0.0.1:5000/base:1 AS b\n"
            "from alpine\nFROM ${BASE}\nFROM b\nFROM ghcr.io/x/y@sha256:" + "a" * 64 + "\n")
    assert from_hosts(text) == {"127.0.0.1:5000", "ghcr.io"}


def test_registries_conf_marks_plain_http_hosts() -> None:
    conf = registries_conf(["127.0.0.1:5000"])
    assert 'location = "127.0.0.1:5000"\ninsecure = true' in conf
    assert 'unqualified-search-registries = ["docker.io"]' in conf


async def test_log_lines_are_whole_and_bounded() -> None:
    got: list[str] = []

    async def log(text: str) -> None:
        got.append(text)

    lines = LineLog(log, max_line=10)
    await lines.write("STEP 1/2: ")
    assert got == []  # a line is written when it ends
    await lines.write("COPY\nx" + "y" * 30)
    await lines.write("zzz\nlast")
    await lines.close()
    assert got == ["STEP 1/2:  [line cut]\n", "xyyyyyyyyy [line cut]\n", "last\n"]


# registry-image's semver check: cases of its check_test.go (tag -> image it names).
SEMVER_CASES: dict[str, tuple[dict[str, str], dict[str, Any], list[str]]] = {
    "prereleases ignored by default": (
        {"1.0.0-alpha.1": "r0", "1.0.0": "r1", "1.2.1-beta.1": "r2", "1.2.1": "r3",
         "2.0.0-rc.1": "r4", "2.0.0": "r5"}, {}, ["1.0.0", "1.2.1", "2.0.0"]),
    "prerelease prefixes opted in": (
        {"1.0.0-alpha.1": "r0", "1.0.0": "r1", "1.2.1-beta.1": "r2", "1.2.1": "r3",
         "2.0.0-rc.1": "r4", "2.0.0": "r5", "2.0.0-build.1": "r6"},
        {"pre_releases": True, "pre_release_prefixes": ["build"]},
        ["1.0.0-alpha.1", "1.0.0", "1.2.1-beta.1", "1.2.1", "2.0.0-build.1", "2.0.0-rc.1",
         "2.0.0"]),
    "prereleases do not include variants": (
        {"1.0.0-alpha.1": "r0", "1.0.0-beta.1": "r1", "1.0.0-rc.1": "r2", "1.0.0-foo.1": "r3"},
        {"pre_releases": True}, ["1.0.0-alpha.1", "1.0.0-beta.1", "1.0.0-rc.1"]),
    "final versions take priority over rcs": (
        {"1.0.0-rc.1": "r1", "1.0.0": "r1"}, {"pre_releases": True}, ["1.0.0"]),
    "mixed specificity semver tags": (
        {"1": "r1", "2": "r2", "2.1": "r2", "latest": "r3", "3": "r3", "3.2": "r3",
         "3.2.1": "r3", "3.1": "r4", "3.1.0": "r4", "3.0": "r5", "3.0.0": "r5"}, {},
        ["1", "2.1", "3.0.0", "3.1.0", "3.2.1"]),
    "semver tags with latest tag having unique digest": (
        {"1.0.0": "r1", "latest": "r2"}, {}, ["1.0.0", "latest"]),
    "semver and non-semver tags": (
        {"1.0.0": "r1", "foo": "r2"}, {}, ["1.0.0"]),
    "semver constraint": (
        {"1.1.0": "r0", "1.2.1": "r1", "1.2.2": "r2", "v1.2.3": "r3", "2.0.0": "r4",
         "latest": "r5"}, {"semver_constraint": "~1.2.x"}, ["1.2.1", "1.2.2", "v1.2.3"]),
    "variants": (
        {"latest": "r1", "1.0.0": "r1", "0.9.0": "r2", "foo": "r3", "1.0.0-foo": "r3",
         "0.9.0-foo": "r4", "bar": "r5", "1.0.0-bar": "r5", "0.9.0-bar": "r6"},
        {"variant": "foo"}, ["0.9.0-foo", "1.0.0-foo"]),
}


@pytest.mark.parametrize("case", list(SEMVER_CASES))
def test_semver_check_matches_registry_image(case: str) -> None:
    images, source, expected = SEMVER_CASES[case]
    repo = parse_source(REGISTRY_IMAGE, {"repository": "r.example/app", **source})
    assert repo.semver is not None and repo.tag is None
    found = [(tag, ver, images[tag]) for tag, ver in semver.candidates(list(images),
                                                                       repo.semver)]
    assert [v["tag"] for v in semver.versions(found, repo.semver)] == expected


@pytest.mark.parametrize(("dockerfile", "lines"), [
    ("FROM scratch\nADD app.tar.gz /\nCOPY x /x\n", []),
    ("FROM scratch\nADD http://127.0.0.1:2379/v2/keys /k\n", [2]),
    ("FROM scratch\n# comment\nadd --chown=1 \\\n  https://example.com/x /x\n", [3]),
    ('FROM scratch\nADD ["https://example.com/x", "/x"]\n', [2]),
    ("FROM scratch\nARG URL\nADD $URL /x\n", [3]),
    ("FROM scratch\nADD git@github.com:o/r.git /src\n", [2]),
    ("FROM scratch\nONBUILD ADD http://10.0.0.1/x /x\n", [2]),
    ("FROM scratch\nRUN echo http://x.example \\\n  && true\n", []),
])
def test_adds_that_download_are_found(dockerfile: str, lines: list[int]) -> None:
    assert [number for number, _ in remote_adds(dockerfile)] == lines
