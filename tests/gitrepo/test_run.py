"""The git runner: deadlines that leave no process behind, and messages without secrets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from headwater.devstack import StackInfo
from headwater.gitrepo import Checkout, GitAuth, GitError, GitOutputTooLarge, GitTimeout, git
from tests.gitrepo.procs import children, mentioning

TOKEN = "hw-tok-" + uuid.uuid4().hex


@dataclass
class Held:
    """A connection the test holds open: `connected` once the request is read, and the
    reply is sent only when the test sets `release`."""

    port: int
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[bytes] = field(default_factory=list)


@contextlib.asynccontextmanager
async def holding_server(reply: bytes = b"") -> AsyncIterator[Held]:
    """A TCP server on 127.0.0.1 that never speaks first (git and ssh wait on it);
    with a `reply`, it reads an HTTP request head and answers once released."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            held.requests.append(await reader.readuntil(b"\r\n\r\n") if reply else b"")
            held.connected.set()
            if not reply:
                await reader.read()  # until the client is killed
            await held.release.wait()
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    held = Held(port=server.sockets[0].getsockname()[1])
    try:
        yield held
    finally:
        held.release.set()
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_git_returns_stdout(tmp_path: Path) -> None:
    out = await git("init", "--quiet", "--initial-branch=trunk", str(tmp_path / "r"), timeout=10)
    assert out == ""
    assert await git("symbolic-ref", "HEAD", cwd=tmp_path / "r", timeout=10) == "refs/heads/trunk\n"


async def test_a_failure_names_the_command_and_gits_words(tmp_path: Path) -> None:
    with pytest.raises(GitError) as failed:
        await git("rev-parse", "--verify", "no-such-rev", cwd=tmp_path, timeout=10)
    assert failed.value.command == ["git", "rev-parse", "--verify", "no-such-rev"]
    assert failed.value.returncode == 128
    assert "not a git repository" in failed.value.stderr
    assert str(failed.value).startswith(f"git rev-parse in {tmp_path} failed: fatal: not a git")


async def test_output_past_the_bound_kills_git_and_says_so(tmp_path: Path) -> None:
    # A blob a pusher made large: `git cat-file` would stream it all into memory.
    repo = tmp_path / "r"
    await git("init", "--quiet", str(repo), timeout=10)
    big = repo / "big"
    big.write_bytes(b"x" * (4 * 1024 * 1024))
    blob = (await git("hash-object", "-w", "big", cwd=repo, timeout=10)).strip()
    before = children()
    with pytest.raises(GitOutputTooLarge,
                       match=rf"git cat-file in {repo} failed: its output is over 65536 bytes"):
        await git("cat-file", "blob", blob, cwd=repo, timeout=10, max_output=65536)
    assert children() - before == set()
    assert mentioning(blob) == []
    # Under the bound, or with none, all of it.
    whole = await git("cat-file", "blob", blob, cwd=repo, timeout=10, max_output=5 * 1024 * 1024)
    assert len(whole) == 4 * 1024 * 1024
    assert len(await git("cat-file", "blob", blob, cwd=repo, timeout=10)) == 4 * 1024 * 1024


async def test_inherited_git_dir_does_not_redirect_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await git("init", "--quiet", str(tmp_path / "mine"), timeout=10)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    top = await git("rev-parse", "--show-toplevel", cwd=tmp_path / "mine", timeout=10)
    assert top.strip() == str(tmp_path / "mine")


async def test_a_clone_past_its_deadline_is_killed_and_leaves_no_process(
    stack: StackInfo, git_repo: str, tmp_path: Path
) -> None:
    before = children()
    target = tmp_path / f"wc-{uuid.uuid4().hex}"
    with pytest.raises(GitTimeout, match=r"git clone of branch 'main' .* timed out after 0.001s"):
        await Checkout(stack.git.git_url(git_repo), "main", target, timeout=0.001).sync()
    assert children() - before == set()
    assert mentioning(str(target)) == []


async def test_a_hung_ssh_server_times_out_and_git_and_ssh_are_both_gone(
    stack: StackInfo, tmp_path: Path
) -> None:
    repo = f"hang-{uuid.uuid4().hex}.git"
    before = children()
    async with holding_server() as held:
        wc = Checkout(f"ssh://git@127.0.0.1:{held.port}/{repo}", "main", tmp_path / "wc",
                      auth=GitAuth(ssh_key=stack.git.deploy_key), timeout=1.5)
        sync = asyncio.ensure_future(wc.sync())
        await asyncio.wait_for(held.connected.wait(), 10)
        assert any(b"ssh" in cmd for cmd in mentioning(repo))  # ssh is running, stuck
        with pytest.raises(GitTimeout, match=r"timed out after 1.5s"):
            await sync
        assert mentioning(repo) == []
        assert children() - before == set()


async def test_a_cancelled_sync_kills_git_before_the_cancellation_returns(
    tmp_path: Path
) -> None:
    repo = f"hang-{uuid.uuid4().hex}.git"
    async with holding_server() as held:
        wc = Checkout(f"git://127.0.0.1:{held.port}/{repo}", "main", tmp_path / "wc", timeout=60)
        sync = asyncio.ensure_future(wc.sync())
        await asyncio.wait_for(held.connected.wait(), 10)
        assert mentioning(repo) != []
        sync.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sync
        assert mentioning(repo) == []


async def test_the_token_travels_as_a_header_and_never_in_argv(tmp_path: Path) -> None:
    reply = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with holding_server(reply) as held:
        url = f"http://127.0.0.1:{held.port}/org/app.git"
        wc = Checkout(url, "main", tmp_path / "wc", auth=GitAuth(token=TOKEN), timeout=20)
        sync = asyncio.ensure_future(wc.sync())
        await asyncio.wait_for(held.connected.wait(), 10)
        running = mentioning(f"127.0.0.1:{held.port}")
        assert running  # git and git-remote-http, both waiting for the reply
        assert all(TOKEN.encode() not in cmd for cmd in running)
        held.release.set()
        with pytest.raises(GitError) as refused:
            await sync
    request = held.requests[0].decode()
    assert request.startswith("GET /org/app.git/info/refs?service=git-upload-pack ")
    assert GitAuth(token=TOKEN).env(url)["GIT_CONFIG_VALUE_0"] in request
    assert TOKEN not in str(refused.value)
    assert "403" in str(refused.value)


async def test_an_unreachable_https_remote_does_not_reveal_the_token(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"https://x-access-token:{TOKEN}@127.0.0.1:{port}/org/app.git"
    wc = Checkout(url, "main", tmp_path / "wc", auth=GitAuth(token=TOKEN))
    with pytest.raises(GitError) as failed:
        await wc.sync()
    error = failed.value
    assert f"https://x-access-token:***@127.0.0.1:{port}/org/app.git" in str(error)
    assert "Failed to connect" in str(error)
    for text in (str(error), error.stderr, *error.command):
        assert TOKEN not in text
