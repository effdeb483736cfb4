"""The pure rules of tasks in images: run.user as runc reads it, the environment as
Concourse's runtime builds it, the working directory, rootfs_uri and pinned versions."""

from __future__ import annotations

import pytest

from headwater.ci.build.imagesandbox import working_directory
from headwater.ci.build.taskimage import (
    SUPERUSER_PATH,
    USER_PATH,
    User,
    image_env,
    lookup_user,
    pinned,
)

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment
builder:x:1000:1000:Builder:/home/builder:/bin/sh
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
"""
GROUP = "root:x:0:\nstaff:x:50:builder\n"


@pytest.mark.parametrize(("spec", "expected"), [
    ("root", User("root", 0, 0, "/root")),
    ("builder", User("builder", 1000, 1000, "/home/builder")),
    ("1000", User("builder", 1000, 1000, "/home/builder")),
    ("daemon", User("daemon", 1, 1, "/usr/sbin")),
    ("4242", User("4242", 4242, 0, "/")),  # a uid need not be in passwd
    ("builder:staff", User("builder", 1000, 50, "/home/builder")),
    ("1000:50", User("builder", 1000, 50, "/home/builder")),
    ("4242:77", User("4242", 4242, 77, "/")),
    ("nobody-here", None),  # a name must be
    ("builder:nogroup", None),
])
def test_run_user_is_looked_up_as_runc_does(spec: str, expected: User | None) -> None:
    assert lookup_user(spec, PASSWD, GROUP) == expected


ROOT = User("root", 0, 0, "/root")
BUILDER = User("builder", 1000, 1000, "/home/builder")


@pytest.mark.parametrize(("image", "task", "user", "explicit", "expected"), [
    # the image's Env, then the task's (params win); HOME from passwd
    ({"PATH": "/bin", "A": "image"}, {"A": "param"}, ROOT, False,
     {"PATH": "/bin", "A": "param", "HOME": "/root"}),
    # no PATH anywhere: the runtime's default, by uid
    ({}, {}, ROOT, False, {"PATH": SUPERUSER_PATH, "HOME": "/root"}),
    ({}, {}, BUILDER, True,
     {"PATH": USER_PATH, "HOME": "/home/builder", "USER": "builder"}),
    # USER only when the task names its user; a HOME param wins
    ({}, {"HOME": "/work"}, BUILDER, False, {"PATH": USER_PATH, "HOME": "/work"}),
])
def test_the_environment_is_the_images_then_the_tasks(
        image: dict[str, str], task: dict[str, str], user: User, explicit: bool,
        expected: dict[str, str]) -> None:
    assert image_env(image, task, user, explicit_user=explicit) == expected


def test_the_working_directory_is_concourses() -> None:
    # atc/engine/step_factory.go: /tmp/build/ + 4 bytes of sha256(task name), in hex
    assert working_directory("unit") == "/tmp/build/385cfdbc"
    assert working_directory("a") != working_directory("b")


@pytest.mark.parametrize(("source", "version", "expected"), [
    ({"repository": "r"}, None, {"repository": "r"}),
    ({"repository": "r", "tag": "1"}, {"digest": "sha256:ab"},
     {"repository": "r", "tag": "sha256:ab"}),
])
def test_an_image_resource_version_pins_the_digest(
        source: dict[str, str], version: dict[str, str] | None,
        expected: dict[str, str]) -> None:
    assert pinned(source, version) == expected
