"""`headwater server --task-allow` and `--stack`: a pipeline's task with network reaches
the allowed host services (the stack's Git server and registry), not the server's own
API nor another loopback service (etcd, the kubelet, a fake etcd)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from headwater import devstack
from headwater.ci.resources.netns import find_slirp4netns
from headwater.ci.resources.process import find_bwrap
from headwater.cli.app import app
from headwater.devstack.ports import pick
from headwater.store.db import SQLITE_FILE
from tests.ci.server.conftest import Fly, Server

pytestmark = pytest.mark.skipif(find_bwrap() is None or find_slirp4netns() is None,
                                reason="bubblewrap or slirp4netns is not installed")


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello\n")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def http_servers() -> Iterator[list[int]]:
    """Two HTTP servers on the host's 127.0.0.1: [allowed, a fake etcd]."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Hello) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield [s.server_address[1] for s in servers]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


@contextlib.contextmanager
def _server(tmp_path: Path, *args: str) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    server = Server(data_dir=data, port=pick(None, set()), args=list(args))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def allowing_server(tmp_path: Path, http_servers: list[int]) -> Iterator[Server]:
    with _server(tmp_path, "--task-allow", f"127.0.0.1:{http_servers[0]}") as server:
        yield server


PROBE = """
import errno, sys, urllib.request
for url in sys.argv[1:]:
    try:
        body = urllib.request.urlopen(url, timeout=5).read().decode().strip()
    except Exception as e:
        reason = getattr(e, "reason", e)
        code = getattr(reason, "errno", 0) or 0
        body = type(reason).__name__ + " " + errno.errorcode.get(code, "")
    print("probe", url, body.strip())
"""


def _probe(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           script: str) -> list[str]:
    """Run `script` (sh, with $PROBE the probe above) as a networked task of a pipeline
    on `server`; the lines it printed that start with "probe "."""
    monkeypatch.setenv("HEADWATER_CONFIG_DIR", str(tmp_path / "config"))
    fly = Fly(server, CliRunner())
    code, out = fly("login", "-c", server.url, "--token", server.token)
    assert code == 0, out
    pipeline = tmp_path / "net.yml"
    task = {"platform": "linux", "params": {"PROBE": PROBE},
            "run": {"path": "sh", "args": ["-c", script]}}
    pipeline.write_text(yaml.safe_dump({"jobs": [{"name": "probe", "plan": [
        {"task": "probe", "network": True, "config": task}]}]}))
    code, out = fly("set-pipeline", "-p", "net", "-c", str(pipeline), "-n")
    assert code == 0, out
    assert fly("unpause-pipeline", "-p", "net")[0] == 0
    code, out = fly("trigger-job", "-j", "net/probe", "-w")
    assert code == 0, out
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("probe ")]


REFUSED = "ConnectionRefusedError ECONNREFUSED"


def test_a_networked_task_reaches_the_allowed_service_only(
        allowing_server: Server, http_servers: list[int], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, etcd = http_servers
    urls = [f"http://127.0.0.1:{allowed}/v2/", f"http://127.0.0.1:{etcd}/health",
            f"http://127.0.0.1:{allowing_server.port}/api/v1/info"]
    probes = _probe(allowing_server, tmp_path, monkeypatch,
                    f'python3 -c "$PROBE" {" ".join(urls)}')
    assert probes == [f"{urls[0]} hello", f"{urls[1]} {REFUSED}", f"{urls[2]} {REFUSED}"]


def test_a_task_of_the_server_cannot_read_its_database_nor_its_data_dir(
        allowing_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = allowing_server.data_dir
    db = data / SQLITE_FILE
    assert db.is_file()
    script = (f'cat {db} >/dev/null 2>&1 && echo "probe db read" || echo "probe db hidden"\n'
              f'ls -A {data} | sed "s/^/probe sees /"')
    probes = _probe(allowing_server, tmp_path, monkeypatch, script)
    # Of the data dir, only the path down to the task's own directory is in its view.
    assert probes == ["db hidden", "sees builds"]


@pytest.mark.stack
def test_against_a_stack_tasks_reach_its_git_server_and_registry_not_etcd_or_kubelet(
        stack: devstack.StackInfo, git_repo: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = stack.ports
    urls = [f"http://127.0.0.1:{p['registry']}/v2/", f"http://127.0.0.1:{p['etcd']}/health"]
    # The API server and the kubelet speak HTTPS: reached, plain HTTP would fail
    # otherwise than "refused".
    urls += [f"http://127.0.0.1:{p[name]}/" for name in ("apiserver", "kubelet",
                                                         "kubelet-healthz") if name in p]
    script = (f'python3 -c "$PROBE" {" ".join(urls)}\n'
              f'git ls-remote {stack.git.git_url(git_repo)} >/dev/null '
              f'&& echo "probe git reached"')
    with _server(tmp_path, "--stack", stack.state_dir) as server:
        probes = _probe(server, tmp_path, monkeypatch, script)
    assert probes == [f"{urls[0]} {{}}", *[f"{u} {REFUSED}" for u in urls[1:]],
                      "git reached"]


def test_task_allow_takes_loopback_addresses_only() -> None:
    r = CliRunner().invoke(app, ["server", "--task-allow", "192.0.2.7:5000"])
    assert r.exit_code == 2
    said = " ".join(r.output.split())
    assert "--task-allow" in said and "192.0.2.7 is not a loopback address" in said
    r = CliRunner().invoke(app, ["server", "--stack", "/nonexistent/hw-stack"])
    assert r.exit_code == 2
    assert "no stack.json there" in " ".join(r.output.split())
