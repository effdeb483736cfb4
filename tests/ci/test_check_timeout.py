"""A hung `check` is stopped at the server's check timeout (Concourse's
--global-resource-check-timeout) and the error recorded on the resource names it."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headwater.ci.checker import Checker
from headwater.ci.pipelines import set_pipeline
from headwater.ci.resources.types import ResourceTypes
from headwater.store import Store
from tests.ci.builds.helpers import pids_with, sleeper, wait_for


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(None, data_dir=tmp_path)
    yield s
    await s.close()


async def test_a_hung_check_is_stopped_at_the_timeout_with_its_resource_named(
        tmp_path: Path, store: Store) -> None:
    sleep, marker = sleeper()
    check = tmp_path / "types" / "hung" / "check"
    check.parent.mkdir(parents=True)
    check.write_text(f"#!/bin/sh\ncat >/dev/null\necho checking >&2\n{sleep}\n")
    check.chmod(0o755)
    pipeline = textwrap.dedent("""
        resources:
        - {name: repo, type: hung}
        - {name: patient, type: hung, check_timeout: 2s}
        jobs:
        - name: j
          plan: [{get: repo}, {get: patient}]
        """)
    assert (await set_pipeline(store, "main", "p", pipeline, {}, filename="p.yml")).changed
    await store.set_pipeline_paused("main", "p", False)
    checker = Checker(store, types=ResourceTypes({}, tmp_path / "types"),
                      on_new_versions=lambda: None, check_timeout=1.0)
    await checker.check_due()

    found = await store.get_pipeline("main", "p")
    assert found is not None
    errors = {r.name: r.check_error for r in await store.resources(found.id)}
    assert errors == {
        "repo": "check of resource 'repo' timed out after 1s and its script was stopped (the "
                "resource's check_timeout, or the server's --global-resource-check-timeout)",
        "patient": "check of resource 'patient' timed out after 2s and its script was stopped "
                   "(the resource's check_timeout, or the server's "
                   "--global-resource-check-timeout)"}
    await wait_for(lambda: not pids_with(marker))  # SIGTERMed with its group
