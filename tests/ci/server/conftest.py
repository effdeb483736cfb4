"""A real `headwater server` per test, and the CLI pointed at it through a target.

The server is the installed command in a subprocess (SQLite in a temp data dir, a
free loopback port, 1 s scheduler and checker ticks so tests do not wait for
Concourse's defaults). It is stopped by its pid at the end, whatever happened.
Resource types for the tests are scripts in `<data dir>/resource-types/<name>/`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.devstack.ports import pick
from headwater.devstack.stack import StackInfo

TARGET = "test"


@dataclass
class Server:
    data_dir: Path
    port: int
    database_url: str | None = None
    token: str = ""
    args: list[str] = field(default_factory=list)  # more `headwater server` flags
    dev: bool = False  # --dev: no token, loopback only
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def types_dir(self) -> Path:
        return self.data_dir / "resource-types"

    def start(self) -> None:
        argv = [sys.executable, "-m", "headwater", "server", "--bind",
                f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
                "--scheduler-interval", "1s", "--checker-interval", "1s"]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        argv += self.args
        if self.dev:
            argv.append("--dev")
        out = self.log.open("ab")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        out.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not answer: {self.log.read_text()}")
        for line in self.log.read_text().splitlines():
            if line.startswith("admin token"):
                self.token = line.rsplit(" ", 1)[1]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", timeout=30,
                            headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture
def server_args() -> tuple[str, ...]:
    """More `headwater server` flags: a test module overrides this fixture."""
    return ()


@pytest.fixture
def stack_server_args(stack: StackInfo) -> tuple[str, ...]:
    """`--stack` for a server whose pipelines use the stack's Git server and registry:
    the built-in resource types reach no loopback service that is not allowed."""
    return ("--stack", stack.state_dir)


@pytest.fixture
def ci_server(tmp_path: Path, server_args: tuple[str, ...]) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    (data / "resource-types").mkdir()
    server = Server(data_dir=data, port=pick(None, set()), args=list(server_args))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Fly:
    """`headwater -t test ...` in-process, with its own config dir."""

    server: Server
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str]:
        r = self.runner.invoke(app, ["-t", TARGET, *args], input=input)
        return r.exit_code, r.output


@pytest.fixture
def fly(ci_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fly:
    monkeypatch.setenv("HEADWATER_CONFIG_DIR", str(tmp_path / "config"))
    f = Fly(ci_server, CliRunner())
    code, output = f("login", "-c", ci_server.url, "--token-stdin", input=ci_server.token)
    assert code == 0, output
    return f


def write_type(server: Server, name: str, scripts: dict[str, str]) -> None:
    """A resource type as Concourse scripts: <types dir>/<name>/{check,in,out}."""
    d = server.types_dir / name
    d.mkdir(parents=True, exist_ok=True)
    for script, text in scripts.items():
        path = d / script
        path.write_text(text)
        path.chmod(0o755)


def wait_for(fn: object, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


os.environ.setdefault("NO_COLOR", "1")
