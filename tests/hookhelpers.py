"""What webhook tests share: a registry started by the stack's own code whose
notifications go to a hook URL, as `headwater up` configures the stack's
(devstack/hooks.py); images pushed to it; a plain HTTP receiver that records POSTs."""

from __future__ import annotations

import contextlib
import http.server
import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from headwater.devstack import hooks, process
from headwater.devstack import registry as devstack_registry
from headwater.devstack.layout import Layout
from headwater.devstack.ports import pick
from headwater.devstack.registry import Registry
from headwater.registry import push


@contextlib.contextmanager
def notifying_registry(hook_url: str, secret: str, *, port: int | None = None,
                       ) -> Iterator[Registry]:
    with tempfile.TemporaryDirectory(prefix="hwnotify-") as d:
        layout = Layout(Path(d))
        layout.create()
        home = layout.sub("registry")
        reg = devstack_registry.prepare(
            home, port=port or pick(None, set()), auth=False,
            notifications=hooks.registry_notifications(hook_url, secret))
        proc = devstack_registry.start(home, reg, name="registry-notify", layout=layout)
        try:
            yield reg
        finally:
            process.stop(proc, layout)


def push_image(reg: Registry, repo: str, tag: str, created: str) -> str:
    """A one-layer image (not runnable) with a chosen creation time; its reference."""
    layer, diff_id = push.layer_from_bytes({"version": tag.encode()})
    config = push.image_config([diff_id], entrypoint=["/bin/sleep", "3600"], created=created)
    push.push(reg.url, repo, tag, config=config, layers=[layer])
    return f"{reg.host}/{repo}:{tag}"


Received = queue.Queue[tuple[dict[str, str], bytes]]


@contextlib.contextmanager
def receiver(path: str = "") -> Iterator[tuple[str, Received]]:
    """A plain HTTP server that records each POST (lower-case headers, raw body) and
    answers 202; its URL (with `path`) and the queue of what it got."""
    got: Received = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.put(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", pick(None, set())), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", got
    finally:
        server.shutdown()
        server.server_close()
