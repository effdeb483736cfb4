"""Release records: the pure parts as tables (a release commit's log entry and image
changes, which sync covers a release, a release's rollout from its workloads'), and
`History` reading a real Git repository: which commits are releases, automated or not,
wherever the automation marker line sits in the message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headwater import yamlload
from headwater.cd import releases
from headwater.cd.automation import AUTOMATION_TRAILER
from headwater.cd.releases import (
    History,
    ImageChange,
    LogCommit,
    ReadyMark,
    SyncMark,
    combine,
    contains,
    covering_sync,
    image_changes,
    parse_graph,
    parse_log,
)
from headwater.cd.rollouts import MAX_WATCHED, watched
from headwater.gitrepo import GitOutputTooLarge
from headwater.kube.objects import ObjId
from tests.gitseed import plain_git, write_files

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(image: str, *, name: str = "app", sidecar: str | None = None,
               annotations: str = "") -> str:
    extra = f"      - name: side\n        image: {sidecar}\n" if sidecar else ""
    notes = f"  annotations:\n{annotations}" if annotations else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: prod
{notes}spec:
  template:
    spec:
      containers:
      - name: app
        image: {image}
{extra}"""


# -- a commit's log entry and its image changes


LOG = (  # as `git log -G... --name-only --format=LOG_FORMAT` writes it
    "\x1eaaa\x1fppp\x1f1767225600\x1fA Person <a@example.com>\x1f"
    "Auto-release reg/app:1.0.1\n\nHeadwater-Automation: image-release\n\n[ci skip]\n\x1f\n\n"
    "deploy/app.yaml\nREADME.md\n"
    "\x1ebbb\x1fqqq rrr\x1f1767225500\x1fB <b@example.com>\x1fMerge\n\x1f\n"
    "\x1eccc\x1f\x1f1767225400\x1fC <c@example.com>\x1fpolicy\n\x1f\n\n"
    "app.yml\napp.yml\nkustomization.yaml\n"
)


def test_the_log_gives_each_commit_and_the_manifests_whose_image_lines_changed() -> None:
    assert parse_log(LOG) == [
        LogCommit("aaa", ("ppp",), datetime(2026, 1, 1, tzinfo=UTC),
                  "A Person <a@example.com>",
                  "Auto-release reg/app:1.0.1\n\nHeadwater-Automation: image-release\n\n"
                  "[ci skip]", ("deploy/app.yaml",)),  # README.md: not a manifest
        LogCommit("bbb", ("qqq", "rrr"), datetime(2026, 1, 1, tzinfo=UTC)
                  - timedelta(seconds=100), "B <b@example.com>", "Merge", ()),
        LogCommit("ccc", (), datetime(2026, 1, 1, tzinfo=UTC) - timedelta(seconds=200),
                  "C <c@example.com>", "policy", ("app.yml", "kustomization.yaml")),
    ]


@pytest.mark.parametrize(("message", "automated"), [
    (f"Auto-release x\n\n{AUTOMATION_TRAILER}", True),             # the marker last
    (f"Auto-release x\n\n{AUTOMATION_TRAILER}\n\n[ci skip]", True),  # [ci skip] after it
    (f"Auto-release x\n\n[ci skip]\n\n{AUTOMATION_TRAILER}", True),
    ("Release reg/app:2 to prod:deployment/app", False),          # the release verb
    (f"Quoting it: {AUTOMATION_TRAILER} in a sentence", False),   # not a line of its own
])
def test_automation_is_the_marker_line_anywhere_in_the_message(message: str,
                                                               automated: bool) -> None:
    commit = LogCommit("a", (), T0, "A <a@b>", message)
    assert commit.automated is automated
    assert commit.subject == message.split("\n", maxsplit=1)[0]


W = "prod:deployment/app"


