"""The scheduler's decisions as plain functions: recorded cases, no I/O."""

from __future__ import annotations

import pytest

from headwater.ci.scheduler import (
    MAX_ATTEMPTS,
    Candidate,
    InputSpec,
    JobLimits,
    Pending,
    compute_inputs,
    startable,
)

V = [Candidate(id=i, version={"ref": f"r{i}"}) for i in range(1, 6)]
NEWEST_FIRST = list(reversed(V))  # r5 .. r1


def test_latest_version_of_a_trigger_input_never_built_triggers_a_build() -> None:
    d = compute_inputs([InputSpec("git", "git", trigger=True)], {"git": NEWEST_FIRST}, {}, {})
    assert d.inputs == {"git": V[4]} and d.trigger


def test_a_version_already_built_does_not_trigger_again() -> None:
    d = compute_inputs([InputSpec("git", "git", trigger=True)], {"git": NEWEST_FIRST}, {},
                       {"git": {5}})
    assert d.inputs == {"git": V[4]} and not d.trigger


def test_a_new_version_of_a_non_trigger_input_does_not_trigger() -> None:
    specs = [InputSpec("git", "git", trigger=True), InputSpec("version", "version")]
    d = compute_inputs(specs, {"git": NEWEST_FIRST, "version": NEWEST_FIRST}, {},
                       {"git": {5}, "version": {4}})
    assert d.inputs is not None and d.inputs["version"] == V[4] and not d.trigger


def test_an_input_without_versions_waits_and_says_why() -> None:
    d = compute_inputs([InputSpec("git", "git", trigger=True), InputSpec("v", "version")],
                       {"git": NEWEST_FIRST}, {}, {})
    assert d.inputs is None and not d.trigger
    assert d.waiting == {"v": "no versions of version yet"}


def test_passed_keeps_versions_that_went_through_every_listed_job() -> None:
    spec = InputSpec("git", "git", trigger=True, passed=("unit", "lint"))
    passed = {("unit", "git"): {2: {12}, 3: {13}, 4: {14}}, ("lint", "git"): {1: {21}, 3: {23}}}
    d = compute_inputs([spec], {"git": NEWEST_FIRST}, passed, {})
    assert d.inputs == {"git": V[2]} and d.trigger


def test_passed_with_no_common_version_waits() -> None:
    spec = InputSpec("git", "git", passed=("unit",))
    d = compute_inputs([spec], {"git": NEWEST_FIRST}, {}, {})
    assert d.inputs is None and d.waiting == {"git": "no version of git passed unit"}


def test_inputs_sharing_a_passed_job_come_from_the_same_build_of_it() -> None:
    # build (ids 101, 102) ran on src r1 -> image r1, then src r2 -> image r2; a third
    # build on src r3 failed, and an image r3 was pushed outside the pipeline.
    specs = [InputSpec("src", "src", trigger=True, passed=("build",)),
             InputSpec("image", "image", trigger=True, passed=("build",))]
    passed = {("build", "src"): {1: {101}, 2: {102}},
              ("build", "image"): {1: {101}, 2: {102}}}
    d = compute_inputs(specs, {"src": NEWEST_FIRST, "image": NEWEST_FIRST}, passed, {})
    assert d.inputs == {"src": V[1], "image": V[1]} and d.trigger
    # image r2 was built by 103 on src r1 (a rebuild): src r2 has no matching image,
    # so the newest consistent pair is src r1 + image r2 (from 103), not src r2 + r2.
    passed = {("build", "src"): {1: {101, 103}, 2: {102}},
              ("build", "image"): {1: {101}, 2: {103}}}
    d = compute_inputs(specs, {"src": NEWEST_FIRST, "image": NEWEST_FIRST}, passed, {})
    assert d.inputs == {"src": V[0], "image": V[1]}


