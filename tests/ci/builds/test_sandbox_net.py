"""A task with network: the outside world through slirp4netns, of the host's loopback
only the allow-list (real bwrap, real slirp4netns, real TCP servers on the host)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.resources.netns import (
    Allowed,
    NetworkPolicy,
    find_slirp4netns,
    parse_allowed,
    resolv_conf,
    with_args,
)
from headwater.ci.resources.process import find_bwrap
from tests.ci.builds.helpers import (
    RecordingDelegate,
    make_ctx,
    pids_with,
    sh,
    sleeper,
    wait_for,
)

needs_sandbox_net = pytest.mark.skipif(
    find_bwrap() is None or find_slirp4netns() is None,
    reason="bubblewrap or slirp4netns is not installed")


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
    await writer.drain()
    writer.close()


StartHttp = Callable[..., Awaitable[int]]  # `await http_on(host="127.0.0.1")` -> port


@pytest.fixture
async def http_on() -> AsyncIterator[StartHttp]:
    """Start tiny HTTP servers (`await http_on(host)` answers the port); all closed after."""
    servers: list[asyncio.Server] = []

    async def start(host: str = "127.0.0.1") -> int:
        server = await asyncio.start_server(_http, host, 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _host_address() -> str | None:
    """An address of this machine that is not loopback, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


# The task's probe: GET each URL and print "<url> <body or the error's class>".
PROBE = """
import errno, sys, urllib.request
for url in sys.argv[1:]:
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode().strip()
    except Exception as e:
        reason = getattr(e, "reason", e)
        body = type(reason).__name__
        if getattr(reason, "errno", None):
            body += " " + errno.errorcode[reason.errno]
    print(url, body)
"""


# How a connection that leads nowhere ends: refused (nothing listens in the sandbox's
# own loopback), or slirp4netns answering that the host's loopback is out of reach.
REFUSED = ("ConnectionRefusedError ECONNREFUSED", "OSError ENETUNREACH",
           "OSError EHOSTUNREACH")


async def _probe(tmp_path: Path, executor: LocalExecutor, urls: list[str], *,
                 network: bool = True) -> str:
    task = sh("probe", 'python3 -c "$PROBE" ' + " ".join(urls), params={"PROBE": PROBE},
              network=network)
    delegate = RecordingDelegate()
    status = await run_build(task, ctx=make_ctx(tmp_path / "build", executor=executor),
                             delegate=delegate)
    assert status == "succeeded", delegate.log("probe") + "".join(delegate.errors())
    return delegate.log("probe", "stdout")


@needs_sandbox_net
async def test_a_networked_task_reaches_allowed_host_services_and_no_other_loopback_port(
        tmp_path: Path, http_on: StartHttp) -> None:
    registry = await http_on()   # stands for the stack's registry: allowed
    etcd = await http_on()       # a fake etcd on the host's loopback: not allowed
    api = await http_on()        # the CI API's port: not allowed
    executor = LocalExecutor(kill_grace=2.0, network=NetworkPolicy(
        allow=(Allowed("127.0.0.1", registry),)))
    urls = [f"http://127.0.0.1:{registry}/v2/", f"http://127.0.0.1:{etcd}/health",
            f"http://127.0.0.1:{api}/api/v1/info", f"http://localhost:{etcd}/",
            # slirp4netns's door to the host's loopback, closed by --disable-host-loopback
            f"http://10.0.2.2:{etcd}/", f"http://10.0.2.2:{registry}/"]
    lines = (await _probe(tmp_path, executor, urls)).splitlines()
    assert lines[0] == f"http://127.0.0.1:{registry}/v2/ hello"
    for line in lines[1:]:
        assert line.endswith(REFUSED), line
    assert len(lines) == len(urls)


@needs_sandbox_net
async def test_without_an_allow_list_a_networked_task_reaches_no_host_loopback_port(
        tmp_path: Path, http_on: StartHttp) -> None:
    port = await http_on()
    out = await _probe(tmp_path, LocalExecutor(kill_grace=2.0), [f"http://127.0.0.1:{port}/"])
    assert out == f"http://127.0.0.1:{port}/ ConnectionRefusedError ECONNREFUSED\n"