@pytest.mark.parametrize(("before", "after", "changes"), [
    (deployment("reg/app:1"), deployment("reg/app:2"), [ImageChange(W, "app", "reg/app:1",
                                                                    "reg/app:2")]),
    (deployment("reg/app:1", sidecar="reg/s:1"), deployment("reg/app:1", sidecar="reg/s:2"),
     [ImageChange(W, "side", "reg/s:1", "reg/s:2")]),
    # A new workload (or container): its image is released, from nothing.
    (None, deployment("reg/app:1"), [ImageChange(W, "app", "", "reg/app:1")]),
    (deployment("reg/app:1"), deployment("reg/app:1", sidecar="reg/s:1"),
     [ImageChange(W, "side", "", "reg/s:1")]),
    # Policies, a removed workload, an unparseable file: no image released.
    (deployment("reg/app:1"), deployment("reg/app:1", annotations="    fluxcd.io/locked: "
                                                                   "'true'\n"), []),
    (deployment("reg/app:1"), None, []),
    (deployment("reg/app:1"), "kind: [unclosed", []),
    # Another workload of the same file keeps its own identity.
    (deployment("reg/app:1") + "---\n" + deployment("reg/b:1", name="b"),
     deployment("reg/app:1") + "---\n" + deployment("reg/b:2", name="b"),
     [ImageChange("prod:deployment/b", "app", "reg/b:1", "reg/b:2")]),
])
def test_image_changes_compare_each_container_before_and_after(
        before: str | None, after: str | None, changes: list[ImageChange]) -> None:
    assert image_changes(before, after) == changes


# -- which sync covers a release


GRAPH = parse_graph("d c\nc b x\nx a\nb a\na\n")  # c merges x into b


def _mark(revision: str, minute: int, ok: bool = True) -> SyncMark:
    at = T0 + timedelta(minutes=minute)
    return SyncMark(revision, at, at + timedelta(seconds=5), ok, "" if ok else "failed")


@pytest.mark.parametrize(("revision", "commit", "result"), [
    ("d", "d", True), ("d", "a", True), ("d", "x", True),  # through the merge's 2nd parent
    ("b", "x", False), ("a", "b", False),
    ("d", "z", False),                                       # older than the window
])
def test_a_revision_contains_itself_and_its_ancestors(revision: str, commit: str,
                                                      result: bool) -> None:
    assert contains(revision, commit, GRAPH) is result


@pytest.mark.parametrize(("commit", "marks", "covering"), [
    ("b", [_mark("a", 1), _mark("b", 2), _mark("d", 3)], _mark("b", 2)),
    ("b", [_mark("d", 3), _mark("a", 1)], _mark("d", 3)),       # order of start, not list
    ("x", [_mark("b", 1), _mark("c", 2, ok=False), _mark("d", 3)], _mark("d", 3)),
    ("x", [_mark("c", 2, ok=False), _mark("d", 3, ok=False)],    # none passed: the last
     _mark("d", 3, ok=False)),                                   # attempt, with its reason
    ("d", [_mark("a", 1), _mark("c", 2)], None),                 # not synced yet
    ("b", [], None),                                             # before this process
])
def test_the_covering_sync_is_the_first_that_passed_with_the_release_in_it(
        commit: str, marks: list[SyncMark], covering: SyncMark | None) -> None:
    assert covering_sync(commit, marks, GRAPH) == covering
    reach: dict[str, frozenset[str]] = {}  # one cache for a listing's releases
    assert [covering_sync(c, marks, GRAPH, reach=reach) for c in (commit, commit)] == [
        covering, covering]
    assert set(reach) == {m.revision for m in marks}


def _ready(minute: int, ok: bool = True, message: str = "") -> ReadyMark:
    return ReadyMark(T0 + timedelta(minutes=minute), ok, message)


@pytest.mark.parametrize(("marks", "combined"), [
    ([], None),
    ([_ready(1)], _ready(1)),
    ([_ready(3), _ready(1)], _ready(3)),                            # when the last was ready
    ([_ready(1), _ready(5, False, "a not ready after 300s")],
     _ready(5, False, "a not ready after 300s")),
    ([_ready(2, False, "a: x"), _ready(5, False, "b: y")], _ready(5, False, "a: x\nb: y")),
])
def test_a_release_is_ready_when_its_last_workload_is(marks: list[ReadyMark],
                                                      combined: ReadyMark | None) -> None:
    assert combine(marks) == combined


# -- History on a real repository


def _commit(root: Path, files: dict[str, str | None], message: str,
            author: str = "Test <t@example.com>") -> str:
    write_files(root, files)
    plain_git("add", "-A", cwd=root)
    plain_git("commit", "-q", "--author", author, "-m", message, cwd=root)
    return plain_git("rev-parse", "HEAD", cwd=root)


