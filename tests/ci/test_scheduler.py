"""The scheduler's decisions as plain functions: recorded cases, no I/O."""

from __future__ import annotations

from headwater.ci.scheduler import (
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
    passed = {("unit", "git"): {2, 3, 4}, ("lint", "git"): {1, 3}}
    d = compute_inputs([spec], {"git": NEWEST_FIRST}, passed, {})
    assert d.inputs == {"git": V[2]} and d.trigger


def test_passed_with_no_common_version_waits() -> None:
    spec = InputSpec("git", "git", passed=("unit",))
    d = compute_inputs([spec], {"git": NEWEST_FIRST}, {}, {})
    assert d.inputs is None and d.waiting == {"git": "no version of git passed unit"}


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
