"""The `semver` resource against real files and real git repositories (file:// bare
repositories in tmp_path): check, get with a local bump, put with a file or a bump,
the compare-and-swap when two puts race, and the errors a user can cause."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.semver import SemverResource
from headwater.ci.resources.semvergit import check_private_key, key_file
from headwater.ci.resources.types import ResourceTypes
from tests.ci.resources.semverhelpers import (
    branch_file,
    branch_log,
    init_bare,
    install_race_hook,
    push_branch,
)
from tests.ci.resources.test_script import Logs
from tests.gitseed import plain_git


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A bare repository whose branch `version` holds `version` = 1.0.0."""
    repo = init_bare(tmp_path / "repo.git")
    push_branch(f"file://{repo}", tmp_path / "seed", "version", {"version": "1.0.0\n"})
    return repo


def git_source(bare: Path, **more: Any) -> dict[str, Any]:
    return {"driver": "git", "uri": f"file://{bare}", "branch": "version", "file": "version",
            **more}


def workdir_with(tmp_path: Path, files: dict[str, str]) -> Path:
    work = tmp_path / "work"
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    work.mkdir(exist_ok=True)
    return work


# -- the file driver ------------------------------------------------------------------


async def test_file_driver_check_answers_initial_version_until_a_put_writes_one(
        tmp_path: Path) -> None:
    semver = SemverResource(files_dir=tmp_path / "files")
    source = {"driver": "file", "path": "app/version", "initial_version": "1.0.0"}
    assert await semver.check(source, None, log=Logs()) == [{"number": "1.0.0"}]
    fetched = await semver.put(source, {"bump": "minor"}, tmp_path, log=Logs())
    assert fetched.version == {"number": "1.1.0"}
    assert [(m.name, m.value) for m in fetched.metadata] == [("number", "1.1.0")]
    assert (tmp_path / "files" / "app" / "version").read_text() == "1.1.0\n"
    assert await semver.check(source, None, log=Logs()) == [{"number": "1.1.0"}]
    work = workdir_with(tmp_path, {"v/number": "2.0.0-rc.1"})
    fetched = await semver.put(source, {"file": "v/number"}, work, log=Logs())
    assert fetched.version == {"number": "2.0.0-rc.1"}
    assert await semver.check(source, None, log=Logs()) == [{"number": "2.0.0-rc.1"}]


async def test_file_driver_bumps_at_once_all_land(tmp_path: Path) -> None:
    semver = SemverResource(files_dir=tmp_path)
    source = {"driver": "file", "path": "version"}
    results = await asyncio.gather(*(semver.put(source, {"bump": "patch"}, tmp_path,
                                                log=Logs()) for _ in range(8)))
    assert sorted(r.version["number"] for r in results) == [f"0.0.{i}" for i in range(1, 9)]
    assert (tmp_path / "version").read_text() == "0.0.8\n"


async def test_the_file_driver_is_off_on_a_server_and_stays_inside_its_directory(
        tmp_path: Path) -> None:
    builtin = ResourceTypes.default().resolve("semver")
    with pytest.raises(ResourceError, match=r"driver 'file' .* is not enabled on this server"):
        await builtin.check({"driver": "file", "path": "/etc/passwd"}, None, log=Logs())
    semver = SemverResource(files_dir=tmp_path / "files")
    for path in ("/etc/passwd", "../outside", "a/../../outside"):
        with pytest.raises(ResourceError, match="must be a relative path inside"):
            await semver.check({"driver": "file", "path": path}, None, log=Logs())


