"""A git resource check on a repository of 10,000 commits, next to `git ls-remote`
(issue 13 point 8(b)), over the stack's git:// daemon and its sshd.

    .venv/bin/python bench/gitcheck.py [--state-dir /tmp/hw-shared] [--commits 10000]
                                       [--repeat 7]

The repository is made on the stack's git server (`git fast-import` straight into
the bare repository: one file changed per commit) and removed at the end. For each
transport, in rotating order, `--repeat` times:

- `git ls-remote <uri> refs/heads/master` (a subprocess, as a user would type it);
- no-change check: `GitResource.check(source, {"ref": <tip>})` with a warm cache, in
  this process (as the server runs it): the answer is the tip again;
- 10,000-new check: the check from the first commit with an empty cache: every
  commit is fetched and returned, oldest first;
- first check: no version, empty cache (fetch everything, answer the newest);
- `git clone --bare --single-branch` of the same branch by hand, for scale.

Round trips are counted from git's trace2 events (GIT_TRACE2_EVENT, inherited by the
git processes the resource runs): every `ls-remote`/`fetch` process is one
connection to the server. Prints medians and the ratio to `git ls-remote`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _report import table
from _stack import stack as bench_stack

from headwater import devstack
from headwater.ci.resources.base import Version
from headwater.ci.resources.git import GitResource
from headwater.devstack import gitserver

REMOTE_COMMANDS = {"ls-remote", "fetch", "clone", "upload-pack", "fetch-pack"}


def fill(bare: Path, commits: int) -> str:
    """`commits` commits on master of `bare` (fast-import); the tip's sha."""
    lines = []
    for i in range(commits):
        body = f"change {i}\n".encode()
        message = f"commit {i}\n".encode()
        when = 1_700_000_000 + i
        lines.append(b"commit refs/heads/master\n")
        lines.append(f"committer Bench <b@example.com> {when} +0000\n".encode())
        lines.append(f"data {len(message)}\n".encode() + message)
        lines.append(f"M 644 inline file{i % 100}.txt\ndata {len(body)}\n".encode() + body)
        lines.append(b"\n")
    subprocess.run(["git", "--git-dir", str(bare), "fast-import", "--quiet"],
                   input=b"".join(lines), check=True)
    subprocess.run(["git", "--git-dir", str(bare), "symbolic-ref", "HEAD",
                    "refs/heads/master"], check=True)
    return subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "master"],
                          check=True, capture_output=True, text=True).stdout.strip()


def root_commit(bare: Path) -> str:
    return subprocess.run(["git", "--git-dir", str(bare), "rev-list", "--max-parents=0",
                           "master"], check=True, capture_output=True, text=True
                          ).stdout.split()[0]


def remote_processes(trace: Path) -> int:
    """How many git processes named a remote command in the trace2 event file."""
    if not trace.exists():
        return 0
    count = 0
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "cmd_name" and event.get("name") in REMOTE_COMMANDS:
            count += 1
    trace.unlink()
    return count


class Transport:
    def __init__(self, name: str, uri: str, source: dict[str, Any],
                 env: dict[str, str]) -> None:
        self.name, self.uri, self.source, self.env = name, uri, source, env


async def quiet(text: str) -> None:
    return None


async def timed(fn: Callable[[], Awaitable[Any]], trace: Path) -> tuple[float, int, Any]:
    os.environ["GIT_TRACE2_EVENT"] = str(trace)
    started = time.perf_counter()
    try:
        answer = await fn()
    finally:
        elapsed = time.perf_counter() - started
        del os.environ["GIT_TRACE2_EVENT"]
    return elapsed, remote_processes(trace), answer


async def by_hand(argv: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **env}, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} failed: {err.decode()}")


async def measure(t: Transport, tip: str, root: str, commits: int, *, work: Path,
                  repeat: int) -> dict[str, tuple[list[float], int]]:
    results: dict[str, tuple[list[float], int]] = {}
    warm = work / f"warm-{t.name}"
    await GitResource(cache_dir=warm, scratch=work).check(t.source, None, log=quiet)

    def fresh() -> GitResource:
        return GitResource(cache_dir=Path(tempfile.mkdtemp(dir=work)), scratch=work)

    async def ls_remote() -> None:
        await by_hand(["git", "ls-remote", t.uri, "refs/heads/master"], t.env)

    async def no_change() -> list[Version]:
        return await GitResource(cache_dir=warm, scratch=work).check(
            t.source, {"ref": tip}, log=quiet)

    async def all_new() -> list[Version]:
        return await fresh().check(t.source, {"ref": root}, log=quiet)

    async def first() -> list[Version]:
        return await fresh().check(t.source, None, log=quiet)

    async def clone() -> None:
        await by_hand(["git", "clone", "--quiet", "--bare", "--single-branch", "--branch",
                       "master", t.uri, tempfile.mkdtemp(dir=work) + "/c.git"], t.env)

    contenders: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("git ls-remote", ls_remote), ("no-change check", no_change),
        (f"{commits:,}-new check", all_new), ("first check", first),
        ("git clone --bare (by hand)", clone)]
    trace = work / "trace2.json"
    for i in range(repeat):
        shift = i % len(contenders)
        for name, fn in contenders[shift:] + contenders[:shift]:
            seconds, trips, answer = await timed(fn, trace)
            if name == "no-change check":
                assert answer == [{"ref": tip}], answer
            if name.endswith("-new check"):
                assert len(answer) == commits and answer[0] == {"ref": root}, len(answer)
            if name == "first check":
                assert answer == [{"ref": tip}], answer
            times, _ = results.get(name, ([], 0))
            results[name] = ([*times, seconds], trips)
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--state-dir", type=Path, help="a running stack (default: start one)")
    p.add_argument("--commits", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=7)
    return p.parse_args(argv)


def main() -> int:
    args = parse()
    options = devstack.Options(cluster=False, node=False)
    with bench_stack(args.state_dir, options, what="a git server",
                     usable=lambda info: info.git is not None) as info, \
            tempfile.TemporaryDirectory(prefix="hw-gitcheck-") as tmp:
        work = Path(tmp)
        name = f"bench-{uuid.uuid4().hex[:8]}.git"
        bare = gitserver.create_repo(info.git, name, branch="master")
        try:
            started = time.perf_counter()
            tip = fill(bare, args.commits)
            print(f"{args.commits:,} commits made in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr)
            root = root_commit(bare)
            key = info.git.deploy_key.read_text()
            transports = [
                Transport("git://", info.git.git_url(name),
                          {"uri": info.git.git_url(name), "branch": "master"}, {}),
                Transport("ssh", info.git.ssh_url(name),
                          {"uri": info.git.ssh_url(name), "branch": "master",
                           "private_key": key,
                           "known_hosts": info.git.known_hosts.read_text()},
                          {"GIT_SSH_COMMAND": info.git.ssh_command()}),
            ]
            rows = []
            for t in transports:
                results = asyncio.run(measure(t, tip, root, args.commits, work=work,
                                             repeat=args.repeat))
                base = statistics.median(results["git ls-remote"][0])
                for contender, (times, trips) in results.items():
                    median = statistics.median(times)
                    rows.append([t.name, contender, f"{median:.3f}", f"{min(times):.3f}",
                                 f"{max(times):.3f}", str(trips), f"{median / base:.2f}x"])
        finally:
            shutil.rmtree(bare, ignore_errors=True)
    print(f"git resource check, a branch of {args.commits:,} commits, {args.repeat} runs "
          f"each, {os.cpu_count()} cores")
    print(table(["transport", "contender", "median s", "min s", "max s", "connections",
                 "vs ls-remote"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
