"""`execute` uploads are names, not paths, and the artifacts API stays in its build.

Against a real `headwater server` (bwrap tasks): a rejected upload answers 400 and
creates no build at all (everything is checked, archives unpacked in staging, before
the build row exists); the artifacts endpoint refuses what is not an identifier and
streams its .tar.gz from disk (the server's peak memory does not grow with the
output); a one-off task cannot turn an output into a way out of the build.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.ci.server.conftest import Server

TASK = """
platform: linux
inputs: [{name: src}]
outputs: [{name: out}]
run: {path: sh, args: [-ec, 'cp src/name out/greeting']}
"""


def tar_gz(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def execute(api: httpx.Client, config: str,
            uploads: list[tuple[str, bytes]]) -> httpx.Response:
    files = [("inputs", (name, data, "application/gzip")) for name, data in uploads]
    return api.post("/teams/main/builds", data={"config": config}, files=files or None)


def build_ids(api: httpx.Client) -> list[int]:
    return [b["id"] for b in api.get("/builds").json()]


def finished(api: httpx.Client, build_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        build: dict[str, Any] = api.get(f"/builds/{build_id}").json()
        if build["status"] in ("succeeded", "failed", "errored", "aborted"):
            return build
        time.sleep(0.2)
    raise AssertionError(f"build {build_id} did not finish")


def error_events(api: httpx.Client, build_id: int) -> list[str]:
    text = api.get(f"/builds/{build_id}/events").text
    return [line for line in text.splitlines() if '"event": "error"' in line]


def staging_left(server: Server) -> list[str]:
    """Directories under builds/ that are not a build's (unpacked uploads left behind)."""
    builds = server.data_dir / "builds"
    return [p.name for p in builds.iterdir() if not p.name.isdigit()] if builds.is_dir() else []


NAMES_THAT_ARE_PATHS = ["../x", "a/b", "/etc", "..", ".hidden", "Src"]

INVALID = [
    (TASK.replace("{name: src}", "{name: ../src}"), [], "input '../src'"),
    (TASK.replace("{name: out}", "{name: 'o/../../x'}"), [], "output 'o/../../x'"),
    (TASK, [("other", b"")], "uploaded other but the task has no such input"),
    (TASK, [("src", b"not a tar")], "input 'src': the upload is not a readable .tar.gz"),
    (TASK, [("src", tar_gz({}, links={"escape": "/etc"}))], "input 'src': the upload is"),
    (TASK, [("src", tar_gz({"../../../../x": b"x"}))], "input 'src': the upload is"),
    (TASK, [("src", tar_gz({"a": b""})), ("src", tar_gz({"b": b""}))],
     "input src uploaded more than once"),
    ("platform: linux\nrun: {}", [], "missing path to executable to run"),
]


def test_an_upload_named_as_a_path_is_refused_and_creates_no_build(
        ci_server: Server) -> None:
    with ci_server.api() as api:
        before = build_ids(api)
        for name in NAMES_THAT_ARE_PATHS:
            r = execute(api, TASK, [(name, tar_gz({"name": b"world"}))])
            assert r.status_code == 400, (name, r.text)
            assert "must be identifiers" in r.json()["detail"]
            assert repr(name) in r.json()["detail"]
        assert build_ids(api) == before
    assert not (ci_server.data_dir / "x").exists()
    assert staging_left(ci_server) == []


def test_an_invalid_execute_is_a_400_and_creates_no_build(ci_server: Server) -> None:
    with ci_server.api() as api:
        before = build_ids(api)
        for config, uploads, problem in INVALID:
            r = execute(api, config, uploads)
            assert r.status_code == 400, (problem, r.text)
            assert problem in r.json()["detail"]
        assert build_ids(api) == before
    assert staging_left(ci_server) == []


def test_artifact_names_are_identifiers_not_paths(ci_server: Server) -> None:
    with ci_server.api() as api:
        r = execute(api, TASK, [("src", tar_gz({"name": b"world"}))])
        assert r.status_code == 200, r.text
        build_id = r.json()["id"]
        assert finished(api, build_id)["status"] == "succeeded"
        ok = api.get(f"/builds/{build_id}/artifacts/out")
        assert ok.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(ok.content), mode="r:gz") as tar:
            greeting = tar.extractfile("./greeting")
            assert greeting is not None and greeting.read() == b"world"
        for name in ("%2E%2E", ".scratch", "..%2F..%2Fetc", "OUT"):
            r = api.get(f"/builds/{build_id}/artifacts/{name}")
            assert r.status_code in (400, 404), (name, r.status_code)
            assert r.headers["content-type"] == "application/json", name
        assert api.get(f"/builds/{build_id}/artifacts/%2E%2E").status_code == 400
        assert api.get(f"/builds/{build_id}/artifacts/nope").status_code == 404
        assert api.get("/builds/999/artifacts/out").status_code == 404