async def test_a_version_file_linking_out_is_refused_never_read_nor_written(
        tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    secret = tmp_path / "host-secret"
    secret.write_text("9.9.9-hostsecret\n")
    (files / "version").symlink_to(secret)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (files / "sub").symlink_to(elsewhere)
    semver = SemverResource(files_dir=files)
    with pytest.raises(ResourceError) as read:
        await semver.check({"driver": "file", "path": "version"}, None, log=Logs())
    assert "hostsecret" not in str(read.value)
    assert "absolute path" in str(read.value)
    with pytest.raises(ResourceError, match="symbolic link"):
        await semver.put({"driver": "file", "path": "sub/version"}, {"bump": "major"},
                         tmp_path, log=Logs())
    assert list(elsewhere.iterdir()) == []
    assert secret.read_text() == "9.9.9-hostsecret\n"


# -- get ------------------------------------------------------------------------------


async def test_get_bumps_locally_into_version_and_number_files(tmp_path: Path) -> None:
    semver = SemverResource()
    log = Logs()
    dest = tmp_path / "dest"
    fetched = await semver.get({"driver": "git"}, {"number": "1.0.0-rc.1"},
                               {"bump": "final"}, dest, log=log)
    # the resource's version is unchanged: only the files hold the bumped one
    assert fetched.version == {"number": "1.0.0-rc.1"}
    assert [(m.name, m.value) for m in fetched.metadata] == [("number", "1.0.0-rc.1")]
    assert (dest / "version").read_text() == "1.0.0"
    assert (dest / "number").read_text() == "1.0.0"
    assert log.text == "bumped locally from 1.0.0-rc.1 to 1.0.0\n"

    plain = tmp_path / "plain"
    await semver.get({}, {"number": "2.3.4"}, {}, plain, log=log)
    assert (plain / "version").read_text() == "2.3.4"

    with pytest.raises(ResourceError, match="not a semantic version: 'v1' has no MAJOR"):
        await semver.get({}, {"number": "v1"}, {}, tmp_path / "bad", log=log)


# -- the git driver, file:// ------------------------------------------------------------


async def test_git_check_reads_the_file_on_the_branch(bare: Path, tmp_path: Path) -> None:
    semver = SemverResource()
    assert await semver.check(git_source(bare), None, log=Logs()) == [{"number": "1.0.0"}]
    # no file yet on the branch: initial_version
    missing = git_source(bare, file="deep/VERSION", initial_version="0.3.0")
    assert await semver.check(missing, None, log=Logs()) == [{"number": "0.3.0"}]


async def test_git_check_from_a_cursor_walks_the_files_history(bare: Path,
                                                               tmp_path: Path) -> None:
    for v in ("1.2.3", "1.2.5", "2.0.0"):
        push_branch(f"file://{bare}", tmp_path / "seed", "version", {"version": f"{v}\n"})
        push_branch(f"file://{bare}", tmp_path / "seed", "version", {"other": v})
    semver = SemverResource()

    async def since(cursor: str | None) -> list[str]:
        version = {"number": cursor} if cursor else None
        return [v["number"] for v in await semver.check(git_source(bare), version, log=Logs())]

    assert await since(None) == ["2.0.0"]
    assert await since("2.0.0") == ["2.0.0"]
    assert await since("1.2.4") == ["1.2.5", "2.0.0"]
    assert await since("1.2.3") == ["1.2.3", "1.2.5", "2.0.0"]
    assert await since("0.1.0") == ["1.0.0", "1.2.3", "1.2.5", "2.0.0"]
    log = Logs()
    assert await semver.check(git_source(bare), {"number": "junk"}, log=log) == [
        {"number": "2.0.0"}]
    assert "skipping invalid current version" in log.text


async def test_git_put_bump_commits_and_pushes_as_semver_resource(bare: Path,
                                                                  tmp_path: Path) -> None:
    semver = SemverResource(scratch=tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    log = Logs()
    fetched = await semver.put(git_source(bare), {"bump": "patch"}, tmp_path, log=log)
    assert fetched.version == {"number": "1.0.1"}
    assert branch_file(bare, "version", "version") == "1.0.1"
    assert branch_log(bare, "version", "%s|%an <%ae>|%cn <%ce>")[0] == \
        "bump to 1.0.1|git <git@localhost>|git <git@localhost>"
    assert "bumped the version to 1.0.1" in log.text
    assert list((tmp_path / "scratch").iterdir()) == []  # clone and all removed

    source = git_source(bare, commit_message="release %version% (%file%) [ci skip]",
                        git_user="Gogh Fir <gf@example.com>")
    fetched = await semver.put(source, {"bump": "minor", "pre": "rc"}, tmp_path, log=log)
    assert fetched.version == {"number": "1.1.0-rc.1"}
    assert branch_log(bare, "version", "%s|%an <%ae>")[0] == \
        "release 1.1.0-rc.1 (version) [ci skip]|Gogh Fir <gf@example.com>"
    await semver.put(git_source(bare, git_user="ci@example.com"), {"bump": "final"},
                     tmp_path, log=log)
    assert branch_log(bare, "version", "%s|%an <%ae>")[0] == "bump to 1.1.0|git <ci@example.com>"


async def test_git_put_file_sets_the_version_and_an_equal_one_is_not_committed(
        bare: Path, tmp_path: Path) -> None:
    semver = SemverResource()
    before = len(branch_log(bare, "version"))
    work = workdir_with(tmp_path, {"version/version": "1.0.0\n"})
    fetched = await semver.put(git_source(bare), {"file": "version/version"}, work,
                               log=Logs())
    assert fetched.version == {"number": "1.0.0"}
    assert len(branch_log(bare, "version")) == before  # nothing to commit
    (work / "version" / "version").write_text("3.1.4 \n")
    fetched = await semver.put(git_source(bare, file="sub/dir/VERSION"),
                               {"file": "version/version"}, work, log=Logs())
    assert fetched.version == {"number": "3.1.4"}
    assert branch_file(bare, "version", "sub/dir/VERSION") == "3.1.4"


async def test_put_get_latest_answers_the_current_version_and_writes_nothing(
        bare: Path, tmp_path: Path) -> None:
    before = branch_log(bare, "version")
    fetched = await SemverResource().put(git_source(bare), {"get_latest": True,
                                                            "bump": "major"},
                                         tmp_path, log=Logs())
    assert fetched.version == {"number": "1.0.0"}
    assert branch_log(bare, "version") == before


async def test_two_puts_at_once_both_land_the_second_retried(bare: Path,
                                                            tmp_path: Path) -> None:
    pushes = install_race_hook(bare, tmp_path / "marks")
    semver = SemverResource()
    a, b = await asyncio.gather(
        semver.put(git_source(bare), {"bump": "patch"}, tmp_path, log=Logs()),
        semver.put(git_source(bare), {"bump": "patch"}, tmp_path, log=Logs()))
    assert sorted([a.version["number"], b.version["number"]]) == ["1.0.1", "1.0.2"]
    assert branch_file(bare, "version", "version") == "1.0.2"
    assert branch_log(bare, "version")[:2] == ["bump to 1.0.2", "bump to 1.0.1"]
    # two pushes raced at the hook, one was refused and pushed again
    assert (tmp_path / "marks" / "second").is_dir()
    assert pushes.read_text().splitlines() == ["refs/heads/version"] * 3


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ({"driver": "nope"}, "semver: unknown driver: 'nope' (use one of git, file)"),
    ({"driver": "s3", "bucket": "b"}, "semver: driver 's3' is not built into headwater"),
    ({}, "semver: no driver (semver-resource's default is s3) is not built into headwater"),
    ({"driver": "git", "branch": "version", "file": "version"},
     "semver: source.uri is required by driver 'git'"),
    ({"driver": "git", "uri": "file:///x", "branch": "v", "file": ".git/config"},
     "semver: source.file may not be inside .git"),
    ({"driver": "git", "uri": "file:///x", "branch": "v", "file": "../up"},
     "semver: source.file '../up' must be a relative path"),
    ({"driver": "git", "uri": "file:///x", "branch": "v", "file": "v",
      "initial_version": "1.0"}, "semver: invalid initial_version: '1.0' has no MAJOR"),
    ({"driver": "git", "uri": "file:///x", "branch": "v", "file": "v",
      "skip_ssl_verification": "false"},
     "semver: source.skip_ssl_verification must be true or false, not 'false'"),
    ({"driver": "git", "uri": "file:///x", "branch": "v", "file": "v", "git_user": "nobody"},
     "semver: git_user 'nobody' is not an address"),
])
async def test_a_bad_source_says_what_to_fix(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ResourceError) as e:
        await SemverResource().check(source, None, log=Logs())
    assert str(e.value).startswith(message)