@needs_sandbox_net
async def test_a_networked_task_reaches_the_hosts_other_addresses(
        tmp_path: Path, http_on: StartHttp) -> None:
    address = _host_address()
    if address is None:
        pytest.skip("this machine has no address other than loopback")
    port = await http_on(address)
    out = await _probe(tmp_path, LocalExecutor(kill_grace=2.0), [f"http://{address}:{port}/"])
    assert out == f"http://{address}:{port}/ hello\n"


@needs_sandbox_net
async def test_an_offline_task_reaches_not_even_an_allowed_port(
        tmp_path: Path, http_on: StartHttp) -> None:
    port = await http_on()
    executor = LocalExecutor(kill_grace=2.0, network=NetworkPolicy(
        allow=(Allowed("127.0.0.1", port),)))
    out = await _probe(tmp_path, executor, [f"http://127.0.0.1:{port}/"], network=False)
    assert out == f"http://127.0.0.1:{port}/ ConnectionRefusedError ECONNREFUSED\n"


@needs_sandbox_net
async def test_a_networked_task_resolves_names_through_slirp4netns(tmp_path: Path) -> None:
    task = sh("dns", "cat /etc/resolv.conf; ip -4 -o addr show tap0 | awk '{print $4}'",
              network=True)
    delegate = RecordingDelegate()
    status = await run_build(task, ctx=make_ctx(tmp_path / "build"), delegate=delegate)
    assert status == "succeeded", delegate.log("dns")
    lines = delegate.log("dns", "stdout").splitlines()
    assert lines[0] == "nameserver 10.0.2.3"
    assert lines[-1] == "10.0.2.100/24"


@needs_sandbox_net
async def test_the_relay_to_an_allowed_service_carries_big_transfers_both_ways(
        tmp_path: Path) -> None:
    """The server counts what it receives until the client half-closes, answers the
    count and then 32 MB; the task sends 16 MB and counts what comes back."""
    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = len(await reader.read())
        writer.write(f"{received}\n".encode() + b"x" * (32 << 20))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        script = ("import socket\n"
                  f"s = socket.create_connection(('127.0.0.1', {port}))\n"
                  "s.sendall(b'y' * (16 << 20)); s.shutdown(socket.SHUT_WR)\n"
                  "data = b''.join(iter(lambda: s.recv(1 << 16), b''))\n"
                  "head, _, rest = data.partition(b'\\n'); print(int(head), len(rest))\n")
        executor = LocalExecutor(kill_grace=2.0, network=NetworkPolicy(
            allow=(Allowed("127.0.0.1", port),)))
        delegate = RecordingDelegate()
        status = await run_build(
            sh("big", 'python3 -c "$SCRIPT"', params={"SCRIPT": script}, network=True),
            ctx=make_ctx(tmp_path / "build", executor=executor), delegate=delegate)
    assert status == "succeeded", delegate.log("big")
    assert delegate.log("big", "stdout") == f"{16 << 20} {32 << 20}\n"


