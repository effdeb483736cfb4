"""Pipelines: upsert, paused, resources and jobs matched by name, inactive, destroy."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from headwater.store import BuildInput, JobSpec, Store
from headwater.store.schema import build_events, builds, resource_versions
from tests.store.helpers import ids, job_build, resource, set_pipeline


async def test_a_new_pipeline_starts_paused_at_version_1_and_a_reset_bumps_the_version(
        store: Store) -> None:
    first = await set_pipeline(store)
    assert first.created and first.version == 1
    await store.set_pipeline_paused("main", "p", False)
    again = await store.save_pipeline(
        "main", "p", config={"v": 2}, config_text="v: 2\n", redact=["s3cret"],
        resources=[resource("repo")], jobs=[JobSpec("build")])
    assert (again.id, again.created, again.version) == (first.id, False, 2)
    pipeline = await store.get_pipeline("main", "p")
    assert pipeline is not None
    assert (pipeline.paused, pipeline.config, pipeline.config_text, pipeline.redact) == (
        False, {"v": 2}, "v: 2\n", ["s3cret"])  # a re-set does not pause it again
    assert pipeline.updated_at >= pipeline.created_at
    assert await store.pipeline_by_id(first.id) == pipeline


async def test_pipelines_are_listed_per_team_and_looked_up_by_team(store: Store) -> None:
    await set_pipeline(store, "a")
    await set_pipeline(store, "b")
    await set_pipeline(store, "a", team="other")
    assert [p.name for p in await store.list_pipelines("main")] == ["a", "b"]
    assert [(p.team, p.name) for p in await store.list_pipelines("other")] == [("other", "a")]
    assert len(await store.all_pipelines()) == 3
    assert await store.get_pipeline("nobody", "a") is None
    assert not await store.set_pipeline_paused("main", "missing", False)


async def test_a_reset_keeps_resource_and_job_ids_versions_and_builds(store: Store) -> None:
    saved = await set_pipeline(store, resources=["repo", "image"], jobs=["build", "deploy"])
    resources, jobs = await ids(store, saved.id)
    await store.save_versions(resources["repo"], [{"ref": "a"}])
    vid = await store.version_id(resources["repo"], {"ref": "a"})
    assert vid is not None
    build = await job_build(store, saved.id, jobs["build"],
                            [BuildInput("repo", resources["repo"], vid)])

    await set_pipeline(store, resources=["image", "repo"], jobs=["deploy", "build"])

    assert await ids(store, saved.id) == (resources, jobs)
    assert [v.version for v in await store.versions(resources["repo"])] == [{"ref": "a"}]
    assert await store.build(build.id) == build
    job = await store.job(saved.id, "build")
    assert job is not None and job.next_build_number == 2


async def test_resources_and_jobs_dropped_by_a_reset_are_hidden_and_come_back_as_they_were(
        store: Store) -> None:
    saved = await set_pipeline(store, resources=["repo", "old"], jobs=["build", "gone"])
    resources, jobs = await ids(store, saved.id)
    await store.save_versions(resources["old"], [{"v": "1"}])
    await job_build(store, saved.id, jobs["gone"])

    await set_pipeline(store, resources=["repo"], jobs=["build"])
    assert [r.name for r in await store.resources(saved.id)] == ["repo"]
    assert [j.name for j in await store.jobs(saved.id)] == ["build"]
    assert await store.resource(saved.id, "old") is None
    assert await store.job(saved.id, "gone") is None
    assert await store.job_by_id(jobs["gone"]) is not None  # kept, with its builds
    assert len(await store.builds(job_id=jobs["gone"])) == 1

    await set_pipeline(store, resources=["repo", "old"], jobs=["build", "gone"])
    assert await ids(store, saved.id) == (resources, jobs)
    assert [v.version for v in await store.versions(resources["old"])] == [{"v": "1"}]
    gone = await store.job(saved.id, "gone")
    assert gone is not None and gone.next_build_number == 2


async def test_resource_settings_follow_the_config_and_a_new_source_starts_a_new_history(
        store: Store) -> None:
    saved = await store.save_pipeline(
        "main", "p", config={}, config_text="", redact=[], jobs=[],
        resources=[resource("repo", source={"branch": "main"}, check_every=60.0)])
    repo = await store.resource(saved.id, "repo")
    assert repo is not None
    await store.save_versions(repo.id, [{"ref": "m1"}])
    await store.record_check(repo.id, error=None)

    await store.save_pipeline(
        "main", "p", config={}, config_text="", redact=[], jobs=[],
        resources=[resource("repo", source={"branch": "main"}, check_every=None,
                            webhook_token="tok", pinned_version={"ref": "m1"},
                            config={"icon": "git"})])
    same = await store.resource(saved.id, "repo")
    assert same is not None
    assert (same.check_every, same.webhook_token_sha256, same.pinned_version, same.config) == (
        None, hashlib.sha256(b"tok").hexdigest(), {"ref": "m1"}, {"icon": "git"})
    assert same.last_checked is not None  # same source: the check state is kept

    await store.save_pipeline(
        "main", "p", config={}, config_text="", redact=[], jobs=[],
        resources=[resource("repo", source={"branch": "release"})])
    moved = await store.resource(saved.id, "repo")
    assert moved is not None and moved.id == repo.id
    assert moved.last_checked is None  # checked again at once
    assert await store.versions(repo.id) == []
    await store.save_versions(repo.id, [{"ref": "r1"}])

    await store.save_pipeline(
        "main", "p", config={}, config_text="", redact=[], jobs=[],
        resources=[resource("repo", source={"branch": "main"})])
    assert [v.version for v in await store.versions(repo.id)] == [{"ref": "m1"}]


async def test_a_job_keeps_the_paused_state_a_user_gave_it_across_resets(store: Store) -> None:
    saved = await set_pipeline(store, jobs=["build"])
    job = await store.job(saved.id, "build")
    assert job is not None and not job.paused
    assert await store.set_job_paused(job.id, True)
    await set_pipeline(store, jobs=["build"])
    again = await store.job(saved.id, "build")
    assert again is not None and again.paused


async def test_destroying_a_pipeline_removes_its_resources_versions_builds_and_events(
        store: Store) -> None:
    doomed = await set_pipeline(store, "doomed")
    kept = await set_pipeline(store, "kept")
    for saved in (doomed, kept):
        resources, jobs = await ids(store, saved.id)
        await store.save_versions(resources["repo"], [{"ref": "a"}])
        build = await job_build(store, saved.id, jobs["build"])
        await store.add_event(build.id, "log", {"payload": "hi"})

    assert await store.destroy_pipeline("main", "doomed")
    assert not await store.destroy_pipeline("main", "doomed")
    assert await store.get_pipeline("main", "doomed") is None
    assert await store.resources(doomed.id) == []
    async with store._db.read() as conn:
        counts = [(await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar()
                  for t in (resource_versions, builds, build_events)]
    assert counts == [1, 1, 1]  # only the kept pipeline's rows are left


async def test_resources_to_check_are_the_active_ones_of_unpaused_pipelines(
        store: Store) -> None:
    live = await set_pipeline(store, "live", resources=["a", "b", "dropped"])
    await set_pipeline(store, "live", resources=["a", "b"])
    await set_pipeline(store, "paused", resources=["c"])
    await store.set_pipeline_paused("main", "live", False)

    found = await store.resources_to_check()
    assert [(p.name, r.name) for p, r in found] == [("live", "a"), ("live", "b")]
    assert all(p.id == live.id and not p.paused for p, _ in found)


async def test_all_jobs_lists_the_active_jobs_of_every_pipeline_and_jobs_by_id_any_of_them(
        store: Store) -> None:
    a = await set_pipeline(store, "a", jobs=["build", "gone"])
    b = await set_pipeline(store, "b", jobs=["test"])
    _, a_jobs = await ids(store, a.id)
    await set_pipeline(store, "a", jobs=["build"])  # "gone" is inactive now
    assert [(j.pipeline_id, j.name) for j in await store.all_jobs()] == [
        (a.id, "build"), (b.id, "test")]
    by_id = await store.jobs_by_id({a_jobs["gone"], a_jobs["build"], 999})
    assert {i: j.name for i, j in by_id.items()} == {a_jobs["gone"]: "gone",
                                                     a_jobs["build"]: "build"}
    assert await store.jobs_by_id(set()) == {}
