"""The one way the CI engine runs a child process (resource scripts, local tasks).

A process starts in its own session, so it leads a process group that can be
signalled as a whole. Its stdout and stderr are decoded (UTF-8, bad bytes
replaced) and handed to callbacks as text, chunk by chunk, in the order they came.
It is never left behind:

- cancelling the coroutine sends SIGTERM to the group, SIGKILL after `kill_grace`
  seconds, waits for the process, and re-raises the cancellation (a second
  cancellation while waiting sends SIGKILL at once);
- when the main process exits while processes it started still hold its pipes
  (`sleep 100 &`), the group is killed after `drain` seconds: a task's background
  jobs end with it.

The exit is watched through the protocol's `process_exited`, not `Process.wait()`,
which on Python 3.11 also waits for the pipes to close. The argument list goes to
exec as is: never a shell string.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from headwater import log as hwlog

_log = hwlog.get("process")

Output = Callable[[str], Awaitable[None]]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_PAUSE_AT = 256  # chunks waiting for a slow callback: stop reading the pipes
_RESUME_AT = 32


async def run_process(argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str],
                      stdout: Output, stderr: Output, stdin: bytes | None = None,
                      kill_grace: float = 10.0, drain: float = 1.0,
                      pass_fds: Sequence[int] = (),
                      preexec: Callable[[], None] | None = None) -> int:
    """Run `argv` to its end; answer its exit status (128 + N when killed by signal N).
    `pass_fds` stay open in the process (bubblewrap's --info-fd and --block-fd);
    `preexec` runs in the child before it execs (joining a cgroup: cgroups.py)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _Protocol(loop, {1: stdout, 2: stderr}), *argv, cwd=cwd, env=dict(env),
        start_new_session=True, preexec_fn=preexec, pass_fds=tuple(pass_fds),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL)
    pgid = transport.get_pid()
    consumer = asyncio.ensure_future(protocol.consume())
    try:
        protocol.feed(stdin)
        await asyncio.wait({protocol.exited, consumer}, return_when=asyncio.FIRST_COMPLETED)
        if consumer.done():
            consumer.result()  # a callback failed: raise it (the process is stopped below)
        await protocol.exited
        await _drain(pgid, consumer, drain)
    except BaseException:
        consumer.cancel()
        await _stop_shielded(pgid, protocol.exited, kill_grace)
        raise
    finally:
        transport.close()
    code = transport.get_returncode()
    assert code is not None
    return 128 - code if code < 0 else code


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, sinks: dict[int, Output]) -> None:
        self.transport: asyncio.SubprocessTransport | None = None
        self.exited: asyncio.Future[None] = loop.create_future()
        self._sinks = sinks
        self._decoders = {fd: codecs.getincrementaldecoder("utf-8")(errors="replace")
                          for fd in sinks}
        self._open = set(sinks)
        self._queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def feed(self, data: bytes | None) -> None:
        pipe = self.transport.get_pipe_transport(0) if self.transport else None
        if data is None or pipe is None:
            return
        assert isinstance(pipe, asyncio.WriteTransport)
        # A process that exits without reading its stdin is not an error of ours.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            pipe.write(data)
            pipe.close()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self._put(fd, self._decoders[fd].decode(raw))
        if self._queue.qsize() >= _PAUSE_AT and not self._paused:
            self._set_reading(pause=True)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd in self._open:
            self._put(fd, self._decoders[fd].decode(b"", final=True))
            self._open.discard(fd)
            if not self._open:
                self._queue.put_nowait(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    async def consume(self) -> None:
        """Hand the output to the callbacks until both pipes are closed."""
        while (item := await self._queue.get()) is not None:
            fd, text = item
            await self._sinks[fd](text)
            if self._paused and self._queue.qsize() <= _RESUME_AT:
                self._set_reading(pause=False)

    def _put(self, fd: int, text: str) -> None:
        if text:
            self._queue.put_nowait((fd, text))

    def _set_reading(self, *, pause: bool) -> None:
        self._paused = pause
        for fd in self._sinks:
            pipe = self.transport.get_pipe_transport(fd) if self.transport else None
            if not isinstance(pipe, asyncio.ReadTransport) or pipe.is_closing():
                continue
            if pause:
                pipe.pause_reading()
            else:
                pipe.resume_reading()


async def _drain(pgid: int, consumer: asyncio.Future[None], seconds: float) -> None:
    """The process exited: read what is left; kill what still holds its pipes."""
    try:
        await asyncio.wait_for(asyncio.shield(consumer), seconds)
    except TimeoutError:
        signal_group(pgid, signal.SIGKILL)
    else:
        return
    try:
        await asyncio.wait_for(asyncio.shield(consumer), seconds)
    except TimeoutError:
        # Something left the process group (setsid) and still holds the pipe.
        _log.warning("output still open after its end; not read further", pgid=pgid)
        consumer.cancel()


async def _stop(pgid: int, exited: asyncio.Future[None], grace: float) -> None:
    if not exited.done():
        signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), grace)
    signal_group(pgid, signal.SIGKILL)  # whatever of the group is left
    await exited


async def _stop_shielded(pgid: int, exited: asyncio.Future[None], grace: float) -> None:
    stopper = asyncio.ensure_future(_stop(pgid, exited, grace))
    try:
        await asyncio.shield(stopper)
    except asyncio.CancelledError:
        signal_group(pgid, signal.SIGKILL)
        raise


def find_bwrap() -> str | None:
    """bubblewrap, which sandboxes tasks and image resource types; None without it."""
    found = shutil.which("bwrap")
    if found:
        return found
    return "/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