def test_inputs_whose_versions_never_met_in_one_build_wait_and_say_why() -> None:
    specs = [InputSpec("src", "src", passed=("build",)),
             InputSpec("image", "image", passed=("build", "test"))]
    passed = {("build", "src"): {1: {101}}, ("build", "image"): {2: {102}},
              ("test", "image"): {2: {201}}}
    d = compute_inputs(specs, {"src": NEWEST_FIRST, "image": NEWEST_FIRST}, passed, {})
    assert d.inputs is None
    assert d.waiting == {"src, image": "no combination of their versions went through the "
                                       "same build of build, test"}


def test_the_search_is_bounded() -> None:
    many = [Candidate(id=i, version={"ref": str(i)}) for i in range(200, 0, -1)]
    specs = [InputSpec(n, n, passed=("build",)) for n in ("a", "b", "c")]
    # Every version of a and b went through build 1, c's only through build 2.
    passed = {("build", "a"): {c.id: {1} for c in many}, ("build", "b"): {c.id: {1} for c in many},
              ("build", "c"): {c.id: {2} for c in many}}
    d = compute_inputs(specs, {"a": many, "b": many, "c": many}, passed, {})
    assert d.inputs is None and d.waiting == {
        "a, b, c": f"gave up after {MAX_ATTEMPTS} combinations"}


def test_every_takes_the_oldest_version_not_built_yet() -> None:
    spec = InputSpec("git", "git", trigger=True, every=True)
    d = compute_inputs([spec], {"git": NEWEST_FIRST}, {}, {"git": {1, 2}})
    assert d.inputs == {"git": V[2]} and d.trigger
    done = compute_inputs([spec], {"git": NEWEST_FIRST}, {}, {"git": {1, 2, 3, 4, 5}})
    assert done.inputs == {"git": V[4]} and not done.trigger


def test_a_pin_selects_that_version_even_when_newer_ones_exist() -> None:
    spec = InputSpec("git", "git", trigger=True, pinned={"ref": "r2"})
    assert compute_inputs([spec], {"git": NEWEST_FIRST}, {}, {}).inputs == {"git": V[1]}
    gone = compute_inputs([InputSpec("git", "git", pinned={"ref": "nope"})],
                          {"git": NEWEST_FIRST}, {}, {})
    assert gone.inputs is None and "pinned version" in gone.waiting["git"]


def test_the_same_resource_under_two_names_is_tracked_per_name() -> None:
    specs = [InputSpec("a", "git", trigger=True), InputSpec("b", "git", trigger=True)]
    d = compute_inputs(specs, {"git": NEWEST_FIRST}, {}, {"a": {5}})
    assert d.trigger  # "b" never used r5


# Candidate selection: which version each `get` takes, and whether that triggers.
# (sentence, input, its resource's candidates newest first, versions the job built
#  under that input's name, expected version id or None (it waits), expected trigger)
SELECTION = [
    ("the latest version of a trigger input never built triggers",
     InputSpec("git", "git", trigger=True), NEWEST_FIRST, set(), 5, True),
    ("the latest version already built does not trigger again",
     InputSpec("git", "git", trigger=True), NEWEST_FIRST, {5}, 5, False),
    ("an older version never built does not trigger a latest input",
     InputSpec("git", "git", trigger=True), NEWEST_FIRST, {5, 4}, 5, False),
    ("a new version of a non-trigger input is used but does not trigger",
     InputSpec("git", "git"), NEWEST_FIRST, set(), 5, False),
    ("every takes the oldest version not built yet and triggers",
     InputSpec("git", "git", trigger=True, every=True), NEWEST_FIRST, {1, 2}, 3, True),
    ("every with everything built takes the newest and does not trigger",
     InputSpec("git", "git", trigger=True, every=True), NEWEST_FIRST, {1, 2, 3, 4, 5}, 5,
     False),
    ("a pin takes that version even when newer ones exist",
     InputSpec("git", "git", trigger=True, pinned={"ref": "r2"}), NEWEST_FIRST, set(), 2,
     True),
    ("a partial pin matches on the fields it gives",
     InputSpec("git", "git", pinned={"ref": "r3"}),
     [Candidate(id=9, version={"ref": "r3", "n": "x"}), *NEWEST_FIRST], set(), 9, False),
    ("a pin to a version not found waits",
     InputSpec("git", "git", trigger=True, pinned={"ref": "nope"}), NEWEST_FIRST, set(),
     None, False),
    ("an input without versions waits",
     InputSpec("git", "git", trigger=True), [], set(), None, False),
]


