"""Build starting: which pending builds may start now, marked started in the store.

As Concourse's `atc/scheduler` build starter: the rules (serial, serial groups,
`max_in_flight`, a job's builds in order) are the pure `scheduler.startable`; this
module reads what it needs (the pending and running builds, their jobs in one query,
the jobs' typed configs) and asks the store to start each allowed build, whose answer
decides (a build aborted since it was read stays unstarted). The runner runs them.

A paused pipeline or job holds its pending builds, a manual trigger's included, until
it is unpaused (as Concourse).
"""

from __future__ import annotations

from collections.abc import Callable, Container

from headwater import log as hwlog
from headwater.ci.config.model import JobConfig
from headwater.ci.scheduler import JobLimits, Pending, startable
from headwater.store import Build, Job, Store

_log = hwlog.get("runner")


def job_limits(job: Job, config: JobConfig) -> JobLimits:
    """The job's limits, its serial groups scoped to its pipeline."""
    return JobLimits.of(job.id, serial=config.serial,
                        serial_groups=[f"{job.pipeline_id}/{g}" for g in config.serial_groups],
                        max_in_flight=config.max_in_flight)


async def start_pending(store: Store, *, paused_pipelines: Container[int],
                        running: Container[int],
                        job_config: Callable[[Job], JobConfig | None]) -> list[Build]:
    """Start the pending builds the limits allow and answer them (oldest first).

    `running`: the ids of builds this process runs already (never started twice);
    `job_config`: a job's typed config (None: its pipeline is gone)."""
    pending = [b for b in await store.pending_builds()
               if b.pipeline_id not in paused_pipelines]
    if not pending:
        return []
    started = await store.running_builds()
    busy: dict[int, int] = {}
    for build in started:
        if build.job_id is not None:
            busy[build.job_id] = busy.get(build.job_id, 0) + 1
    # Limits of every job involved, running ones too: a serial group is busy while
    # any of its jobs runs, even one with nothing pending.
    jobs = await store.jobs_by_id({b.job_id for b in [*pending, *started]
                                   if b.job_id is not None})
    pending = [b for b in pending if b.job_id is None or b.job_id not in jobs
               or not jobs[b.job_id].paused]
    limits: dict[int, JobLimits] = {}
    for job in jobs.values():
        config = job_config(job)
        if config is not None:
            limits[job.id] = job_limits(job, config)
    order = [Pending(b.id, b.job_id) for b in pending]
    allowed = set(startable(order, busy, limits))
    out: list[Build] = []
    for build in pending:
        if build.id in allowed and build.id not in running:
            # Aborted (or ended) since we read it: the store's answer decides.
            if await store.start_build(build.id):
                out.append(build)
            else:
                _log.info("build ended before it started; not running it", build=build.id)
    return out
