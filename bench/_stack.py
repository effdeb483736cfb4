"""The stack a benchmark runs against: its own (started, then stopped and purged) or a
running one given with --state-dir (left running)."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from headwater import devstack


@contextlib.contextmanager
def stack(state_dir: Path | None, options: devstack.Options, *, what: str,
          usable: Callable[[devstack.StackInfo], bool]) -> Iterator[devstack.StackInfo]:
    if state_dir is not None:
        info = devstack.load(state_dir)
        if info is None or not usable(info):
            raise SystemExit(f"no running stack with {what} in {state_dir}")
        yield info
        return
    # A short path: containerd's socket lives under it and unix sockets allow 108 bytes.
    state = Path(tempfile.mkdtemp(prefix="hwb-", dir="/tmp"))
    try:
        print(f"starting a stack in {state} ...", file=sys.stderr)
        yield devstack.up(state, options)
    finally:
        print(f"stopping the stack in {state} ...", file=sys.stderr)
        devstack.down(state, purge=True)