async def test_a_bad_version_in_the_repository_names_the_file_and_branch(
        bare: Path, tmp_path: Path) -> None:
    push_branch(f"file://{bare}", tmp_path / "seed", "version", {"version": "v1.2\n"})
    for call in (SemverResource().check(git_source(bare), None, log=Logs()),
                 SemverResource().put(git_source(bare), {"bump": "patch"}, tmp_path,
                                      log=Logs())):
        with pytest.raises(ResourceError) as e:
            await call
        assert str(e.value) == (f"semver: file 'version' on branch 'version' of file://{bare} "
                                "does not hold a semantic version: 'v1.2' has no "
                                "MAJOR.MINOR.PATCH")


async def test_a_missing_branch_says_to_create_it(bare: Path) -> None:
    with pytest.raises(ResourceError, match=r"semver: branch 'nope' does not exist in "
                                            r"file://.*: create it with the version file"):
        await SemverResource().check(git_source(bare, branch="nope"), None, log=Logs())


@pytest.mark.parametrize(("params", "files", "message"), [
    ({}, {}, "semver: no version bump specified: a put needs params `file`"),
    ({"file": "version/version"}, {}, "semver: params.file 'version/version' does not exist"),
    ({"file": "version/version"}, {"version/version": "\n"},
     "semver: params.file 'version/version' is empty"),
    ({"file": "version/version"}, {"version/version": "1.2.3.4"},
     "semver: params.file 'version/version' does not hold a semantic version"),
    ({"file": "/etc/hostname"}, {}, "semver: params.file '/etc/hostname' must be a relative"),
    ({"bump": "sideways"}, {}, "params.bump is 'sideways': use one of major"),
])
async def test_a_bad_put_says_what_to_fix(bare: Path, tmp_path: Path, params: dict[str, Any],
                                          files: dict[str, str], message: str) -> None:
    work = workdir_with(tmp_path, files)
    with pytest.raises(ResourceError) as e:
        await SemverResource().put(git_source(bare), params, work, log=Logs())
    assert str(e.value).startswith(message)
    assert branch_file(bare, "version", "version") == "1.0.0"


