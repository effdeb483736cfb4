"""The server's default timeout of `get` and `put` steps.

Concourse's `--default-get-timeout` and `--default-put-timeout`: a step with no
`timeout:` of its own around it gets the server's. When it expires, the resource's
script is stopped (cancelled: SIGTERM to its processes, SIGKILL after the grace
period, its cgroup emptied) and the step errors with a message naming the resource
and the timeout. headwater's default is one hour, as Concourse's check timeout, so a
hung `in` or `out` never holds a build forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from headwater.ci.build import scopes
from headwater.ci.build.errors import StepError
from headwater.durations import format_duration


@contextlib.asynccontextmanager
async def default_timeout(seconds: float | None, what: str, flag: str) -> AsyncIterator[None]:
    """Run the block within `seconds` (None or 0: no limit), unless a `timeout:` of the
    plan already bounds it; `what` ("get of resource 'repo'") names it in the error."""
    if not seconds or scopes.within("timeout"):
        yield
        return
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            with scopes.entered(deadline, "timeout"):
                yield
    except TimeoutError:
        if not deadline.expired():
            raise
        raise StepError(f"{what} timed out after {format_duration(seconds)} and its script was "
                        f"stopped (the server's {flag}; give the step a timeout: of its own "
                        "to allow more)") from None
