"""`headwater up` wires the stack's webhooks: a stack without a cluster (Git server and
registry, by the same code as `up`) whose registry POSTs a real push to `--hook-url`
with the stack's secret as a bearer token."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from headwater import devstack
from headwater.devstack import hooks
from headwater.web import hookpayload
from tests.hookhelpers import push_image, receiver

pytestmark = pytest.mark.stack


def test_the_stack_registry_notifies_the_hook_url_of_a_push() -> None:
    state = Path(tempfile.mkdtemp(prefix="hwup-", dir="/tmp"))
    try:
        with receiver(hooks.REGISTRY_HOOK_PATH) as (url, got):
            info = devstack.up(state, devstack.Options(cluster=False, hook_url=url))
            push_image(info.registry, "app", "1.0.0", "2024-01-01T00:00:00Z")
            headers, body = got.get(timeout=60)
            while not hookpayload.parse_registry(body):  # blob events come first
                headers, body = got.get(timeout=60)
        secret = hooks.ensure_secret(state)
        assert hookpayload.bearer_matches(headers, {"stack": secret}) == "stack"
        [pushed] = hookpayload.parse_registry(body)
        assert (pushed.image, pushed.tag) == (f"{info.registry.host}/app", "1.0.0")
    finally:
        devstack.down(state, purge=True)
