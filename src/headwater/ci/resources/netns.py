"""The network of a sandbox that asks for one: the outside world, not the host's loopback.

A task with `network: true` and every resource-type script run from an image talk
to registries and Git servers. They must not reach what listens on the host's
127.0.0.1 (the CI API, etcd, the kubelet, the database), except an allow-list the
server is given (`headwater server --task-allow HOST:PORT`; the local stack's Git
daemon, sshd and registry by default). The design, the simplest that can be shown
to hold:

- bubblewrap unshares the network namespace as for an offline sandbox (`--unshare-all`:
  only the sandbox's own loopback). `--info-fd` tells us the sandbox's pid and
  `--block-fd` holds the sandbox before it runs anything;
- a short helper (netns_helper.py, run through `nsenter --net`) waits in the
  namespace until bwrap has set up its loopback (slirp4netns also touches `lo`: run
  concurrently, bwrap fails), then makes each allowed HOST:PORT (a loopback address
  of the host) listen at the same HOST:PORT inside the namespace and passes the
  sockets back over a Unix socket; the server accepts on them and relays each
  connection to the host's HOST:PORT. URLs such as `git://127.0.0.1:9418/app` work
  unchanged inside the sandbox, and only those ports lead to the host;
- then `slirp4netns --configure --disable-host-loopback` gives that namespace a `tap0`
  (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3): a user-mode TCP/IP stack whose
  connections are ordinary sockets of the slirp4netns process on the host. Any
  address of the outside world is reachable; `--disable-host-loopback` refuses the
  one door to the host's loopback (10.0.2.2 means the host's 127.0.0.1 otherwise),
  and 127.0.0.1 inside the namespace is the sandbox's own. A host service bound to
  127.0.0.1 is therefore unreachable; one bound to 0.0.0.0 or to a host address is
  reachable at that address, as it is from any machine of that network.
  slirp4netns runs with its own `--enable-sandbox --enable-seccomp` and exits when
  we close its `--exit-fd` (or when headwater dies);
- `/etc/resolv.conf` inside is the host's with slirp4netns's resolver (10.0.2.3,
  which forwards to the host's first nameserver, also a loopback one);
- then the sandbox is released. When it ends, the relays and slirp4netns stop.

One entry point, `run_sandboxed`, serves the local task executor and the image
resource types: both build their bwrap argument list and let this module add the
network to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import socket
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from headwater import log as hwlog
from headwater.errors import HeadwaterError

_log = hwlog.get("sandbox-net")

T = TypeVar("T")

SLIRP_DNS = "10.0.2.3"
_RESOLV = "/etc/resolv.conf"
_HELPER = Path(__file__).with_name("netns_helper.py")
_STOP_GRACE = 5.0
_READY_WITHIN = 30.0


class NetworkError(HeadwaterError):
    """The sandbox's network could not be set up; the message says what to do."""


@dataclass(frozen=True)
class Allowed:
    """A host loopback service a sandbox may reach, at the same address inside."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_allowed(text: str) -> Allowed:
    """`127.0.0.1:5000`, `localhost:5000`, `[::1]:5000`; a clear ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"allowed address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:5000")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"allowed address {text!r}: HOST must be a loopback IP address "
                         "(127.0.0.1, ::1) or localhost") from None
    if not address.is_loopback:
        raise ValueError(f"allowed address {text!r}: {host} is not a loopback address; "
                         "other addresses are reachable from a sandbox with network "
                         "without being allowed")
    return Allowed(str(address), int(port))


def find_slirp4netns() -> str | None:
    """slirp4netns, which gives sandboxes their network; None without it."""
    return shutil.which("slirp4netns") or (
        "/usr/bin/slirp4netns" if os.access("/usr/bin/slirp4netns", os.X_OK) else None)


@dataclass(frozen=True)
class NetworkPolicy:
    """What a sandbox with network may reach on the host: only `allow`."""

    allow: tuple[Allowed, ...] = ()
    slirp4netns: str | None = field(default_factory=find_slirp4netns)


def resolv_conf(host_text: str) -> str:
    """The sandbox's resolv.conf: the host's search and options, slirp4netns's resolver."""
    kept = [line for line in host_text.splitlines()
            if line.split()[:1] and line.split()[0] in ("search", "domain", "options")]
    return "\n".join([f"nameserver {SLIRP_DNS}", *kept]) + "\n"


