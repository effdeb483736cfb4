"""`put` of an image: which tags, from which params, and where the image comes from.

Param names are both types' own, so pipelines come unchanged:

- what to push: `build` (a directory of the put's inputs: the context), with
  `dockerfile` (docker-image: a path from the put's directory, default
  `<build>/Dockerfile`; a path inside the context works too), `build_args` (a map;
  `$BUILD_ID`-style build metadata expanded, as docker-image does),
  `build_args_file` (JSON), `target` / `target_name`, `labels`, `labels_file`; or an
  image already built: registry-image's `image` (a `docker save`/OCI tarball or an
  OCI layout directory, a glob), docker-image's `load` (a directory from a get with
  `save: true`, holding `image`) and `load_file`;
- tags (`tags_to_push`, a pure function): docker-image pushes `tag_file` (or the old
  `tag`, a path too) with `tag_prefix`, else the source's `tag` (`latest`), plus
  `latest` with `tag_as_latest` and each tag of the `additional_tags` file;
  registry-image pushes the source's `tag` if given, `version` (a semantic version,
  canonical: `v1.2` is pushed as `1.2.0`; with `-<variant>`),
  `tag_file` and each of `additional_tags` (with `tag_prefix`), `latest` with
  `tag_as_latest`, and needs at least one;
- `format: oci|docker` overrides the manifest format (docker-image pushes Docker v2
  schema 2, registry-image OCI).

Every file a param names is read through `confine` (no link out of the put's
directory is followed) and bounded in size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.registryimage_source import DOCKER_IMAGE, ImageRepo
from headwater.imagepolicy import SemverError
from headwater.imagepolicy import Version as SemVersion

TAG = re.compile(r"[\w][\w.-]{0,127}")
_PUT_KEYS = {"build", "dockerfile", "build_args", "build_args_file", "target",
             "target_name", "labels", "labels_file", "image", "load", "load_file",
             "load_repository", "load_tag", "tag", "tag_file", "tag_prefix", "tag_as_latest",
             "additional_tags", "version", "format", "cache", "cache_tag", "bump_aliases"}

ReadFile = Callable[[str, str], str]  # (path from the put's dir, param) -> text


@dataclass(frozen=True)
class PutPlan:
    """What a put does: build a context or push a given image, and under which tags."""

    tags: list[str]
    manifest_format: str  # oci or docker (buildah's --format: oci or docker)
    build: str | None = None
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    image: str | None = None  # a tarball or OCI layout to push


def plan_put(repo: ImageRepo, params: Mapping[str, Any], read: ReadFile,
             env: Mapping[str, str]) -> PutPlan:
    label = repo.label
    unknown = sorted(set(params) - _PUT_KEYS)
    if unknown:
        raise ResourceError(f"{label}: unknown put params {unknown}; known: "
                            f"{', '.join(sorted(_PUT_KEYS))}")
    fmt = str(params.get("format") or ("docker" if repo.kind == DOCKER_IMAGE else "oci"))
    if fmt not in ("oci", "docker"):
        raise ResourceError(f"{label}: put format {fmt!r}: use oci or docker")
    tags = tags_to_push(repo, params, read)
    build = _opt_str(params, "build", label)
    image = _opt_str(params, "image", label)
    load = _opt_str(params, "load", label)
    load_file = _opt_str(params, "load_file", label)
    given = [k for k, v in (("build", build), ("image", image), ("load", load),
                            ("load_file", load_file)) if v]
    if len(given) != 1:
        raise ResourceError(f"{label}: a put needs exactly one of build, image, load or "
                            f"load_file{' (got ' + ', '.join(given) + ')' if given else ''}")
    if not build:
        source = image or (f"{load.rstrip('/')}/image" if load else load_file)
        return PutPlan(tags=tags, manifest_format=fmt, image=source)
    assert build is not None
    dockerfile = _opt_str(params, "dockerfile", label) or f"{build.rstrip('/')}/Dockerfile"
    args = {**_string_map(params.get("build_args"), "build_args", label)}
    if params.get("build_args_file"):
        args.update(_json_file(read, str(params["build_args_file"]), "build_args_file", label))
    args = {k: _expand(v, env) for k, v in args.items()}
    labels = _string_map(params.get("labels"), "labels", label)
    if params.get("labels_file"):
        labels.update(_json_file(read, str(params["labels_file"]), "labels_file", label))
    target = _opt_str(params, "target", label) or _opt_str(params, "target_name", label)
    return PutPlan(tags=tags, manifest_format=fmt, build=build, dockerfile=dockerfile,
                   build_args=args, labels=labels, target=target)


def tags_to_push(repo: ImageRepo, params: Mapping[str, Any], read: ReadFile) -> list[str]:
    """The tags of a put, the first being the version's (see the module doc)."""
    prefix = str(params.get("tag_prefix") or "")
    tag_path = params.get("tag_file") or params.get("tag")
    from_file = prefix + read(str(tag_path), "tag_file").strip() if tag_path else None
    tags: list[str] = []
    if repo.kind == DOCKER_IMAGE:
        tags.append(from_file or repo.tag or "latest")
    else:
        if repo.tag_given and repo.tag:
            tags.append(repo.tag)
        if params.get("version"):
            tags.append(_semver_tag(str(params["version"]), repo) +
                        (f"-{repo.variant}" if repo.variant else ""))
        if from_file:
            tags.append(from_file)
    if params.get("tag_as_latest"):
        tags.append("latest")
    if params.get("additional_tags"):
        more = read(str(params["additional_tags"]), "additional_tags").split()
        extra = prefix if repo.kind != DOCKER_IMAGE else ""
        tags += [extra + t for t in more]
    if not tags:
        raise ResourceError(f"{repo.label}: no tag to push: give `version`, `tag_file` or "
                            "`additional_tags` in the put's params, or `tag` in the source")
    unique = list(dict.fromkeys(tags))
    for tag in unique:
        if not TAG.fullmatch(tag):
            raise ResourceError(f"{repo.label}: {tag[:140]!r} is not a valid tag (up to 128 "
                                "letters, digits, '_', '.' or '-'); check tag_file, "
                                "tag_prefix and additional_tags")
    return unique