def _our_slirp4netns() -> list[int]:
    """The slirp4netns processes this test process started."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (OSError, ValueError):
            continue
        name, _, rest = stat.partition(") ")
        if name.endswith("(slirp4netns") and int(rest.split()[1]) == os.getpid():
            found.append(int(entry))
    return found


@needs_sandbox_net
async def test_an_aborted_networked_task_leaves_no_process_behind(
        tmp_path: Path, http_on: StartHttp) -> None:
    port = await http_on()
    executor = LocalExecutor(kill_grace=2.0, network=NetworkPolicy(
        allow=(Allowed("127.0.0.1", port),)))
    command, marker = sleeper()
    build = asyncio.ensure_future(run_build(
        sh("sleepy", command, network=True),
        ctx=make_ctx(tmp_path / "build", executor=executor), delegate=RecordingDelegate()))
    await wait_for(lambda: pids_with(marker) and _our_slirp4netns())
    build.cancel()
    await asyncio.gather(build, return_exceptions=True)
    assert pids_with(marker) == []
    assert _our_slirp4netns() == []


@needs_sandbox_net
async def test_a_failed_network_setup_errors_the_build_before_the_task_runs(
        tmp_path: Path) -> None:
    with socket.socket() as taken:  # the same port twice: the second listen fails
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    executor = LocalExecutor(kill_grace=2.0, network=NetworkPolicy(
        allow=(Allowed("127.0.0.1", port), Allowed("127.0.0.1", port))))
    delegate = RecordingDelegate()
    status = await run_build(sh("net", "echo ran", network=True),
                             ctx=make_ctx(tmp_path / "build", executor=executor),
                             delegate=delegate)
    assert status == "errored"
    assert delegate.log("net", "stdout") == ""
    assert any(f"task 'net': listening on 127.0.0.1:{port}, 127.0.0.1:{port} inside the "
               "sandbox's network failed" in e and "Address already in use" in e
               for e in delegate.errors()), delegate.errors()
    assert _our_slirp4netns() == []


async def test_a_networked_task_without_slirp4netns_errors_clearly(tmp_path: Path) -> None:
    if find_bwrap() is None:
        pytest.skip("bubblewrap is not installed")
    executor = LocalExecutor(network=NetworkPolicy(slirp4netns=None))
    delegate = RecordingDelegate()
    status = await run_build(sh("net", "true", network=True),
                             ctx=make_ctx(tmp_path / "build", executor=executor),
                             delegate=delegate)
    assert status == "errored"
    assert any("install it (Debian package slirp4netns)" in e for e in delegate.errors())


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5000", Allowed("127.0.0.1", 5000)),
    ("localhost:9418", Allowed("127.0.0.1", 9418)),
    ("127.0.0.2:22", Allowed("127.0.0.2", 22)),
    ("[::1]:8080", Allowed("::1", 8080)),
])
def test_allowed_addresses_parse(text: str, expected: Allowed) -> None:
    assert parse_allowed(text) == expected
    assert parse_allowed(str(expected)) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("5000", "expected HOST:PORT"),
    ("127.0.0.1:", "expected HOST:PORT"),
    ("127.0.0.1:70000", "expected HOST:PORT"),
    ("registry.example:5000", "must be a loopback IP address"),
    ("192.0.2.2:5000", "not a loopback address"),
])
def test_bad_allowed_addresses_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_allowed(text)


def test_the_sandbox_resolv_conf_keeps_search_and_options_only() -> None:
    host = "# made by hand\nnameserver 127.0.0.53\nsearch corp.example\noptions ndots:2\n\n"
    assert resolv_conf(host) == ("nameserver 10.0.2.3\nsearch corp.example\n"
                                 "options ndots:2\n")
    assert resolv_conf("") == "nameserver 10.0.2.3\n"


@pytest.mark.parametrize(("argv", "expected"), [
    (["bwrap", "--ro-bind", "/r", "/", "--", "sh", "-c", "x -- y"],
     ["bwrap", "--ro-bind", "/r", "/", "NET", "--", "sh", "-c", "x -- y"]),
    # Before `/` turns read-only: bwrap may create resolv.conf's path in the root.
    (["bwrap", "--ro-bind", "/etc", "/etc", "--remount-ro", "/", "--remount-ro", "/etc/ssh",
      "--", "sh"],
     ["bwrap", "--ro-bind", "/etc", "/etc", "NET", "--remount-ro", "/", "--remount-ro",
      "/etc/ssh", "--", "sh"]),
    (["bwrap", "--", "sh", "--remount-ro", "/"], ["bwrap", "NET", "--", "sh", "--remount-ro", "/"]),
])
def test_network_arguments_go_after_the_mounts_before_the_command(
        argv: list[str], expected: list[str]) -> None:
    assert with_args(argv, ["NET"]) == expected
