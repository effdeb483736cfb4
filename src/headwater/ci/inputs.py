"""Input gathering: what the store knows about a job's inputs, read for the scheduler.

As Concourse's `atc/scheduler/algorithm` input mapper, split in two: this module reads
(the job's resources, the versions that went through its `passed` jobs, the candidate
versions, the versions it already built) and `scheduler.compute_inputs`, a pure
function, decides. It reads no more history than the decision needs: an input with
`passed` only the versions that went through all its jobs, one with `every` or a pin
the whole history, any other only the newest version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from headwater.ci.config.compile import job_inputs
from headwater.ci.config.model import PipelineConfig
from headwater.ci.scheduler import Candidate, Decision, InputSpec, Passed, compute_inputs
from headwater.store import Job, Resource, Store


@dataclass(frozen=True)
class Gathered:
    """A job's inputs and the scheduler's decision about them."""

    specs: list[InputSpec]
    resources: dict[str, Resource]  # by name: every resource of the pipeline
    decision: Decision


def input_specs(config: PipelineConfig, job: str) -> list[InputSpec]:
    """The job's `get` steps as the scheduler sees them."""
    return [InputSpec(name=i.name, resource=i.resource, trigger=i.trigger,
                      passed=tuple(i.passed), every=i.every, pinned=i.pinned)
            for i in job_inputs(config, job)]


async def gather(store: Store, pipeline_id: int, job: Job, specs: list[InputSpec],
                 job_ids: Mapping[str, int]) -> Gathered:
    """Read what `compute_inputs` needs for `job` and ask it. `job_ids`: the pipeline's
    jobs' ids by name (for `passed`)."""
    resources = {r.name: r for r in await store.resources(pipeline_id)}
    passed: dict[tuple[str, str], dict[int, set[int]]] = {}
    for spec in specs:
        for upstream in spec.passed:
            key = (upstream, spec.resource)
            if key not in passed:
                passed[key] = await store.passed_versions(job_ids[upstream],
                                                          resources[spec.resource].id)
    versions = await candidates(store, specs, resources, passed)
    # A pin on the resource applies to every get without a version of its own.
    specs = [s if s.pinned is not None or not resources[s.resource].pin
             else replace(s, pinned=resources[s.resource].pin)
             for s in specs]
    used = await store.used_versions(
        job.id, [c.id for found in versions.values() for c in found])
    return Gathered(specs=specs, resources=resources,
                    decision=compute_inputs(specs, versions, passed, used))


async def candidates(store: Store, specs: list[InputSpec], resources: dict[str, Resource],
                     passed: Passed) -> dict[str, list[Candidate]]:
    """Each resource's versions the inputs may choose from, newest first, reading
    no more history than they need (see the module's docstring)."""
    whole: set[str] = set()
    newest: set[str] = set()
    through: dict[str, set[int]] = {}
    for s in specs:
        if s.passed:
            ids = set.intersection(*(set(passed.get((j, s.resource), {}))
                                     for j in s.passed))
            through.setdefault(s.resource, set()).update(ids)
        elif s.every or s.pinned is not None or resources[s.resource].pin:
            whole.add(s.resource)
        else:
            newest.add(s.resource)
    out: dict[str, list[Candidate]] = {}
    for name in {s.resource for s in specs}:
        rid = resources[name].id
        if name in whole:
            rows = await store.versions(rid, limit=None)
        else:
            rows = await store.versions(rid, limit=1) if name in newest else []
            if through.get(name):
                rows = [*rows, *await store.versions(rid, limit=None, ids=through[name])]
            rows = sorted({v.id: v for v in rows}.values(), key=lambda v: v.check_order,
                          reverse=True)
        out[name] = [Candidate(id=v.id, version=v.version) for v in rows]
    return out
