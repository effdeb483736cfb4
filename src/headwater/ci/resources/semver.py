"""The built-in `semver` resource, as concourse/semver-resource.

Versions are `{"number": "1.2.3"}`. Source: `initial_version` (default `0.0.0`) and a
`driver` that says where the version lives: `git` (`uri`, `branch`, `file`,
`private_key`, `username`/`password`, `git_user`, `commit_message`,
`skip_ssl_verification`: semvergit.py) or headwater's own `file` (`path` under the
server's `files_dir`, for tests and local setups: semverfile.py). semver-resource's
`s3` (its default), `swift` and `gcs` are not built in: the error says how to run
semver-resource's image instead.

- check: the current version (`initial_version` while there is no file); from a
  cursor, the versions since (the git driver walks the file's history).
- get (`in`): the version, bumped locally by `bump`/`pre`/`build` params, in the files
  `version` and `number`; the resource itself does not change, and no driver is asked.
- put (`out`): `get_latest` (just the current version), or `file` (a path in the
  build's artifacts holding the version to set), or `bump`/`pre`/`build` applied
  atomically by the driver to whatever the version is when it writes.

The version logic is semverbump.py; errors are `ResourceError`s that say what to fix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath
from headwater.ci.resources.base import Fetched, Log, MetadataField, ResourceError, Version
from headwater.ci.resources.reach import Reach
from headwater.ci.resources.semverbump import (
    Bump,
    InvalidSemver,
    bump_from_params,
    first_token,
    flag,
    parse_version,
)
from headwater.ci.resources.semverfile import MAX_VERSION_FILE, FileDriver, check_relative
from headwater.ci.resources.semvergit import GitDriver, GitSource
from headwater.imagepolicy.semver import Version as Semver

DRIVERS = ("git", "file")
_NOT_BUILT_IN = ("s3", "swift", "gcs")


class Driver(Protocol):
    async def check(self, cursor: Semver | None) -> list[Semver]: ...
    async def bump(self, bump: Bump) -> Semver: ...
    async def set(self, version: Semver) -> Semver: ...


class SemverResource:
    """The `semver` type. `files_dir` enables the `file` driver (paths beneath it);
    `scratch` is where the git driver clones (the system's temp dir by default)."""

    def __init__(self, *, files_dir: Path | None = None, scratch: Path | None = None,
                 git_timeout: float = 60.0, reach: Reach | None = None) -> None:
        self._reach = reach or Reach.anything()
        self._files_dir = files_dir
        self._scratch = scratch
        self._git_timeout = git_timeout

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        driver = await self._reachable(self.driver(source))
        cursor = None
        if version and version.get("number"):
            try:
                cursor = parse_version(version["number"])
            except InvalidSemver as e:
                await log(f"skipping invalid current version: {e}\n")
        return [{"number": str(v)} for v in await driver.check(cursor)]

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        number = version.get("number", "")
        try:
            current = parse_version(number)
        except InvalidSemver as e:
            raise ResourceError(f"semver: the version to get is not a semantic version: "
                                f"{e}") from None
        bumped = bump_from_params(params or {}).apply(current)
        if str(bumped) != str(current):
            await log(f"bumped locally from {current} to {bumped}\n")
        await asyncio.to_thread(_write_files, dest, str(bumped))
        return Fetched(version={"number": number},
                       metadata=[MetadataField("number", number)])

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        driver = await self._reachable(self.driver(source))
        params = params or {}
        bump = bump_from_params(params)
        if params.get("get_latest"):
            new = (await driver.check(None))[0]
        elif params.get("file"):
            new = await driver.set(await asyncio.to_thread(_read_param_file, workdir,
                                                           params["file"]))
            await log(f"set the version to {new}\n")
        elif not bump.empty:
            new = await driver.bump(bump)
            await log(f"bumped the version to {new}\n")
        else:
            raise ResourceError("semver: no version bump specified: a put needs params "
                                "`file` (a file holding the version, e.g. version/version), "
                                "`bump`, `pre` or `build`, or `get_latest: true`")
        return Fetched(version={"number": str(new)},
                       metadata=[MetadataField("number", str(new))])

    async def _reachable(self, driver: Driver) -> Driver:
        if isinstance(driver, GitDriver):
            await self._reach.check(driver.src.uri, what="semver: source.uri")
        return driver

    def driver(self, source: Mapping[str, Any]) -> Driver:
        """The driver `source` asks for, its settings checked."""
        name = source.get("driver") or ""
        initial = _text(source, "initial_version") or "0.0.0"
        try:
            parse_version(initial)
        except InvalidSemver as e:
            raise ResourceError(f"semver: invalid initial_version: {e}") from None
        if name == "git":
            src = GitSource(
                uri=_required(source, "uri"), branch=_required(source, "branch"),
                file=check_relative(_required(source, "file"), "semver: source.file"),
                private_key=_text(source, "private_key"), username=_text(source, "username"),
                password=_text(source, "password"), git_user=_text(source, "git_user"),
                commit_message=_text(source, "commit_message"),
                skip_ssl_verification=flag(source, "skip_ssl_verification",
                                           "semver: source"))
            if src.file.split("/")[0] == ".git":
                raise ResourceError("semver: source.file may not be inside .git")
            try:
                return GitDriver(src, initial, timeout=self._git_timeout,
                                 scratch=self._scratch)
            except ResourceError as e:
                raise ResourceError(f"semver: {e}") from None
        if name == "file":
            if self._files_dir is None:
                raise ResourceError("semver: driver 'file' (headwater's own, for tests) is "
                                    "not enabled on this server: use driver 'git'")
            path = check_relative(_required(source, "path"), "semver: source.path")
            return FileDriver(self._files_dir, path, parse_version(initial))
        if name in _NOT_BUILT_IN or not name:
            shown = f"driver {name!r}" if name else "no driver (semver-resource's default is s3)"
            raise ResourceError(
                f"semver: {shown} is not built into headwater, which has "
                f"{' and '.join(DRIVERS)}; to keep it, declare concourse/semver-resource "
                "under resource_types and use that type")
        raise ResourceError(f"semver: unknown driver: {name!r} (use one of "
                            f"{', '.join(DRIVERS)})")


def _text(source: Mapping[str, Any], key: str) -> str | None:
    value = source.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ResourceError(f"semver: source.{key} must be a string, not "
                            f"{type(value).__name__}")
    return value


def _required(source: Mapping[str, Any], key: str) -> str:
    value = _text(source, key)
    if value is None:
        raise ResourceError(f"semver: source.{key} is required by driver "
                            f"{source.get('driver')!r}")
    return value


def _read_param_file(workdir: Path, path: Any) -> Semver:
    """The version in the put's `file` param: a file of the build's artifacts, which
    anything the build ran could have written (a link out of it is refused)."""
    if not isinstance(path, str):
        raise ResourceError(f"semver: params.file must be a path, not {type(path).__name__}")
    check_relative(path, "semver: params.file")
    try:
        data = confine.read_file(Beneath(workdir), path, limit=MAX_VERSION_FILE)
    except (FileNotFoundError, NotADirectoryError):
        artifact = path.split("/")[0]
        raise ResourceError(f"semver: params.file {path!r} does not exist: is {artifact!r} "
                            "an artifact of this build (a get or a task output) that "
                            "writes this file?") from None
    except confine.Refused as e:
        raise ResourceError(f"semver: params.file refused: {e}") from None
    word = first_token(data.decode(errors="replace"))
    if not word:
        raise ResourceError(f"semver: params.file {path!r} is empty: it must hold a version "
                            "such as 1.2.3")
    try:
        return parse_version(word)
    except InvalidSemver as e:
        raise ResourceError(f"semver: params.file {path!r} does not hold a semantic "
                            f"version: {e}") from None


def _write_files(dest: Path, number: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("number", "version"):
        (dest / name).write_text(number)  # no newline, as semver-resource's `in`