async def test_a_put_file_linking_out_of_the_build_is_refused_unread(
        bare: Path, tmp_path: Path) -> None:
    # A task left version/version as a link to a host file: it is not followed.
    host = tmp_path / "host-file"
    host.write_text("7.7.7-fromthehost\n")
    work = workdir_with(tmp_path, {})
    (work / "version").mkdir()
    (work / "version" / "version").symlink_to(host)
    with pytest.raises(ResourceError) as e:
        await SemverResource().put(git_source(bare), {"file": "version/version"}, work,
                                   log=Logs())
    assert "refused" in str(e.value)
    assert "fromthehost" not in str(e.value)
    assert branch_file(bare, "version", "version") == "1.0.0"


async def test_a_version_file_linking_out_of_the_clone_is_neither_read_nor_written(
        bare: Path, tmp_path: Path) -> None:
    # Whoever can push to the repository makes the version file a link to a host path.
    host = tmp_path / "host-secret"
    host.write_text("6.6.6-hostsecret\n")
    seed = tmp_path / "seed"
    plain_git("rm", "-q", "version", cwd=seed)
    os.symlink(host, seed / "version")
    push_branch(f"file://{bare}", seed, "version", {}, message="link")
    source = git_source(bare)
    for call in (SemverResource().check(source, None, log=Logs()),
                 SemverResource().put(source, {"bump": "patch"}, tmp_path, log=Logs())):
        with pytest.raises(ResourceError) as e:
            await call
        assert "hostsecret" not in str(e.value)
        assert "symbolic link" in str(e.value)
    assert host.read_text() == "6.6.6-hostsecret\n"


def test_an_encrypted_or_broken_private_key_is_refused_without_quoting_it(
        tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a-passphrase", "-f", str(key)],
                   check=True)
    with pytest.raises(ResourceError, match="private keys with passphrases are not supported"):
        check_private_key(key.read_text())
    broken = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ib2R5\n" \
             "-----END OPENSSH PRIVATE KEY-----\n"
    for text in (broken, "c2VjcmV0LWtleS1ib2R5"):
        with pytest.raises(ResourceError) as e:
            check_private_key(text)
        assert "c2VjcmV0" not in str(e.value)
        assert "not a private key ssh can use" in str(e.value)


def test_the_private_key_file_is_0600_and_removed_after(tmp_path: Path) -> None:
    with key_file(tmp_path, b"KEY\n") as path:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_bytes() == b"KEY\n"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), key_file(tmp_path, b"KEY\n"):
        raise RuntimeError("a failed git command")
    assert list(tmp_path.iterdir()) == []


async def test_a_password_never_shows_in_an_error(tmp_path: Path) -> None:
    source = {"driver": "git", "uri": "http://127.0.0.1:9/repo.git", "branch": "version",
              "file": "version", "username": "ci", "password": "pw-s3cr3t-value"}
    with_url = {**source, "uri": "http://ci:url-s3cr3t@127.0.0.1:9/repo.git"}
    for src in (source, with_url):
        with pytest.raises(ResourceError) as e:
            await SemverResource().check(src, None, log=Logs())
        assert "s3cr3t" not in str(e.value)
        assert "semver: could not read file 'version' on branch 'version' of http://" \
            in str(e.value)
