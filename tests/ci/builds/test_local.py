"""The local executor: bubblewrap's sandbox (network, files, processes), and without it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.build.executor import ProcessSpec
from headwater.ci.build.local import LocalExecutor
from headwater.ci.plan import Plan
from headwater.ci.resources.netns import Allowed, NetworkPolicy
from headwater.ci.resources.process import find_bwrap
from tests.ci.builds.helpers import (
    RecordingDelegate,
    existing,
    make_ctx,
    pids_with,
    sh,
    sleeper,
)
from tests.logcapture import captured_log

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")


async def build(tmp_path: Path, plan: Plan, **ctx: Any) -> tuple[str, RecordingDelegate]:
    delegate = RecordingDelegate()
    status = await run_build(plan, ctx=make_ctx(tmp_path / "build", **ctx), delegate=delegate)
    return status, delegate


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers "hello"."""
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


CONNECT = ("python3 -c \"import socket,sys; s=socket.create_connection(('127.0.0.1', "
           "int(sys.argv[1])), timeout=3); print(s.recv(10).decode().strip())\" $PORT")


@needs_bwrap
async def test_a_task_has_no_network_unless_it_asks(tmp_path: Path, listener: int) -> None:
    offline = sh("offline", CONNECT, params={"PORT": listener})
    status, d = await build(tmp_path, offline)
    assert status == "failed"
    assert "ConnectionRefusedError" in d.log("offline", "stderr")

    # With network, the host's loopback is reached only where the server allows it.
    online = sh("online", CONNECT, params={"PORT": listener}, network=True)
    allowed = LocalExecutor(network=NetworkPolicy(allow=(Allowed("127.0.0.1", listener),)))
    status, d = await build(tmp_path, online, executor=allowed)
    assert status == "succeeded", d.log("online")
    assert d.log("online") == "hello\n"


@needs_bwrap
async def test_a_task_cannot_write_or_read_outside_its_directory(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    outside = tmp_path / "outside.txt"
    script = f"""
for target in /usr/hw-test /etc/hw-test /hw-test; do
  if touch "$target" 2>/dev/null; then echo "wrote $target"; else echo "refused $target"; fi
done
touch {outside} 2>/dev/null || true  # at most in the sandbox's own /tmp
cat {secret} 2>/dev/null || echo "cannot read the secret"
ls /root /home 2>/dev/null || echo "no /root, no /home"
touch mine && echo "wrote in my own directory"
"""
    status, d = await build(tmp_path, sh("escape", script))
    assert status == "succeeded"
    assert d.log("escape", "stdout").splitlines() == [
        "refused /usr/hw-test", "refused /etc/hw-test", "refused /hw-test",
        "cannot read the secret", "no /root, no /home",
        "wrote in my own directory"]
    assert existing(outside, Path("/usr/hw-test")) == []


@needs_bwrap
async def test_a_task_sees_only_its_own_processes(tmp_path: Path) -> None:
    status, d = await build(tmp_path, sh("ps", "ls /proc | grep -c '^[0-9]'"))
    assert status == "succeeded"
    assert int(d.log("ps")) <= 4  # bwrap's init, sh, ls, grep


@needs_bwrap
def test_the_sandbox_arguments(tmp_path: Path) -> None:
    executor = LocalExecutor()
    spec = ProcessSpec(argv=["make"], root=tmp_path, cwd=tmp_path / "src", env={})
    args = executor.sandbox_args(spec, masked=[])
    assert args[:3] == [executor.bwrap, "--die-with-parent", "--unshare-all"]
    assert "--share-net" not in args  # with network too: netns.py gives it its own
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[-8:] == ["--bind", str(tmp_path), str(tmp_path), "--remount-ro", "/",
                         "--chdir", str(tmp_path / "src"), "--"]
    privileged = executor.sandbox_args(ProcessSpec(argv=["x"], root=tmp_path, cwd=tmp_path,
                                                   env={}, network=True, privileged=True))
    assert "--share-net" not in privileged
    assert "--cap-drop" not in privileged
    # Masks: a tmpfs (read-only once the task's directory is bound) or /dev/null.
    masked = executor.sandbox_args(spec, masked=[("/etc/ssh", True), ("/etc/shadow", False)])
    assert masked[-10:] == ["--bind", str(tmp_path), str(tmp_path), "--remount-ro", "/",
                            "--remount-ro", "/etc/ssh", "--chdir", str(tmp_path / "src"), "--"]
    start = masked.index("--perms")
    assert masked[start:start + 7] == ["--perms", "0555", "--tmpfs", "/etc/ssh",
                                       "--ro-bind", "/dev/null", "/etc/shadow"]


async def test_without_bwrap_a_task_runs_as_a_plain_process_with_a_warning(
        tmp_path: Path) -> None:
    with captured_log() as log:
        executor = LocalExecutor(bwrap=None)
    assert "level=warning component=local-executor " in log.getvalue()
    assert "bubblewrap (bwrap) not found" in log.getvalue()
    status, d = await build(tmp_path, sh("plain", "echo $HOME; pwd"), executor=executor)
    assert status == "succeeded"
    home, cwd = d.log("plain").splitlines()
    assert home == cwd and "/build/.scratch/task-plain-" in cwd


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_background_processes_end_with_their_task(tmp_path: Path,
                                                        sandboxed: bool) -> None:
    if sandboxed and find_bwrap() is None:
        pytest.skip("bubblewrap is not installed")
    command, marker = sleeper()
    executor = LocalExecutor() if sandboxed else LocalExecutor(bwrap=None)
    status, d = await build(tmp_path, sh("bg", f"{command} & echo started"),
                            executor=executor)
    assert status == "succeeded"
    assert d.log("bg") == "started\n"
    assert pids_with(marker) == []


async def test_an_image_is_never_silently_replaced_by_the_host(tmp_path: Path) -> None:
    task = sh("img", "echo ran")
    assert task.config is not None
    task = task.model_copy(update={"config": {
        **task.config, "image_resource": {"type": "registry-image",
                                          "source": {"repository": "alpine"}}}})
    status, d = await build(tmp_path, task)  # an executor with no image cache
    assert status == "errored"
    assert d.log("img", "stdout") == ""
    assert any("image_resource: this server has no image cache" in e for e in d.errors())


async def test_without_bubblewrap_a_task_with_an_image_errors_never_runs_on_the_host(
        tmp_path: Path) -> None:
    task = sh("img", "echo ran")
    assert task.config is not None
    task = task.model_copy(update={"config": {**task.config, "rootfs_uri": "raw:///"}})
    status, d = await build(tmp_path, task, executor=LocalExecutor(bwrap=None))
    assert status == "errored"
    assert d.log("img") == ""
    assert any("install bubblewrap" in e for e in d.errors())
