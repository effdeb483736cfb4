"""The scheduler's decisions as plain functions: recorded cases, no I/O."""

from __future__ import annotations

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


def test_serial_jobs_run_one_build_at_a_time_in_order() -> None:
    limits = {"j": JobLimits.of("j", serial=True)}
    assert startable([Pending(1, "j"), Pending(2, "j")], {}, limits) == [1]
    assert startable([Pending(2, "j")], {"j": 1}, limits) == []


def test_max_in_flight_caps_running_builds() -> None:
    limits = {"j": JobLimits.of("j", max_in_flight=2)}
    pending = [Pending(i, "j") for i in range(1, 5)]
    assert startable(pending, {}, limits) == [1, 2]
    assert startable(pending, {"j": 1}, limits) == [1]


def test_unlimited_jobs_start_everything() -> None:
    assert startable([Pending(1, "j"), Pending(2, "j")], {}, {}) == [1, 2]


def test_serial_groups_share_one_slot_across_jobs() -> None:
    limits = {"a": JobLimits.of("a", serial_groups=["deploy"]),
              "b": JobLimits.of("b", serial_groups=["deploy"]),
              "c": JobLimits.of("c")}
    pending = [Pending(1, "a"), Pending(2, "b"), Pending(3, "c")]
    assert startable(pending, {}, limits) == [1, 3]
    assert startable([Pending(2, "b")], {"a": 1}, limits) == []
