"""Build events of a real build, seen from inside the server: written in batches, and
a viewer that stops reading `/events` while a build prints keeps a bounded queue and,
once it reads again, gets every event in order from the store.

The server is the real app (uvicorn, SQLite, the bubblewrap executor) run in the test's
event loop, so the test can count the store's transactions (an SQLAlchemy `commit`
hook on its engine) and look at the hub's queues. Its live limit is set low (20
events). The slow viewer is a raw socket with a small receive buffer, so the server's
writes block as they would for a slow client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import event

from headwater.ci.events import Subscription
from headwater.ci.service import CI
from headwater.devstack.ports import pick
from headwater.web.server import ServerSettings, build_app

LIMIT = 20
LINES = 20_000
PAD = "x" * 500  # 10 MB in all: more than the socket buffers hold


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[CI, int]]:
    port = pick(None, set())
    app, ci = await build_app(ServerSettings(
        data_dir=tmp_path / "server", port=port, dev=True, live_events_limit=LIMIT,
        scheduler_tick=1.0, checker_tick=1.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.05)
        yield ci, port
    finally:
        server.should_exit = True
        await task


async def _run_task(ci: CI, name: str, *argv: str) -> int:
    await ci.set_pipeline("main", name, textwrap.dedent(f"""
        jobs:
        - name: j
          plan:
          - task: t
            config:
              platform: linux
              run:
                path: {argv[0]}
                args: {json.dumps(argv[1:])}
        """), {})
    await ci.pause("main", name, False)
    return (await ci.trigger("main", name, "j")).id


async def _finished(ci: CI, build_id: int) -> str:
    status = "pending"
    for _ in range(1200):  # a minute
        status = (await ci.build(build_id)).status
        if status not in ("pending", "started"):
            break
        await asyncio.sleep(0.05)
    return status


async def test_a_build_printing_thousands_of_chunks_is_stored_in_a_few_transactions(
        served: tuple[CI, int]) -> None:
    ci, _ = served
    commits = [0]

    def on_commit(_conn: object) -> None:
        commits[0] += 1

    engine = ci.store._db.engine.sync_engine
    event.listen(engine, "commit", on_commit)
    try:
        # One write per line, a little apart: thousands of chunks of output.
        build_id = await _run_task(ci, "chunks", "python3", "-c", textwrap.dedent("""
            import time
            for i in range(3000):
                print(f"line {i}", flush=True)
                time.sleep(0.001)
            """))
        assert await _finished(ci, build_id) == "succeeded"
    finally:
        event.remove(engine, "commit", on_commit)

    stored = await ci.store.events(build_id)
    logs = [e for e in stored if e.type == "log"]
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert "".join(e.payload["payload"] for e in logs) == "".join(
        f"line {i}\n" for i in range(3000))
    # Every transaction of the server while the build ran, the build's own included.
    assert len(logs) >= 300, len(logs)
    assert commits[0] * 5 < len(logs), (commits[0], len(logs))


async def _open_slow(port: int, path: str) -> tuple[asyncio.StreamReader,
                                                     asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
    # HTTP/1.0: the body is the raw stream, closed at its end (no chunked framing).
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


async def test_a_viewer_that_stops_reading_lags_boundedly_and_then_gets_every_event(
        served: tuple[CI, int]) -> None:
    ci, port = served
    script = f'i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo "line $i {PAD}"; done'
    build_id = await _run_task(ci, "slow", "sh", "-c", script)

    reader, writer = await _open_slow(port, f"/api/v1/builds/{build_id}/events")
    try:
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        # The viewer reads nothing more while the build runs.
        longest, seen = 0, set[Subscription]()
        while (await ci.build(build_id)).status in ("pending", "started"):
            for sub in ci.hub.subscriptions(build_id):
                longest = max(longest, len(sub))
                seen.add(sub)
            await asyncio.sleep(0.005)
        assert sum(sub.lags for sub in seen), "the viewer never fell behind"
        assert longest <= LIMIT
        body = (await reader.read()).decode()
    finally:
        writer.close()

    ids = [int(line.removeprefix("id: ")) for line in body.splitlines()
           if line.startswith("id: ")]
    stored = await ci.store.events(build_id)
    assert ids == [e.seq for e in stored] and len(ids) > 2 * LIMIT
    assert body.rstrip().endswith("event: end\ndata: {}")
    text = "".join(e.payload["payload"] for e in stored if e.type == "log")
    assert text == "".join(f"line {i} {PAD}\n" for i in range(1, LINES + 1))
