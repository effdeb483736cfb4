"""The git resource over ssh against the stack's git server, with the private key
given in the source as a string, as pipelines do (`private_key: ((deploy_key))`).

Also where the secrets go: never in an error message, never in any process's argv
(watched in /proc while the resource works), never left on disk after."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.git import GitResource
from headwater.devstack import StackInfo
from tests.gitseed import Seed, plain_git, push_url

pytestmark = pytest.mark.stack


async def log(_: str) -> None:
    pass


@pytest.fixture
def seed(stack: StackInfo, git_repo: str, tmp_path: Path) -> Seed:
    return Seed(stack, git_repo, tmp_path / "seed")


def source(stack: StackInfo, repo: str, **extra: Any) -> dict[str, Any]:
    return {"uri": push_url(stack, repo), "branch": "main",
            "private_key": stack.git.deploy_key.read_text(),
            "known_hosts": stack.git.known_hosts.read_text(), **extra}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    directory = tmp_path / "scratch"
    directory.mkdir()
    return directory


@pytest.fixture
def git(tmp_path: Path, scratch: Path) -> GitResource:
    return GitResource(cache_dir=tmp_path / "cache", scratch=scratch)


@contextmanager
def argv_watch() -> Iterator[list[bytes]]:
    """Every command line seen in /proc while the block runs (polled without pause)."""
    seen: list[bytes] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    with suppress(OSError):
                        seen.append(Path(f"/proc/{pid}/cmdline").read_bytes())

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()


def encrypted_copy(key: Path, directory: Path, passphrase: str) -> str:
    """The deploy key protected by `passphrase` (made by the test with ssh-keygen)."""
    copy = directory / "encrypted_key"
    shutil.copy(key, copy)
    copy.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", passphrase, "-f", str(copy)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    text = copy.read_text()
    copy.unlink()
    return text


def new_key(path: Path) -> tuple[str, str]:
    """A fresh ed25519 key: (private key text, "ssh-ed25519 <data>")."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    pub = " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])
    return path.read_text(), pub


async def test_check_get_put_over_ssh_with_a_key_in_the_source(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    first = seed.commit({"app.txt": "1"})
    second = seed.commit({"app.txt": "2"})
    src = source(stack, git_repo)
    assert await git.check(src, {"ref": first}, log=log) == [{"ref": first}, {"ref": second}]
    dest = tmp_path / "work" / "repo"
    await git.get(src, {"ref": second}, {}, dest, log=log)
    assert (dest / "app.txt").read_text() == "2"
    (dest / "app.txt").write_text("3")
    plain_git("commit", "-qam", "from the build", cwd=dest)
    fetched = await git.put(src, {"repository": "repo", "rebase": True}, dest.parent,
                            log=log)
    assert fetched.version["ref"] == plain_git("rev-parse", "HEAD", cwd=dest)
    assert os.listdir(tmp_path / "scratch") == []  # key files gone


async def test_a_key_with_a_passphrase_is_decrypted_without_argv_or_leftovers(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    passphrase = "correct horse battery staple 42"
    key = encrypted_copy(stack.git.deploy_key, tmp_path, passphrase)
    head = seed.commit({"a": "1"})
    src = source(stack, git_repo, private_key=key, private_key_passphrase=passphrase)
    with argv_watch() as seen:
        assert await git.check(src, None, log=log) == [{"ref": head}]
    assert any(b"ssh-keygen" in line for line in seen)  # the watch saw the work
    assert any(b"git" in line for line in seen)
    body = key.strip().splitlines()[1].encode()
    for line in seen:
        assert passphrase.encode() not in line
        assert body not in line
    assert os.listdir(tmp_path / "scratch") == []


async def test_a_wrong_passphrase_is_named_and_not_shown(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    key = encrypted_copy(stack.git.deploy_key, tmp_path, "the right one")
    seed.commit({"a": "1"})
    src = source(stack, git_repo, private_key=key, private_key_passphrase="a wrong one")
    with pytest.raises(ResourceError) as info:
        await git.check(src, None, log=log)
    message = str(info.value)
    assert "source.private_key could not be decrypted with source.private_key_passphrase" \
        in message
    assert "a wrong one" not in message and "the right one" not in message
    # and without the passphrase at all
    with pytest.raises(ResourceError, match=r"set source\.private_key_passphrase"):
        await git.check(source(stack, git_repo, private_key=key), None, log=log)


async def test_a_bad_private_key_is_named_and_not_shown(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource) -> None:
    seed.commit({"a": "1"})
    garbage = ("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n"
               "-----END OPENSSH PRIVATE KEY-----")
    with pytest.raises(ResourceError) as info:
        await git.check(source(stack, git_repo, private_key=garbage), None, log=log)
    message = str(info.value)
    assert "source.private_key is not a usable private key" in message
    assert "c2VjcmV0" not in message


async def test_a_key_the_server_refuses_fails_naming_the_remote(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    seed.commit({"a": "1"})
    private, _ = new_key(tmp_path / "other")
    src = source(stack, git_repo, private_key=private)
    with pytest.raises(ResourceError) as info:
        await git.check(src, None, log=log)
    message = str(info.value)
    assert f"git resource ({push_url(stack, git_repo)})" in message
    assert "Permission denied" in message
    assert private.splitlines()[1] not in message


async def test_an_unreachable_host_fails_naming_the_remote(
        stack: StackInfo, git: GitResource) -> None:
    uri = "ssh://git@127.0.0.1:1/nothing.git"
    src = {"uri": uri, "private_key": stack.git.deploy_key.read_text()}
    with pytest.raises(ResourceError) as info:
        await git.check(src, None, log=log)
    assert f"git resource ({uri})" in str(info.value)
    assert "Connection refused" in str(info.value)
    assert stack.git.deploy_key.read_text().splitlines()[1] not in str(info.value)


async def test_host_keys_are_learnt_on_first_use_then_held(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    seed.commit({"a": "1"})
    src = source(stack, git_repo)
    del src["known_hosts"]
    assert len(await git.check(src, None, log=log)) == 1  # first use: accepted, kept
    [learned] = (tmp_path / "cache").glob("*.known_hosts")
    server_key = " ".join(stack.git.known_hosts.read_text().split()[1:3])
    assert server_key in learned.read_text()
    # the server's key changes (here: the learnt one is replaced): refused
    _, pub = new_key(tmp_path / "fake")
    host = learned.read_text().split()[0]
    learned.write_text(f"{host} {pub}\n")
    with pytest.raises(ResourceError, match="Host key verification failed"):
        await git.check(src, None, log=log)


async def test_a_wrong_known_hosts_in_the_source_is_refused(
        stack: StackInfo, git_repo: str, seed: Seed, git: GitResource,
        tmp_path: Path) -> None:
    seed.commit({"a": "1"})
    _, pub = new_key(tmp_path / "fake")
    host = stack.git.known_hosts.read_text().split()[0]
    src = source(stack, git_repo, known_hosts=f"{host} {pub}\n")
    with pytest.raises(ResourceError, match="Host key verification failed"):
        await git.check(src, None, log=log)
