"""confine.py on a real filesystem: what each operation follows, refuses and keeps.

Each tree is built in tmp_path with a "host" directory next to the build holding a
canary; every case checks the canary is exactly as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from headwater.ci.build import confine
from headwater.ci.build.confine import Beneath, Refused


@pytest.fixture
def build(tmp_path: Path) -> Path:
    directory = tmp_path / "build"
    directory.mkdir()
    return directory


def untouched(host: Path) -> bool:
    return (sorted(str(p.relative_to(host)) for p in host.rglob("*")) ==
            ["canary", "out", "out/canary"] and
            (host / "canary").read_text() == "host secret\n" and
            (host / "out" / "canary").read_text() == "host secret\n")


def artifact(build: Path, host: Path) -> Path:
    """An artifact with links inside it (kept) and links out of it (never followed)."""
    a = build / "repo"
    (a / "releases" / "1").mkdir(parents=True)
    (a / "releases" / "1" / "task.yml").write_text("platform: linux\n")
    os.symlink("releases/1", a / "current")
    os.symlink("../releases/1/task.yml", a / "releases" / "link.yml")
    os.symlink(str(host), a / "absolute")
    os.symlink("../../host", a / "climbing")
    os.symlink(str(host / "canary"), a / "secret")
    os.symlink("loop", a / "loop")
    return a


@pytest.mark.parametrize(("file", "expected"), [
    ("releases/1/task.yml", "platform: linux\n"),
    ("current/task.yml", "platform: linux\n"),
    ("releases/link.yml", "platform: linux\n"),
    ("./current/../1/task.yml", "platform: linux\n"),  # .. of a link: its target's
])
def test_read_file_follows_links_that_stay_inside(build: Path, host: Path, file: str,
                                                  expected: str) -> None:
    artifact(build, host)
    assert confine.read_file(Beneath(build, "repo"), file, limit=1024).decode() == expected


@pytest.mark.parametrize(("file", "reason"), [
    ("secret", "is a symbolic link to"),
    ("absolute/canary", "is a symbolic link to"),
    ("climbing/canary", "leads out of its directory"),
    ("../host/canary", "leads out of its directory"),
    ("/etc/passwd", "is an absolute path"),
    ("loop", "too many levels of symbolic links"),
    ("current", "is not a regular file"),
])
def test_read_file_refuses_what_leads_out(build: Path, host: Path, file: str,
                                          reason: str) -> None:
    artifact(build, host)
    with pytest.raises(Refused, match=reason):
        confine.read_file(Beneath(build, "repo"), file, limit=1024)


def test_read_file_refuses_a_file_over_the_limit(build: Path, host: Path) -> None:
    artifact(build, host)
    with pytest.raises(Refused, match="larger than 8 bytes"):
        confine.read_file(Beneath(build, "repo"), "current/task.yml", limit=8)


def test_read_file_of_a_fifo_is_refused_without_blocking(build: Path) -> None:
    (build / "a").mkdir()
    os.mkfifo(build / "a" / "pipe")
    with pytest.raises(Refused, match="not a regular file"):
        confine.read_file(Beneath(build, "a"), "pipe", limit=8)


def test_copy_keeps_links_as_links_and_never_reads_through_them(build: Path,
                                                                host: Path) -> None:
    artifact(build, host)
    confine.copy_tree(Beneath(build, "repo"), Beneath(build, "task/in/repo"))
    copy = build / "task" / "in" / "repo"
    assert os.readlink(copy / "absolute") == str(host)
    assert os.readlink(copy / "current") == "releases/1"
    assert (copy / "current" / "task.yml").read_text() == "platform: linux\n"
    assert not (copy / "absolute").resolve().is_relative_to(copy)
    assert untouched(host)


def test_copy_refuses_to_write_through_a_link_at_the_destination(build: Path,
                                                                 host: Path) -> None:
    # An earlier input put `x/out -> host/out` in place; a later input goes to x/out.
    artifact(build, host)
    (build / "task" / "x").mkdir(parents=True)
    os.symlink(str(host / "out"), build / "task" / "x" / "out")
    with pytest.raises(Refused, match="'x/out' is a symbolic link"):
        confine.copy_tree(Beneath(build, "repo"), Beneath(build / "task", "x/out"))
    # nor through a link deeper in the tree it merges into
    (build / "task" / "y").mkdir()
    os.symlink(str(host), build / "task" / "y" / "releases")
    with pytest.raises(Refused, match="'y/releases' is a symbolic link"):
        confine.copy_tree(Beneath(build, "repo"), Beneath(build / "task", "y"))
    assert untouched(host)


@pytest.mark.parametrize("layout", ["output is a link", "parent is a link"])
def test_move_dir_refuses_a_link_and_moves_nothing(build: Path, host: Path,
                                                   layout: str) -> None:
    task = build / ".scratch" / "task-1"
    task.mkdir(parents=True)
    if layout == "output is a link":
        os.symlink(str(host / "out"), task / "out")
        rel, where = "out", "'out'"
    else:
        os.symlink(str(host), task / "x")
        rel, where = "x/out", "'x'"
    with pytest.raises(Refused, match=f"{where} is a symbolic link"):
        confine.move_dir(Beneath(task, rel), Beneath(build, "out"),
                         Beneath(build / ".scratch", "trash"))
    assert untouched(host)
    assert not (build / "out").exists()


def test_move_dir_replaces_an_artifact_and_deletes_the_old_one_without_following(
        build: Path, host: Path) -> None:
    old = build / "out"
    old.mkdir()
    os.symlink(str(host), old / "link")  # inside the old artifact: unlinked, not followed
    new = build / ".scratch" / "task-1" / "out"
    new.mkdir(parents=True)
    (new / "file").write_text("new\n")
    confine.move_dir(Beneath(build / ".scratch" / "task-1", "out"), Beneath(build, "out"),
                     Beneath(build / ".scratch", "trash"))
    assert (build / "out" / "file").read_text() == "new\n"
    assert not (build / ".scratch" / "trash").exists()
    assert untouched(host)


def test_remove_tree_unlinks_a_link_and_leaves_its_target(build: Path, host: Path) -> None:
    os.symlink(str(host), build / "gone")
    confine.remove_tree(Beneath(build, "gone"))
    assert not (build / "gone").is_symlink()
    assert untouched(host)


@pytest.mark.parametrize("rel", ["../host", "a/../../host", "/etc"])
def test_paths_that_climb_or_are_absolute_are_refused(build: Path, rel: str) -> None:
    with pytest.raises(Refused, match="not a relative path beneath"):
        confine.make_dirs(Beneath(build, rel))


def test_make_dirs_refuses_to_create_through_a_link(build: Path, host: Path) -> None:
    os.symlink(str(host), build / "repo")
    with pytest.raises(Refused, match="'repo' is a symbolic link"):
        confine.make_dirs(Beneath(build, "repo/new/dir"))
    assert untouched(host)


def test_tar_has_links_as_links_and_refuses_a_linked_top(build: Path, host: Path) -> None:
    artifact(build, host)
    buf = io.BytesIO()
    confine.write_tar(Beneath(build, "repo"), buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz") as tar:
        members = {m.name: m for m in tar}
    assert members["./absolute"].issym() and members["./absolute"].linkname == str(host)
    assert members["./current"].issym()
    assert members["./releases/1/task.yml"].isfile()
    assert not any("canary" in name for name in members)
    os.symlink(str(host), build / "linked")
    with pytest.raises(Refused, match="'linked' is a symbolic link"):
        confine.write_tar(Beneath(build, "linked"), io.BytesIO())


def test_a_parent_swapped_for_a_link_while_outputs_are_moved_never_moves_the_host(
        build: Path, host: Path) -> None:
    """A step running in parallel could swap `x` between a real directory and a link
    to the host while the server moves `x/out`: whatever the interleaving, the host
    is never moved, and what is moved is never a link. (A path-based `is_dir()` then
    `rename()` moved the host's directory in 4 of 5 runs of this loop.)"""
    task = build / ".scratch" / "task-1"
    (task / "x" / "out").mkdir(parents=True)
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                os.rename(task / "x", task / "x.real")
                os.symlink(str(host), task / "x")
                os.unlink(task / "x")
                os.rename(task / "x.real", task / "x")

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    moved = refused = 0
    try:
        for i in range(300):
            with contextlib.suppress(OSError, Refused):  # never through the link
                confine.make_dirs(Beneath(task, "x/out"))
            try:
                confine.move_dir(Beneath(task, "x/out"), Beneath(build, f"out{i}"),
                                 Beneath(build / ".scratch", f"trash{i}"))
                moved += 1
            except (Refused, FileNotFoundError, NotADirectoryError):
                refused += 1
    finally:
        stop.set()
        swapper.join()
    assert untouched(host)
    outputs = [p for p in build.iterdir() if p.name.startswith("out")]
    assert len(outputs) == moved and moved + refused == 300
    assert not any(p.is_symlink() or (p / "canary").exists() for p in outputs)


def test_copy_and_tar_skip_special_files_without_blocking(build: Path) -> None:
    (build / "a").mkdir()
    (build / "a" / "file").write_text("kept\n")
    os.mkfifo(build / "a" / "pipe")
    confine.copy_tree(Beneath(build, "a"), Beneath(build, "b"))
    assert sorted(p.name for p in (build / "b").iterdir()) == ["file"]
    buf = io.BytesIO()
    confine.write_tar(Beneath(build, "a"), buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:gz") as tar:
        assert tar.getnames() == [".", "./file"]