def test_a_one_off_output_never_leads_out_of_the_build(
        ci_server: Server, tmp_path: Path) -> None:
    host = tmp_path / "host"
    (host / "out").mkdir(parents=True)
    (host / "out" / "canary").write_text("host secret\n")
    config = f"""
platform: linux
outputs: [{{name: out, path: x/out}}]
run: {{path: sh, args: [-ec, 'rm -rf x && ln -s {host} x']}}
"""
    with ci_server.api() as api:
        r = execute(api, config, [])
        assert r.status_code == 200, r.text
        build_id = r.json()["id"]
        assert finished(api, build_id)["status"] == "errored"
        [error] = error_events(api, build_id)
        assert "output 'out' (path x/out): 'x' is a symbolic link" in error
        assert api.get(f"/builds/{build_id}/artifacts/out").status_code == 404

        # A link out inside an output is sent as a link; what it names is not read.
        r = execute(api, f"""
platform: linux
outputs: [{{name: out}}]
run: {{path: sh, args: [-ec, 'ln -s {host} out/link']}}
""", [])
        build_id = r.json()["id"]
        assert finished(api, build_id)["status"] == "succeeded"
        archive = api.get(f"/builds/{build_id}/artifacts/out").content
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            members = {m.name: m for m in tar}
        assert sorted(members) == [".", "./link"]
        assert members["./link"].issym() and members["./link"].linkname == str(host)
    assert (host / "out" / "canary").read_text() == "host secret\n"


def peak_growth(pid: int, fetch: Any) -> int:
    """How far the process's peak RSS rose above its RSS while `fetch()` ran (bytes):
    writing 5 to clear_refs resets the peak (VmHWM) to the current RSS."""
    status = Path(f"/proc/{pid}/status")

    def kb(field: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(field))
        return int(line.split()[1]) * 1024

    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = kb("VmRSS:")
    fetch()
    return kb("VmHWM:") - before


def test_a_big_artifact_is_streamed_not_held_in_memory(ci_server: Server) -> None:
    size_mb = 96
    config = f"""
platform: linux
outputs: [{{name: out}}]
run: {{path: sh, args: [-ec, 'head -c {size_mb}M /dev/urandom > out/big']}}
"""
    assert ci_server.proc is not None
    with ci_server.api() as api:
        r = execute(api, config, [])
        assert r.status_code == 200, r.text
        build_id = r.json()["id"]
        assert finished(api, build_id)["status"] == "succeeded"
        on_disk = ci_server.data_dir / "builds" / str(build_id) / "out" / "big"
        expected = hashlib.sha256(on_disk.read_bytes()).hexdigest()
        got: dict[str, str] = {}

        def fetch() -> None:
            with api.stream("GET", f"/builds/{build_id}/artifacts/out") as response:
                assert response.status_code == 200
                assert "content-length" not in response.headers
                stream = _Reader(response.iter_bytes())
                with tarfile.open(fileobj=stream, mode="r|gz") as tar:
                    for member in tar:
                        f = tar.extractfile(member)
                        if f is not None:
                            digest = hashlib.sha256()
                            while chunk := f.read(1 << 20):
                                digest.update(chunk)
                            got[member.name] = digest.hexdigest()

        growth = peak_growth(ci_server.proc.pid, fetch)
        assert got == {"./big": expected}
        assert growth < 32 * 1024 * 1024, f"server peak memory grew by {growth >> 20} MiB"

        # A client that goes away after the first chunk: the server's pipe and the
        # thread writing into it end (its open files come back to what they were).
        pid = ci_server.proc.pid
        baseline = open_fds(pid)
        with ci_server.api() as other, \
                other.stream("GET", f"/builds/{build_id}/artifacts/out") as response:
            next(response.iter_raw())
        wait_until(lambda: open_fds(pid) <= baseline)
        assert api.get(f"/builds/{build_id}/artifacts/out").status_code == 200


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


class _Reader(io.RawIOBase):
    """A file object over an iterator of chunks (tarfile's stream mode reads it)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n
