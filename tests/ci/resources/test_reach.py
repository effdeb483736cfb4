"""Reach: the server's resource code refuses local paths and the host's own services
(loopback, unspecified, link-local) unless allowed, by resolving names first."""

from __future__ import annotations

import pytest

from headwater.ci.resources.base import ResourceError
from headwater.ci.resources.netns import Allowed
from headwater.ci.resources.reach import Reach, Target, registry_target, target


@pytest.mark.parametrize(("url", "want"), [
    ("ssh://git@forge.example:2222/app.git", Target("forge.example", 2222)),
    ("git@forge.example:org/app.git", Target("forge.example", 22)),
    ("https://forge.example/app.git", Target("forge.example", 443)),
    ("http://127.0.0.1/app.git", Target("127.0.0.1", 80)),
    ("git://127.0.0.1/app.git", Target("127.0.0.1", 9418)),
    ("https://[::1]:8443/app.git", Target("::1", 8443)),
    ("file:///srv/app.git", Target(None, None, local=True)),
    ("/srv/app.git", Target(None, None, local=True)),
    ("./app", Target(None, None, local=True)),
])
def test_target_reads_urls_as_git_and_registries_do(url: str, want: Target) -> None:
    assert target(url) == want


@pytest.mark.parametrize("url", [
    "file:///etc", "/var/lib/headwater", "http://127.0.0.1:2379/v3/kv/range",
    "https://localhost:6443/api", "ssh://git@127.0.0.2/repo", "git://0.0.0.0/repo",
    "http://169.254.169.254/latest/meta-data", "https://[::1]:10250/pods",
    "http://[::ffff:127.0.0.1]:2379/",
])
async def test_local_paths_and_host_services_are_refused(url: str) -> None:
    with pytest.raises(ResourceError, match=r"resources\.repo: ") as e:
        await Reach().check(url, what="resources.repo")
    assert "--task-allow" in str(e.value) or "path on the server" in str(e.value)


async def test_an_allowed_loopback_port_passes_and_its_neighbour_does_not() -> None:
    reach = Reach(allow=(Allowed("127.0.0.1", 9418),))
    await reach.check("git://127.0.0.1:9418/app.git", what="resources.repo")
    await reach.check("git://localhost/app.git", what="resources.repo")  # resolves to it
    with pytest.raises(ResourceError, match=r"--task-allow 127\.0\.0\.1:9419"):
        await reach.check("git://127.0.0.1:9419/app.git", what="resources.repo")


async def test_outside_hosts_pass_and_anything_checks_nothing() -> None:
    await Reach().check("https://203.0.113.7/app.git", what="r")
    await Reach().check("https://10.1.2.3/app.git", what="r")  # a private network is remote
    await Reach.anything().check("file:///etc", what="r")
    await Reach(local_paths=True).check("/srv/app.git", what="r")


@pytest.mark.parametrize(("host", "want"), [
    ("127.0.0.1:5000", Target("127.0.0.1", 5000)), ("forge.example", Target("forge.example", 443)),
    ("[::1]:5000", Target("::1", 5000)),
])
def test_registry_target_reads_image_reference_hosts(host: str, want: Target) -> None:
    assert registry_target(host) == want


async def test_a_registry_on_the_hosts_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(ResourceError, match=r"resource_types\.x: 127\.0\.0\.1:2379"):
        await Reach().check_registry("127.0.0.1:2379", what="resource_types.x")
    await Reach(allow=(Allowed("127.0.0.1", 5000),)).check_registry("127.0.0.1:5000", what="x")
    with pytest.raises(ResourceError, match="localhost:80"):
        await Reach(allow=(Allowed("127.0.0.1", 443),)).check_registry("localhost", what="x")