@pytest.mark.parametrize(("spec", "candidates", "used", "chosen", "trigger"),
                         [c[1:] for c in SELECTION], ids=[c[0] for c in SELECTION])
def test_candidate_selection(spec: InputSpec, candidates: list[Candidate], used: set[int],
                             chosen: int | None, trigger: bool) -> None:
    d = compute_inputs([spec], {spec.resource: candidates}, {}, {spec.name: used})
    if chosen is None:
        assert d.inputs is None and spec.name in d.waiting
    else:
        assert d.inputs is not None and d.inputs[spec.name].id == chosen
    assert d.trigger is trigger


J, A, B, C = 1, 2, 3, 4  # job ids
DEPLOY = ("7/deploy",)  # a serial group, scoped to its pipeline (id 7)

# (sentence, pending (build id, job id or None for a one-off), running per job id,
#  limits per job id, the builds that may start)
STARTS = [
    ("a serial job runs one build at a time, its oldest first",
     [(1, J), (2, J)], {}, {J: JobLimits.of(J, serial=True)}, [1]),
    ("a serial job with a build running starts none",
     [(2, J)], {J: 1}, {J: JobLimits.of(J, serial=True)}, []),
    ("max_in_flight caps the builds of a job",
     [(1, J), (2, J), (3, J), (4, J)], {}, {J: JobLimits.of(J, max_in_flight=2)}, [1, 2]),
    ("max_in_flight counts the builds already running",
     [(1, J), (2, J), (3, J), (4, J)], {J: 1}, {J: JobLimits.of(J, max_in_flight=2)}, [1]),
    ("a job without limits starts everything",
     [(1, J), (2, J)], {}, {}, [1, 2]),
    ("a serial group shares one slot across its jobs",
     [(1, A), (2, B), (3, C)], {},
     {A: JobLimits.of(A, serial_groups=DEPLOY), B: JobLimits.of(B, serial_groups=DEPLOY),
      C: JobLimits.of(C)}, [1, 3]),
    ("a serial group is busy while any of its jobs runs",
     [(2, B)], {A: 1},
     {A: JobLimits.of(A, serial_groups=DEPLOY), B: JobLimits.of(B, serial_groups=DEPLOY)},
     []),
    ("a serial group with max_in_flight 2 runs two of its jobs at once",
     [(1, A), (2, B), (3, A)], {},
     {A: JobLimits.of(A, serial_groups=DEPLOY, max_in_flight=2),
      B: JobLimits.of(B, serial_groups=DEPLOY, max_in_flight=2)}, [1, 2]),
    ("a waiting build holds the later builds of its job but not other jobs'",
     [(1, J), (2, C), (3, J)], {J: 1}, {J: JobLimits.of(J, serial=True)}, [2]),
    ("one-off builds are held by no limit",
     [(1, None), (2, J), (3, None)], {J: 1}, {J: JobLimits.of(J, serial=True)}, [1, 3]),
]


@pytest.mark.parametrize(("pending", "running", "limits", "expected"),
                         [c[1:] for c in STARTS], ids=[c[0] for c in STARTS])
def test_which_pending_builds_start(pending: list[tuple[int, int | None]],
                                    running: dict[int, int], limits: dict[int, JobLimits],
                                    expected: list[int]) -> None:
    assert startable([Pending(b, j) for b, j in pending], running, limits) == expected
