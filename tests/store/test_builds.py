"""Builds: numbering, life cycle, abort, listing, restart recovery, scheduler queries."""

from __future__ import annotations

import asyncio

import pytest

from headwater.store import BuildInput, BuildStatus, Store
from headwater.store.builds import RESTART_MESSAGE
from tests.store.helpers import ids, job_build, set_pipeline


async def _setup(store: Store) -> tuple[int, dict[str, int], dict[str, int]]:
    saved = await set_pipeline(store, resources=["repo", "image"], jobs=["build", "deploy"])
    resources, jobs = await ids(store, saved.id)
    return saved.id, resources, jobs


async def test_concurrent_builds_of_a_job_are_numbered_1_to_50_without_gap_or_duplicate(
        store: Store) -> None:
    pid, _, jobs = await _setup(store)
    made = await asyncio.gather(*(job_build(store, pid, jobs["build"]) for _ in range(50)))
    assert sorted(int(b.name) for b in made) == list(range(1, 51))
    other = await job_build(store, pid, jobs["deploy"])
    assert other.name == "1"  # numbers are per job
    job = await store.job_by_id(jobs["build"])
    assert job is not None and job.next_build_number == 51


async def test_one_off_builds_take_a_global_number_and_carry_their_plan(store: Store) -> None:
    made = await asyncio.gather(*(
        store.create_build(team="main", pipeline_id=None, job_id=None, inputs=[],
                           manually_triggered=True, plan='{"id": "task"}')
        for _ in range(10)))
    assert sorted(int(b.name) for b in made) == list(range(1, 11))
    assert all(b.plan == '{"id": "task"}' and b.job_id is None and b.pipeline_id is None
               for b in made)


async def test_a_build_goes_pending_started_finished_with_its_times(store: Store) -> None:
    pid, _, jobs = await _setup(store)
    build = await job_build(store, pid, jobs["build"])
    assert (build.status, build.pipeline_name, build.job_name, build.start_time) == (
        BuildStatus.PENDING, "p", "build", None)
    await store.set_build_plan(build.id, '{"id": "1"}')
    assert await store.start_build(build.id)
    assert not await store.start_build(build.id)
    started = await store.build(build.id)
    assert started is not None and started.status == "started" and started.plan == '{"id": "1"}'
    assert await store.finish_build(build.id, "succeeded")
    assert not await store.finish_build(build.id, "failed")  # the first end stands
    done = await store.build(build.id)
    assert done is not None and done.status is BuildStatus.SUCCEEDED
    assert done.start_time is not None and done.end_time is not None
    assert done.create_time <= done.start_time <= done.end_time


async def test_aborting_a_pending_build_ends_it_and_a_started_one_is_flagged(
        store: Store) -> None:
    pid, _, jobs = await _setup(store)
    pending = await job_build(store, pid, jobs["build"])
    running = await job_build(store, pid, jobs["build"])
    await store.start_build(running.id)

    assert await store.request_abort(pending.id)
    aborted = await store.build(pending.id)
    assert aborted is not None and aborted.status is BuildStatus.ABORTED and aborted.aborted
    assert [(e.type, e.payload["status"]) for e in await store.events(pending.id)] == [
        ("status", "aborted")]
    assert not await store.start_build(pending.id)

    assert await store.request_abort(running.id)
    flagged = await store.build(running.id)
    assert flagged is not None and flagged.status is BuildStatus.STARTED and flagged.aborted
    await store.finish_build(running.id, "aborted")
    assert not await store.request_abort(running.id)
    assert not await store.request_abort(999_999)


