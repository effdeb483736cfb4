"""The scheduler's decisions, as pure functions of a job and the versions known.

Two questions, asked on every tick for every job of every unpaused pipeline:

1. `compute_inputs`: which version would each `get` of the job use now, and should
   that make a new build? As Concourse: an input's candidates are its resource's
   versions (newest first), narrowed to the pinned one (step `version: {..}` or the
   resource's pin) and, with `passed: [a, b]`, to versions that went through a
   succeeded build of every listed job. `version: latest` (the default) takes the
   newest candidate, `version: every` the oldest one the job has not built yet. A build
   is due when a `trigger: true` input's version was never used by an earlier build
   of the job under that input's name (Concourse's "first occurrence").
   Not done (yet): Concourse also keeps inputs that share a `passed` job consistent
   (from the same upstream build); here each input is resolved on its own.

2. `startable`: which pending builds may start, given `serial`, `serial_groups` and
   `max_in_flight` and what is already running (oldest pending first).

The runner around these (ci/runner.py) reads the store, calls them and acts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Version = dict[str, str]


@dataclass(frozen=True)
class InputSpec:
    """One `get` of a job, as the scheduler sees it."""

    name: str
    resource: str
    trigger: bool = False
    passed: tuple[str, ...] = ()
    every: bool = False
    pinned: Version | None = None  # the step's `version: {..}`, else the resource's pin


@dataclass(frozen=True)
class Candidate:
    id: int
    version: Version


@dataclass(frozen=True)
class Decision:
    inputs: dict[str, Candidate] | None  # None: some input has no usable version yet
    trigger: bool  # a trigger input has a version this job never built
    waiting: dict[str, str] = field(default_factory=dict)  # input name -> why it waits


def compute_inputs(
    inputs: Sequence[InputSpec],
    versions: Mapping[str, Sequence[Candidate]],
    passed: Mapping[tuple[str, str], set[int]],
    used: Mapping[str, set[int]],
) -> Decision:
    """Choose a version for every input of a job.

    versions: resource name -> its versions, newest first.
    passed: (job, resource) -> ids of versions in a succeeded build of that job.
    used: input name -> ids of versions earlier builds of this job used for it.
    """
    chosen: dict[str, Candidate] = {}
    waiting: dict[str, str] = {}
    for spec in inputs:
        candidates = list(versions.get(spec.resource, ()))
        if spec.pinned is not None:
            candidates = [c for c in candidates if _matches(c.version, spec.pinned)]
            if not candidates:
                waiting[spec.name] = f"pinned version {spec.pinned} not found"
                continue
        for job in spec.passed:
            through = passed.get((job, spec.resource), set())
            candidates = [c for c in candidates if c.id in through]
        if not candidates:
            waiting[spec.name] = (
                f"no version of {spec.resource} passed {', '.join(spec.passed)}"
                if spec.passed else f"no versions of {spec.resource} yet")
            continue
        if spec.every:
            seen = used.get(spec.name, set())
            fresh = [c for c in candidates if c.id not in seen]
            chosen[spec.name] = fresh[-1] if fresh else candidates[0]
        else:
            chosen[spec.name] = candidates[0]
    if waiting:
        return Decision(inputs=None, trigger=False, waiting=waiting)
    trigger = any(
        spec.trigger and chosen[spec.name].id not in used.get(spec.name, set())
        for spec in inputs)
    return Decision(inputs=chosen, trigger=trigger)


def _matches(version: Version, pin: Version) -> bool:
    # Concourse pins with a partial version: every given field must match.
    return all(version.get(k) == v for k, v in pin.items())


@dataclass(frozen=True)
class JobLimits:
    name: str
    max_in_flight: int | None = None  # None: unlimited
    serial_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, *, serial: bool = False, serial_groups: Sequence[str] = (),
           max_in_flight: int | None = None) -> JobLimits:
        """Concourse's rules: `serial` means one at a time; `serial_groups` also means
        one at a time across the group unless `max_in_flight` says more."""
        if max_in_flight is None and (serial or serial_groups):
            max_in_flight = 1
        return cls(name=name, max_in_flight=max_in_flight, serial_groups=tuple(serial_groups))


@dataclass(frozen=True)
class Pending:
    build_id: int
    job: str


def startable(pending: Sequence[Pending], running: Mapping[str, int],
              limits: Mapping[str, JobLimits]) -> list[int]:
    """The pending builds (oldest first) that may start now.

    running: job name -> builds of that job already started. A job's builds start
    in order: when its oldest pending build must wait, its later ones wait too.
    """
    busy = dict(running)
    blocked: set[str] = set()
    group_busy: dict[str, int] = {}
    for job, count in running.items():
        for group in limits[job].serial_groups if job in limits else ():
            group_busy[group] = group_busy.get(group, 0) + count
    out: list[int] = []
    for build in pending:
        if build.job in blocked:
            continue
        lim = limits.get(build.job, JobLimits(build.job))
        cap = lim.max_in_flight
        if cap is not None and (
            busy.get(build.job, 0) >= cap
            or any(group_busy.get(g, 0) >= cap for g in lim.serial_groups)
        ):
            blocked.add(build.job)
            continue
        out.append(build.build_id)
        busy[build.job] = busy.get(build.job, 0) + 1
        for group in lim.serial_groups:
            group_busy[group] = group_busy.get(group, 0) + 1
    return out
