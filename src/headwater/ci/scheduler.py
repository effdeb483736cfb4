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
   Inputs that share a `passed` job are kept consistent, as Concourse's algorithm
   does: their versions must have gone through one and the same succeeded build of
   that job (the source and the image it built, not the newest of each). The
   search backtracks, newest combination first, and gives up after
   `MAX_ATTEMPTS` tries with a reason rather than hold up the scheduler.

2. `startable`: which pending builds may start, given `serial`, `serial_groups` and
   `max_in_flight` and what is already running (oldest pending first).

What reads the store for them is `ci/inputs.py` and `ci/buildstarter.py`; the runner
(`ci/runner.py`) calls those and acts. Jobs and builds are keyed by their ids.
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


MAX_ATTEMPTS = 10_000  # candidate versions tried per job and round, at most

# (upstream job, resource) -> version id -> ids of the job's succeeded builds that
# had the version as an input or an output.
Passed = Mapping[tuple[str, str], Mapping[int, set[int]]]


def compute_inputs(
    inputs: Sequence[InputSpec],
    versions: Mapping[str, Sequence[Candidate]],
    passed: Passed,
    used: Mapping[str, set[int]],
) -> Decision:
    """Choose a version for every input of a job.

    versions: resource name -> its versions, newest first.
    passed: see `Passed`.
    used: input name -> ids of versions earlier builds of this job used for it.
    """
    ordered: dict[str, list[Candidate]] = {}
    waiting: dict[str, str] = {}
    for spec in inputs:
        candidates = list(versions.get(spec.resource, ()))
        if spec.pinned is not None:
            candidates = [c for c in candidates if _matches(c.version, spec.pinned)]
            if not candidates:
                waiting[spec.name] = f"pinned version {spec.pinned} not found"
                continue
        for job in spec.passed:
            through = passed.get((job, spec.resource), {})
            candidates = [c for c in candidates if through.get(c.id)]
        if not candidates:
            waiting[spec.name] = (
                f"no version of {spec.resource} passed {', '.join(spec.passed)}"
                if spec.passed else f"no versions of {spec.resource} yet")
            continue
        ordered[spec.name] = _preference(spec, candidates, used.get(spec.name, set()))
    if waiting:
        return Decision(inputs=None, trigger=False, waiting=waiting)
    constrained = [s for s in inputs if s.passed]
    chosen = {s.name: ordered[s.name][0] for s in inputs if not s.passed}
    search = _Search(constrained, ordered, passed)
    found = search.run()
    if found is None:
        names = ", ".join(s.name for s in constrained)
        why = (f"gave up after {MAX_ATTEMPTS} combinations" if search.attempts >= MAX_ATTEMPTS
               else "no combination of their versions went through the same build of "
                    + ", ".join(sorted({j for s in constrained for j in s.passed})))
        return Decision(inputs=None, trigger=False, waiting={names: why})
    chosen.update(found)
    trigger = any(
        spec.trigger and chosen[spec.name].id not in used.get(spec.name, set())
        for spec in inputs)
    return Decision(inputs={s.name: chosen[s.name] for s in inputs}, trigger=trigger)


def _preference(spec: InputSpec, candidates: list[Candidate], seen: set[int]
                ) -> list[Candidate]:
    """The order to try an input's candidates in: `latest`, newest first; `every`, the
    versions this job has not built yet oldest first, then the others newest first."""
    if not spec.every:
        return candidates
    fresh = [c for c in reversed(candidates) if c.id not in seen]
    return fresh + [c for c in candidates if c.id in seen]


class _Search:
    """Backtracking over the inputs with `passed`: each choice narrows, per upstream
    job, the builds the next inputs' versions must have gone through."""

    def __init__(self, specs: list[InputSpec], ordered: Mapping[str, list[Candidate]],
                 passed: Passed) -> None:
        self._specs = specs
        self._ordered = ordered
        self._passed = passed
        self.attempts = 0

    def run(self) -> dict[str, Candidate] | None:
        return self._choose(0, {})

    def _choose(self, index: int, builds: dict[str, set[int]]) -> dict[str, Candidate] | None:
        if index == len(self._specs):
            return {}
        spec = self._specs[index]
        for candidate in self._ordered[spec.name]:
            self.attempts += 1
            if self.attempts > MAX_ATTEMPTS:
                return None
            narrowed = dict(builds)
            for job in spec.passed:
                through = self._passed.get((job, spec.resource), {}).get(candidate.id, set())
                narrowed[job] = through if job not in builds else builds[job] & through
                if not narrowed[job]:
                    break
            else:
                rest = self._choose(index + 1, narrowed)
                if rest is not None:
                    return {spec.name: candidate, **rest}
        return None


def _matches(version: Version, pin: Version) -> bool:
    # Concourse pins with a partial version: every given field must match.
    return all(version.get(k) == v for k, v in pin.items())


@dataclass(frozen=True)
class JobLimits:
    job_id: int
    max_in_flight: int | None = None  # None: unlimited
    serial_groups: tuple[str, ...] = ()  # scoped to the pipeline by the caller

    @classmethod
    def of(cls, job_id: int, *, serial: bool = False, serial_groups: Sequence[str] = (),
           max_in_flight: int | None = None) -> JobLimits:
        """Concourse's rules: `serial` means one at a time; `serial_groups` also means
        one at a time across the group unless `max_in_flight` says more."""
        if max_in_flight is None and (serial or serial_groups):
            max_in_flight = 1
        return cls(job_id=job_id, max_in_flight=max_in_flight,
                   serial_groups=tuple(serial_groups))


@dataclass(frozen=True)
class Pending:
    build_id: int
    job_id: int | None  # None: a one-off build (`execute`), which no limit holds


def startable(pending: Sequence[Pending], running: Mapping[int, int],
              limits: Mapping[int, JobLimits]) -> list[int]:
    """The ids of the pending builds (oldest first) that may start now.

    running: job id -> builds of that job already started; limits: by job id (a job
    without is unlimited). A job's builds start in order: when its oldest pending
    build must wait, its later ones wait too.
    """
    busy = dict(running)
    blocked: set[int] = set()
    group_busy: dict[str, int] = {}
    for job_id, count in running.items():
        for group in limits[job_id].serial_groups if job_id in limits else ():
            group_busy[group] = group_busy.get(group, 0) + count
    out: list[int] = []
    for build in pending:
        job = build.job_id
        if job is None:
            out.append(build.build_id)
            continue
        if job in blocked:
            continue
        lim = limits.get(job, JobLimits(job))
        cap = lim.max_in_flight
        if cap is not None and (
            busy.get(job, 0) >= cap
            or any(group_busy.get(g, 0) >= cap for g in lim.serial_groups)
        ):
            blocked.add(job)
            continue
        out.append(build.build_id)
        busy[job] = busy.get(job, 0) + 1
        for group in lim.serial_groups:
            group_busy[group] = group_busy.get(group, 0) + 1
    return out