def with_args(argv: Sequence[str], extra: Sequence[str]) -> list[str]:
    """bwrap's `argv` with `extra` options after its mounts (they apply in order), but
    before a `--remount-ro /` (bwrap may have to create resolv.conf's path in the
    sandbox's root), or else before the `--` ending the options."""
    argv = list(argv)
    end = argv.index("--")
    for i in range(end - 1):
        if argv[i:i + 2] == ["--remount-ro", "/"]:
            end = i
            break
    return [*argv[:end], *extra, *argv[end:]]


Run = Callable[[list[str], tuple[int, ...]], Awaitable[T]]


async def run_sandboxed(argv: Sequence[str], *, network: NetworkPolicy | None,
                        run: Run[T], resolv_at: str = _RESOLV) -> T:
    """Run bwrap's `argv` through `run(argv, pass_fds)`; with `network`, in a network
    namespace set up as the module doc says, else offline (as `argv` is). The sandbox's
    resolv.conf is written at `resolv_at` (where its /etc/resolv.conf leads)."""
    if network is None:
        return await run(list(argv), ())
    async with _Session(network, resolv_at) as session:
        return await session.run(run(with_args(argv, session.args), session.pass_fds))


class _Session:
    """One sandbox's network, from its pipes to slirp4netns and the relays."""

    def __init__(self, policy: NetworkPolicy, resolv_at: str) -> None:
        self._policy = policy
        self._resolv_at = resolv_at
        self._fds: set[int] = set()
        self._slirp: asyncio.subprocess.Process | None = None
        self._stderr: deque[str] = deque(maxlen=20)
        self._stderr_reader: asyncio.Task[None] | None = None
        self._relay = _Relay()
        self.args: list[str] = []
        self.pass_fds: tuple[int, ...] = ()

    async def __aenter__(self) -> _Session:
        if self._policy.slirp4netns is None:
            raise NetworkError("this step asks for network, which sandboxes get through "
                               "slirp4netns: install it (Debian package slirp4netns)")
        self._info_r, info_w = self._pipe()
        block_r, self._block_w = self._pipe()
        resolv_r, resolv_w = self._pipe()
        host_resolv = await asyncio.to_thread(_read_text, _RESOLV)
        os.write(resolv_w, resolv_conf(host_resolv).encode())
        self._close(resolv_w)
        self.args = ["--info-fd", str(info_w), "--block-fd", str(block_r),
                     "--ro-bind-data", str(resolv_r), self._resolv_at]
        self.pass_fds = (info_w, block_r, resolv_r)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._relay.close()
        await self._stop_slirp()
        for fd in list(self._fds):
            self._close(fd)

    async def run(self, started: Awaitable[T]) -> T:
        """Await `started` (bwrap's run) while the network is set up and the sandbox
        released; a failed setup stops the sandbox and raises NetworkError."""
        main = asyncio.ensure_future(started)
        setup = asyncio.ensure_future(self._setup())
        try:
            await asyncio.wait({main, setup}, return_when=asyncio.FIRST_COMPLETED)
            if setup.done() and not setup.cancelled() and setup.exception() is not None \
                    and not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await main
                error = setup.exception()
                assert error is not None
                raise error
            return await main
        finally:
            for task in (setup, main):
                task.cancel()
            await asyncio.gather(setup, main, return_exceptions=True)

    async def _setup(self) -> None:
        pid = await _read_pid(self._info_r)
        sockets = await _enter(pid, self._policy.allow)
        for sock, allowed in zip(sockets, self._policy.allow, strict=True):
            await self._relay.serve(sock, allowed)
        await self._start_slirp(pid)
        os.write(self._block_w, b"1")
        self._close(self._block_w)

    async def _start_slirp(self, pid: int) -> None:
        assert self._policy.slirp4netns is not None
        ready_r, ready_w = self._pipe()
        exit_r, self._exit_w = self._pipe()
        self._slirp = await asyncio.create_subprocess_exec(
            self._policy.slirp4netns, "--configure", "--mtu=65520", "--disable-host-loopback",
            "--enable-sandbox", "--enable-seccomp", f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}", str(pid), "tap0",
            pass_fds=(ready_w, exit_r), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        self._close(ready_w)
        self._close(exit_r)
        assert self._slirp.stderr is not None
        self._stderr_reader = asyncio.ensure_future(_collect(self._slirp.stderr, self._stderr))
        try:
            async with asyncio.timeout(_READY_WITHIN):
                ready = await _read_some(ready_r)
        except TimeoutError:
            raise NetworkError(f"slirp4netns was not ready after {_READY_WITHIN:g}s: "
                               f"{' '.join(self._stderr) or 'no output'}") from None
        if ready != b"1":
            code = await self._slirp.wait()
            await asyncio.wait({self._stderr_reader}, timeout=1.0)
            raise NetworkError(f"slirp4netns could not give the sandbox its network "
                               f"(exit status {code}): {' '.join(self._stderr) or 'no output'}")

    async def _stop_slirp(self) -> None:
        if self._slirp is None:
            return
        self._close(self._exit_w)  # slirp4netns exits when this closes
        try:
            await asyncio.wait_for(self._slirp.wait(), _STOP_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._slirp.kill()
            await self._slirp.wait()
        finally:
            if self._stderr_reader is not None:
                self._stderr_reader.cancel()

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        self._fds.update((r, w))
        return r, w

    def _close(self, fd: int) -> None:
        if fd in self._fds:
            self._fds.discard(fd)
            os.close(fd)


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _read_some(fd: int) -> bytes:
    """What can be read from the pipe `fd` once it is readable; b"" at its end."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    while True:
        readable = loop.create_future()
        loop.add_reader(fd, _set, readable)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        with contextlib.suppress(BlockingIOError):
            return os.read(fd, 65536)


async def _read_pid(fd: int) -> int:
    """The sandbox's pid, from the JSON bwrap writes to its `--info-fd`."""
    data = b""
    while chunk := await _read_some(fd):
        data += chunk
        try:
            info = json.loads(data)
        except ValueError:
            continue
        return int(info["child-pid"])
    raise NetworkError("bubblewrap ended before it started the sandbox")


async def _collect(stream: asyncio.StreamReader, into: deque[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace").strip())


async def _enter(pid: int, allow: Sequence[Allowed]) -> list[socket.socket]:
    """Once bwrap has set up the loopback of the network namespace of `pid`, listening
    sockets on each allowed address there (netns_helper.py)."""
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise NetworkError("sandboxes with network need nsenter: install it (Debian "
                           "package util-linux)")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        # Root enters any namespace; others enter the sandbox's user namespace first.
        userns = [] if os.geteuid() == 0 else ["--user", "--preserve-credentials"]
        proc = await asyncio.create_subprocess_exec(
            nsenter, f"--target={pid}", "--net", *userns, "--", sys.executable, "-I",
            str(_HELPER), str(theirs.fileno()), *(str(a) for a in allow),
            pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        theirs.close()
        try:
            _, err = await proc.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            what = f"listening on {', '.join(map(str, allow))}" if allow else "setting up"
            raise NetworkError(f"{what} inside the sandbox's network failed: "
                               f"{lines[-1] if lines else 'no output'}")
        ours.setblocking(False)
        _, fds, _, _ = socket.recv_fds(ours, 16, max(1, len(allow)))
    if len(fds) != len(allow):
        for fd in fds:
            os.close(fd)
        raise NetworkError("the sandbox's listening sockets did not come back")
    return [socket.socket(fileno=fd) for fd in fds]


class _Relay:
    """Connections accepted inside a sandbox, relayed to the host's allowed services."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._clients: set[asyncio.Task[None]] = set()

    async def serve(self, sock: socket.socket, target: Allowed) -> None:
        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._clients.add(task)
            try:
                await _relay(reader, writer, target)
            finally:
                self._clients.discard(task)

        self._servers.append(await asyncio.start_server(client, sock=sock))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 target: Allowed) -> None:
    try:
        up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
    except OSError as e:
        _log.info("sandbox connection to an allowed service refused", target=str(target),
                  error=str(e))
        writer.close()
        return
    try:
        await asyncio.gather(_pipe(reader, up_writer, writer), _pipe(up_reader, writer, up_writer))
    finally:
        writer.close()
        up_writer.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                src_writer: asyncio.StreamWriter) -> None:
    """Copy `src` to `dst` until its end (then half-close `dst`); on an error, close
    both connections, which ends the other direction too."""
    try:
        while chunk := await src.read(65536):
            dst.write(chunk)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except OSError:
        dst.close()
        src_writer.close()
