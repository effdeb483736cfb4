"""Fixtures of the registry tests.

- `auth_registry` (tests/conftest.py): a second registry, started by the stack's own code
  (`devstack.registry.prepare(..., auth=True)` + `start`) with htpasswd auth on.
- `registry_repos`: makes fresh repository names on the stack's registry, cleaned up
  after the test as `registry_repo` is.
- `peer_with`: starts fake registries (protocol peers) on 127.0.0.1 for the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from headwater.devstack import StackInfo
from tests.conftest import _delete_repository
from tests.registry.helpers import PeerFactory, peers

__all__ = ["peer_with", "registry_repos"]


@pytest.fixture
def registry_repos(stack: StackInfo) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        made.append(f"test/img-{uuid.uuid4().hex[:8]}")
        return made[-1]

    try:
        yield make
    finally:
        for name in made:
            _delete_repository(stack.registry.url, name)


@pytest.fixture
async def peer_with() -> AsyncIterator[PeerFactory]:
    async with peers() as start:
        yield start