async def test_builds_are_listed_newest_first_filtered_and_paged(store: Store) -> None:
    pid, _, jobs = await _setup(store)
    first = [await job_build(store, pid, jobs["build"]) for _ in range(3)]
    second = await job_build(store, pid, jobs["deploy"])
    other = await store.create_build(team="other", pipeline_id=None, job_id=None, inputs=[],
                                     manually_triggered=True)
    everything = [b.id for b in await store.builds()]
    assert everything == sorted(everything, reverse=True) and len(everything) == 5
    assert [b.id for b in await store.builds(team="other")] == [other.id]
    assert [b.id for b in await store.builds(pipeline_id=pid)] == [
        second.id, *(b.id for b in reversed(first))]
    page = await store.builds(job_id=jobs["build"], limit=2)
    rest = await store.builds(job_id=jobs["build"], before_id=page[-1].id)
    assert [b.name for b in page + rest] == ["3", "2", "1"]
    assert await store.job_build(pid, "build", "2") == first[1]
    assert await store.job_build(pid, "deploy", "2") is None


async def test_pending_and_running_builds_and_in_flight_counts(store: Store) -> None:
    pid, _, jobs = await _setup(store)
    a, b, c = [await job_build(store, pid, jobs["build"]) for _ in range(3)]
    d = await job_build(store, pid, jobs["deploy"])
    await store.start_build(b.id)
    await store.start_build(d.id)
    await store.finish_build(d.id, "failed")
    assert [x.id for x in await store.pending_builds()] == [a.id, c.id]
    assert [x.id for x in await store.running_builds()] == [b.id]
    assert await store.running_builds(job_id=jobs["deploy"]) == []
    assert await store.in_flight_counts() == {jobs["build"]: 3}


async def test_after_a_restart_started_builds_are_errored_and_pending_ones_stay(
        store: Store) -> None:
    pid, _, jobs = await _setup(store)
    running = await job_build(store, pid, jobs["build"])
    pending = await job_build(store, pid, jobs["build"])
    finished = await job_build(store, pid, jobs["deploy"])
    for build in (running, finished):
        await store.start_build(build.id)
    await store.add_event(running.id, "log", {"payload": "working"})
    await store.finish_build(finished.id, "succeeded")

    assert await store.mark_running_builds_errored() == [running.id]
    errored = await store.build(running.id)
    assert errored is not None and errored.status is BuildStatus.ERRORED
    assert errored.end_time is not None
    events = await store.events(running.id)
    assert [(e.seq, e.type) for e in events] == [(1, "log"), (2, "error"), (3, "status")]
    assert events[1].payload["message"] == RESTART_MESSAGE
    assert events[2].payload["status"] == "errored"
    assert [b.id for b in await store.pending_builds()] == [pending.id]
    assert await store.mark_running_builds_errored() == []


async def test_build_inputs_and_outputs_come_back_with_their_versions(store: Store) -> None:
    pid, res, jobs = await _setup(store)
    await store.save_versions(res["repo"], [{"ref": "a"}])
    va = await store.version_id(res["repo"], {"ref": "a"})
    assert va is not None
    build = await job_build(store, pid, jobs["build"], [BuildInput("src", res["repo"], va)])
    out = await store.save_output_version(res["image"], {"digest": "sha256:1"}, [])
    await store.add_build_output(build.id, "image", res["image"], out)
    await store.add_build_output(build.id, "image", res["image"], out)  # idempotent
    [given] = await store.build_inputs(build.id)
    assert (given.name, given.resource_id, given.version_id, given.version) == (
        "src", res["repo"], va, {"ref": "a"})
    [made] = await store.build_outputs(build.id)
    assert (made.name, made.version_id, made.version) == ("image", out, {"digest": "sha256:1"})


async def test_used_versions_hold_every_build_of_the_job_whatever_its_status(
        store: Store) -> None:
    pid, res, jobs = await _setup(store)
    await store.save_versions(res["repo"], [{"ref": "a"}, {"ref": "b"}])
    await store.save_versions(res["image"], [{"d": "1"}])
    va, vb = [await store.version_id(res["repo"], {"ref": r}) for r in ("a", "b")]
    vi = await store.version_id(res["image"], {"d": "1"})
    assert va and vb and vi
    one = await job_build(store, pid, jobs["build"], [
        BuildInput("repo", res["repo"], va), BuildInput("img", res["image"], vi)])
    await store.finish_build(one.id, "failed")
    await job_build(store, pid, jobs["build"], [BuildInput("repo", res["repo"], vb)])
    await job_build(store, pid, jobs["deploy"], [BuildInput("repo", res["repo"], vb)])
    assert await store.used_versions(jobs["build"], [va, vb, vi]) == {
        "repo": {va, vb}, "img": {vi}}
    # Only the versions asked about: a long history is not read.
    assert await store.used_versions(jobs["build"], [vb]) == {"repo": {vb}}
    assert await store.used_versions(jobs["deploy"], []) == {}


