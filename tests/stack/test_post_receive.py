"""The stack's post-receive hook: a push to a stack repository reaches headwater's git
hook signed with the stack's secret, naming the repository by every URL the stack serves
it at; a server that does not answer never holds the push."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.devstack import StackInfo, hooks
from headwater.devstack.ports import pick
from headwater.web import hookpayload
from tests.gitseed import Seed
from tests.hookhelpers import receiver

pytestmark = pytest.mark.stack


@contextlib.contextmanager
def _target(stack: StackInfo, url: str) -> Iterator[None]:
    """Point the stack's hooks at `url`, as `headwater server --stack` does at start."""
    state = Path(stack.state_dir)
    hooks.write_target(state, url)
    try:
        yield
    finally:
        hooks.clear_target(state, url)


def test_a_push_reaches_the_git_hook_signed_with_the_stack_secret(
        stack: StackInfo, git_repo: str, tmp_path: Path) -> None:
    secret = hooks.ensure_secret(Path(stack.state_dir))
    seed = Seed(stack, git_repo, tmp_path / "seed")
    with receiver() as (url, got), _target(stack, url):
        revision = seed.commit({"app.txt": "v1"})
        headers, body = got.get(timeout=30)
    assert headers["x-hub-signature-256"].startswith("sha256=")
    assert hookpayload.forge(headers) == hookpayload.GENERIC
    assert hookpayload.verify(hookpayload.GENERIC, headers, body, {"stack": secret}) == "stack"
    assert hookpayload.verify(hookpayload.GENERIC, headers, body, {"x": "0" * 64}) is None
    push = hookpayload.parse_push(hookpayload.GENERIC, headers, body)
    assert push is not None
    assert (push.branch, push.after) == ("main", revision)
    assert stack.git.git_url(git_repo) in push.urls
    assert stack.git.ssh_url(git_repo) in push.urls
    assert secret not in body.decode()


def test_a_server_that_never_answers_does_not_hold_the_push(
        stack: StackInfo, git_repo: str, tmp_path: Path) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with _target(stack, url):
            seed.commit({"app.txt": "v1"})  # returns: the hook did not wait for an answer
            conn, _ = listener.accept()  # the hook's child did connect ...
            with conn:
                # ... and still waits for an answer: the push was over before it gave up
                assert not _closed_by_peer(conn)


def _closed_by_peer(conn: socket.socket) -> bool:
    """Whether the peer closed `conn`: what it sent is read, then EOF or nothing yet."""
    conn.setblocking(False)
    while True:
        try:
            chunk = conn.recv(65536)
        except BlockingIOError:
            return False
        if not chunk:
            return True


def test_without_a_server_a_push_still_succeeds(stack: StackInfo, git_repo: str,
                                                tmp_path: Path) -> None:
    seed = Seed(stack, git_repo, tmp_path / "seed")
    closed = pick(None, set())
    with _target(stack, f"http://127.0.0.1:{closed}"):
        assert seed.commit({"app.txt": "v1"})
    assert seed.commit({"app.txt": "v2"})  # no server.json at all