async def test_history_finds_image_changing_commits_under_the_paths(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    plain_git("init", "-q", "-b", "main", cwd=root)
    _commit(root, {"deploy/app.yaml": deployment("reg/app:1.0.0")}, "Add app")
    auto = _commit(root, {"deploy/app.yaml": deployment("reg/app:1.0.1")},
                   f"Auto-release reg/app:1.0.1\n\n{AUTOMATION_TRAILER}\n\n[ci skip]")
    _commit(root, {"deploy/app.yaml": deployment(
        "reg/app:1.0.1", annotations="    fluxcd.io/locked: 'true'\n")}, "Locked: app")
    _commit(root, {"deploy/app.yaml": deployment(
        "reg/app:1.0.1", annotations="    note: the image is fine\n")}, "Comment on image")
    _commit(root, {"other/app.yaml": deployment("reg/app:9")}, "Outside the paths")
    setter = _commit(root, {"deploy/kustomization.yaml": "images:\n- name: reg/app\n"
                                                        "  newTag: 1.0.2\n"},
                     f"Auto-release reg/app:1.0.2\n\n{AUTOMATION_TRAILER}")
    verb = _commit(root, {"deploy/app.yaml": deployment(
        "reg/app:2.0.0", annotations="    fluxcd.io/locked: 'true'\n")},
        "Ship the big one", author="Ann Operator <ann@example.com>")  # release -m message

    history = History(root, "refs/heads/main", ("deploy",), timeout=20)
    found = await history.releases(50)
    assert [(c.sha, c.automated, c.subject, c.author, changes) for c, changes in found] == [
        (verb, False, "Ship the big one", "Ann Operator <ann@example.com>",
         (ImageChange(W, "app", "reg/app:1.0.1", "reg/app:2.0.0"),)),
        (setter, True, "Auto-release reg/app:1.0.2", "Test <t@example.com>", ()),
        (auto, True, "Auto-release reg/app:1.0.1", "Test <t@example.com>",
         (ImageChange(W, "app", "reg/app:1.0.0", "reg/app:1.0.1"),)),
    ]  # the first commit added the file: it has no parent to compare with
    assert [c.sha for c, _ in await history.releases(1)] == [verb]
    graph = await history.graph()
    assert contains(verb, auto, graph) and not contains(auto, verb, graph)


async def test_history_of_a_copy_never_fetched_is_empty(tmp_path: Path) -> None:
    history = History(tmp_path / "none", "refs/remotes/origin/main", (".",), timeout=20)
    assert await history.releases(50) == []


async def test_history_bounds_what_a_pusher_controls(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    plain_git("init", "-q", "-b", "main", cwd=root)
    _commit(root, {"deploy/app.yaml": deployment("reg/app:1.0.0"),
                   "deploy/kustomization.yaml": "images:\n- name: reg/app\n  newTag: 1.0.0\n"},
            "Add app")
    # A setter's release may change only `newTag:` (no line says "image"): still found.
    setter = _commit(root, {"deploy/kustomization.yaml": "images:\n- name: reg/app\n"
                                                        "  newTag: 1.0.1\n"},
                     f"Auto-release reg/app:1.0.1\n\n{AUTOMATION_TRAILER}")
    # A manifest over the YAML size limit is never read into memory whole, nor parsed.
    padding = "# " + "x" * 4096 + "\n"
    _commit(root, {"deploy/app.yaml": deployment("reg/app:1.0.2") + padding}, "Big")
    history = History(root, "refs/heads/main", ("deploy",), timeout=20,
                      limits=yamlload.Limits(max_bytes=2048))
    assert [(c.sha, changes) for c, changes in await history.releases(50)] == [(setter, ())]

    # Commit messages a pusher made huge: the listing stops with an error that says so.
    _commit(root, {"deploy/app.yaml": deployment("reg/app:1.0.3")}, "m" * 20_000)
    monkeypatch.setattr(releases, "LOG_BYTES", 10_000)
    with pytest.raises(GitOutputTooLarge, match="its output is over 10000 bytes"):
        await History(root, "refs/heads/main", ("deploy",), timeout=20).releases(50)


def test_a_rollout_watch_follows_apps_workloads_and_at_most_its_bound() -> None:
    deployments = [ObjId("apps", "Deployment", "prod", f"d{i:03}") for i in range(60)]
    others = [ObjId("", "ConfigMap", "prod", "c"), ObjId("batch", "Job", "prod", "j")]
    assert watched(others) == []
    assert watched([*others, *deployments]) == deployments[:MAX_WATCHED]
    assert watched(deployments, limit=2) == deployments[:2]