def _semver_tag(version: str, repo: ImageRepo) -> str:
    """registry-image's `version`: a semantic version, pushed in its canonical form
    (`v1.2` is `1.2.0`), as its out does."""
    try:
        return str(SemVersion.parse(version))
    except SemverError:
        raise ResourceError(f"{repo.label}: put param version {version!r} is not a "
                            "semantic version (1.2.3); for any other tag use tag_file or "
                            "additional_tags") from None


def _opt_str(params: Mapping[str, Any], key: str, label: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ResourceError(f"{label}: put param `{key}` is a path, not {type(value).__name__}")
    return value


def _string_map(value: Any, key: str, label: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ResourceError(f"{label}: put param `{key}` is a map of names to values")
    return {str(k): _scalar(v) for k, v in value.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as jq -r prints them
    return str(value)


def _json_file(read: ReadFile, path: str, key: str, label: str) -> dict[str, str]:
    text = read(path, key)
    try:
        doc = json.loads(text)
    except ValueError:
        raise ResourceError(f"{label}: {key} {path!r} is not JSON; write an object like "
                            '{"NAME": "value"}') from None
    if not isinstance(doc, dict):
        raise ResourceError(f"{label}: {key} {path!r} must hold a JSON object")
    return {str(k): _scalar(v) for k, v in doc.items()}


_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand(value: str, env: Mapping[str, str]) -> str:
    """`$NAME` and `${NAME}` of the build's metadata (BUILD_ID, ...), as docker-image
    expands them in build_args; other names are left as written."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, m.group(0))
    return _VAR.sub(sub, value)