async def test_passed_versions_are_inputs_and_outputs_of_succeeded_builds_only(
        store: Store) -> None:
    pid, res, jobs = await _setup(store)
    await store.save_versions(res["repo"], [{"ref": r} for r in ("a", "b", "c")])
    va, vb, vc = [await store.version_id(res["repo"], {"ref": r}) for r in ("a", "b", "c")]
    assert va and vb and vc
    ok = await job_build(store, pid, jobs["build"], [BuildInput("repo", res["repo"], va)])
    put = await store.save_output_version(res["repo"], {"ref": "tag"}, [])
    await store.add_build_output(ok.id, "repo", res["repo"], put)
    await store.finish_build(ok.id, "succeeded")
    bad = await job_build(store, pid, jobs["build"], [BuildInput("repo", res["repo"], vb)])
    await store.finish_build(bad.id, "failed")
    await job_build(store, pid, jobs["build"], [BuildInput("repo", res["repo"], vc)])  # pending
    elsewhere = await job_build(store, pid, jobs["deploy"], [BuildInput("repo", res["repo"], vc)])
    await store.finish_build(elsewhere.id, "succeeded")

    assert await store.passed_versions(jobs["build"], res["repo"]) == {va: {ok.id},
                                                                        put: {ok.id}}
    assert await store.passed_versions(jobs["build"], res["image"]) == {}


async def test_a_rerun_copies_the_inputs_and_is_named_after_the_original(
        store: Store) -> None:
    pid, res, jobs = await _setup(store)
    await store.save_versions(res["repo"], [{"ref": "a"}])
    va = await store.version_id(res["repo"], {"ref": "a"})
    assert va
    first = await job_build(store, pid, jobs["build"], [BuildInput("repo", res["repo"], va)])
    await store.finish_build(first.id, "failed")
    await job_build(store, pid, jobs["build"])  # build 2
    again = await store.create_rerun(first.id)
    assert (again.name, again.status, again.job_id) == ("1.1", "pending", jobs["build"])
    [copied] = await store.build_inputs(again.id)
    assert (copied.name, copied.version_id) == ("repo", va)
    # Reruns of a rerun count from the original; concurrent ones get distinct numbers.
    more = await asyncio.gather(*(store.create_rerun(again.id) for _ in range(5)))
    assert sorted(b.name for b in more) == ["1.2", "1.3", "1.4", "1.5", "1.6"]
    job = await store.job_by_id(jobs["build"])
    assert job is not None and job.next_build_number == 3  # reruns take no number
    one_off = await store.create_build(team="main", pipeline_id=None, job_id=None,
                                       inputs=[], manually_triggered=True)
    with pytest.raises(LookupError, match="not a build of a job"):
        await store.create_rerun(one_off.id)


async def test_latest_builds_gives_each_jobs_newest_build_and_skips_jobs_without_one(
        store: Store) -> None:
    saved = await set_pipeline(store, jobs=["build", "deploy", "idle"])
    _, jobs = await ids(store, saved.id)
    await job_build(store, saved.id, jobs["build"])
    newest = await job_build(store, saved.id, jobs["build"])
    deploy = await job_build(store, saved.id, jobs["deploy"])
    await store.finish_build(deploy.id, BuildStatus.FAILED)
    latest = await store.latest_builds(list(jobs.values()))
    assert {j: (b.id, b.status) for j, b in latest.items()} == {
        jobs["build"]: (newest.id, BuildStatus.PENDING),
        jobs["deploy"]: (deploy.id, BuildStatus.FAILED)}
    assert await store.latest_builds([]) == {}
