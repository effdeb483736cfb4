"""What a task without an image sees of the host: the system read-only, no secrets, not
the server's own files (real bwrap tasks that try to read and write them)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.ci.build import hostview
from headwater.ci.build.engine import run_build
from headwater.ci.build.local import LocalExecutor
from headwater.ci.resources.process import find_bwrap
from tests.ci.builds.helpers import RecordingDelegate, make_ctx, sh

needs_bwrap = pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")

# Prints "read PATH" or "hidden PATH" for each argument.
READ = 'for f in "$@"; do if cat "$f" >/dev/null 2>&1 && [ -s "$f" ]; ' \
       'then echo "read $f"; else echo "hidden $f"; fi; done'


async def _run(workdir: Path, script: str, executor: LocalExecutor | None = None) -> str:
    delegate = RecordingDelegate()
    status = await run_build(sh("look", script), ctx=make_ctx(workdir, executor=executor),
                             delegate=delegate)
    assert status == "succeeded", delegate.log("look") + "".join(delegate.errors())
    return delegate.log("look", "stdout")


def _host_secrets() -> list[str]:
    return [p for p in ("/etc/shadow", "/etc/gshadow", *sorted(glob.glob(
        "/etc/ssh/ssh_host_*_key")), *sorted(glob.glob("/etc/ssl/private/*")))
        if os.path.isfile(p) and os.path.getsize(p) > 0]


def _remove_probes(dirs: list[str]) -> list[str]:
    """Remove the write probes found in `dirs`; the dirs that had one."""
    found = []
    for d in dirs:
        probe = os.path.join(d, "hw-write-probe")
        if os.path.lexists(probe):
            found.append(d)
            with contextlib.suppress(OSError):
                os.unlink(probe)
    return found


@needs_bwrap
async def test_a_task_cannot_read_the_hosts_secrets(tmp_path: Path) -> None:
    secrets = _host_secrets()
    if not secrets:
        pytest.skip("this host has none of the usual secrets to hide")
    assert os.access(secrets[0], os.R_OK)  # the server could read them: the attack is real
    out = await _run(tmp_path / "build", f"set -- {' '.join(secrets)}\n{READ}")
    assert out.splitlines() == [f"hidden {p}" for p in secrets]


@needs_bwrap
async def test_a_task_still_reads_the_system_it_runs_on(tmp_path: Path) -> None:
    out = await _run(tmp_path / "build",
                     "set -- /etc/os-release /etc/passwd /usr/bin/env\n" + READ +
                     "\nls /etc/ssh | wc -l\npython3 -c 'print(6 * 7)'")
    assert out.splitlines() == ["read /etc/os-release", "read /etc/passwd",
                                "read /usr/bin/env", "0", "42"]


@pytest.fixture
def data_dir_under_etc() -> Iterator[Path]:
    """A server data dir at /etc/hw-test-data-*, readable by all (so only its being
    the server's own hides it), removed after."""
    try:
        path = Path(tempfile.mkdtemp(prefix="hw-test-data-", dir="/etc"))
    except OSError:
        pytest.skip("cannot create a directory under /etc (not root)")
    try:
        path.chmod(0o755)
        (path / "headwater.db").write_text("tokens and secrets")
        (path / "headwater.db").chmod(0o644)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@needs_bwrap
async def test_the_servers_data_dir_is_hidden_but_the_tasks_own_build_dir_is_not(
        data_dir_under_etc: Path) -> None:
    data = data_dir_under_etc
    db = data / "headwater.db"
    script = f"set -- {db}\n{READ}\necho mine > own && cat own"
    # Without being told, the executor shows what is world-readable: the attack is real.
    assert (await _run(data / "builds" / "1", script, LocalExecutor(kill_grace=2.0))
            ).splitlines() == [f"read {db}", "mine"]
    told = LocalExecutor(kill_grace=2.0, hidden=[data])
    assert (await _run(data / "builds" / "2", script, told)).splitlines() == [
        f"hidden {db}", "mine"]


@needs_bwrap
async def test_a_task_writes_only_in_its_own_directory_and_tmp(
        tmp_path: Path, data_dir_under_etc: Path) -> None:
    workdir = data_dir_under_etc / "builds" / "1"
    targets = ["/", "/etc", "/etc/ssh", "/etc/ssl/private", "/usr", "/usr/local/bin", "/bin",
               "/lib", "/var", "/root", "/home", str(data_dir_under_etc),
               str(data_dir_under_etc / "builds"), str(tmp_path), "/tmp", "."]
    script = ('for d in "$@"; do if touch "$d/hw-write-probe" 2>/dev/null; '
              'then echo "wrote $d"; else echo "refused $d"; fi; done')
    executor = LocalExecutor(kill_grace=2.0, hidden=[data_dir_under_etc])
    out = await _run(workdir, f"set -- {' '.join(targets)}\n{script}", executor)
    leaked = _remove_probes(targets[:-2])  # never leave a probe behind on the host
    assert out.splitlines() == [f"refused {t}" for t in targets[:-2]] + [
        "wrote /tmp", "wrote ."]
    assert leaked == []


def test_unreadable_finds_what_other_users_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "public").write_text("x")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "secret").chmod(0o640)
    (tmp_path / "keys").mkdir(mode=0o700)
    (tmp_path / "keys" / "inside").write_text("x")
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "key").write_text("x")
    (tmp_path / "open" / "key").chmod(0o600)
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    assert sorted(hostview.unreadable(str(tmp_path))) == [
        (str(tmp_path / "keys"), True), (str(tmp_path / "open" / "key"), False),
        (str(tmp_path / "secret"), False)]


@pytest.mark.parametrize(("candidates", "own", "expected"), [
    # Only what lies under a shown (bound) directory needs a mask.
    ([("/etc/shadow", False), ("/home/u/.config/headwater", True)], "/tmp/b",
     [("/etc/shadow", False)]),
    # A mask inside another is not needed; duplicates collapse.
    ([("/etc/ssh", True), ("/etc/ssh/ssh_host_rsa_key", False), ("/etc/ssh", True)],
     "/tmp/b", [("/etc/ssh", True)]),
    # The task's own directory and what is inside it are never masked; its parents are.
    ([("/etc/hw", True), ("/etc/hw/builds/1", True), ("/etc/hw/builds/1/x", False)],
     "/etc/hw/builds/1", [("/etc/hw", True)]),
    # Prefixes are path components, not strings.
    ([("/etcetera/key", False), ("/usr/local/secret", False)], "/tmp/b",
     [("/usr/local/secret", False)]),
])
def test_masks(candidates: list[hostview.Mask], own: str,
               expected: list[hostview.Mask]) -> None:
    assert hostview.masks(candidates, own=own) == expected
