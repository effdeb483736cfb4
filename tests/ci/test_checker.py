"""The checker on a real SQLite store: what is due, where a check starts, what a
failure leaves on the resource."""

from __future__ import annotations

import textwrap
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from headwater.ci.checker import Checker
from headwater.ci.pipelines import set_pipeline
from headwater.ci.resources.base import Fetched, Log, ResourceError, Version
from headwater.ci.resources.types import ResourceTypes
from headwater.store import Store


class Counter:
    """A built-in type for tests: answers the next number; records where it started."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.started_from: list[Version | None] = []
        self.fail = fail

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        self.started_from.append(version)
        if self.fail is not None:
            raise self.fail
        n = int(version["n"]) + 1 if version else 1
        return [{"n": str(n)}]

    async def get(self, source: Mapping[str, Any], version: Version,
                  params: Mapping[str, Any], dest: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        raise AssertionError("not used")

    async def put(self, source: Mapping[str, Any], params: Mapping[str, Any],
                  workdir: Path, *, log: Log,
                  env: Mapping[str, str] | None = None) -> Fetched:
        raise AssertionError("not used")


PIPELINE = textwrap.dedent("""
    resources:
    - {name: every-minute, type: counter}
    - {name: hourly, type: counter, check_every: 1h}
    - {name: hooked, type: counter, check_every: never}
    jobs:
    - name: j
      plan:
      - get: every-minute
      - get: hourly
      - get: hooked
    """)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(None, data_dir=tmp_path)
    saved = await set_pipeline(s, "main", "p", PIPELINE, {}, filename="p.yml")
    assert saved.changed
    await s.set_pipeline_paused("main", "p", False)
    yield s
    await s.close()


async def _resources(store: Store) -> dict[str, Any]:
    pipeline = await store.get_pipeline("main", "p")
    assert pipeline is not None
    return {r.name: r for r in await store.resources(pipeline.id)}


async def test_due_resources_are_checked_from_their_newest_version(store: Store) -> None:
    counter = Counter()
    checker = Checker(store, types=ResourceTypes({"counter": counter}),
                      on_new_versions=lambda: None)
    now = time.time()
    await checker.check_due(now)  # never checked: every-minute and hourly, not `never`
    await checker.check_due(now + 61)  # every-minute again, from its stored version
    assert counter.started_from == [None, None, {"n": "1"}]
    found = await _resources(store)
    assert [v.version for v in await store.versions(found["every-minute"].id)] == [
        {"n": "2"}, {"n": "1"}]
    assert await store.versions(found["hooked"].id) == []
    assert found["every-minute"].check_error is None


@pytest.mark.parametrize(("error", "recorded"), [
    (ResourceError("repository not found"), "repository not found"),
    (RuntimeError("a bug"), "headwater error: RuntimeError: a bug"),
])
async def test_a_failed_check_is_recorded_on_the_resource(
        store: Store, error: BaseException, recorded: str) -> None:
    checker = Checker(store, types=ResourceTypes({"counter": Counter(fail=error)}),
                      on_new_versions=lambda: None)
    await checker.check_due()
    found = await _resources(store)
    assert found["hourly"].check_error == recorded
    assert found["hourly"].last_checked is not None


class Echo(Counter):
    """A type whose check fails printing its whole source, as a careless script does."""

    async def check(self, source: Mapping[str, Any], version: Version | None, *,
                    log: Log) -> list[Version]:
        raise ResourceError(f"check failed: cannot log in with {dict(source)}")


async def test_a_check_error_carrying_var_values_is_stored_redacted(tmp_path: Path) -> None:
    text = textwrap.dedent("""
        resources:
        - name: r
          type: echo
          source: {password: ((password)), pin: ((pin)), port: ((port)), tls: ((tls))}
        jobs:
        - {name: j, plan: [{get: r}]}
        """)
    async with await Store.open(None, data_dir=tmp_path) as store:
        await set_pipeline(store, "main", "p", text,
                           {"password": "s3cr3t-pass", "pin": 987654, "port": 22,
                            "tls": True}, filename="p.yml")
        await store.set_pipeline_paused("main", "p", False)
        checker = Checker(store, types=ResourceTypes({"echo": Echo()}),
                          on_new_versions=lambda: None)
        await checker.check_due()
        pipeline = await store.get_pipeline("main", "p")
        assert pipeline is not None
        [res] = await store.resources(pipeline.id)
    assert res.check_error is not None
    assert "s3cr3t-pass" not in res.check_error and "987654" not in res.check_error
    # Numbers shorter than the redactor's minimum (3) and booleans stay: see vars.py.
    assert res.check_error == ("check failed: cannot log in with {'password': "
                               "'((redacted))', 'pin': ((redacted)), 'port': 22, "
                               "'tls': True}")
