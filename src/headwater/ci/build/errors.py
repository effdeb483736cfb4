"""How a step says it errored.

Concourse's three outcomes of a step, in Python:

- `return True` / `return False`: the user's work succeeded / failed;
- `raise StepError(message)` (or the resource types' `ResourceError`): the step could
  not run as written (a missing input, a bad task config, a resource script that
  broke). The build is *errored* and shows the message;
- any other exception: headwater itself broke. The build is *errored* too, the
  message says so and the traceback goes to the server's log;
- `asyncio.CancelledError`: the build was aborted, or an enclosing `timeout` or
  `fail_fast` stopped the step; it always propagates.

The engine reports the first two kinds of error as an `error` event where they
happen and turns them into `Errored`, which the wrappers (`on_error`, `try`,
`attempts`, ...) look at without reporting it again.
"""

from __future__ import annotations

from headwater.errors import HeadwaterError


class StepError(HeadwaterError):
    """A step cannot run as the pipeline says; the message tells the user what to fix."""


class Errored(HeadwaterError):
    """A step errored and the error has been reported (an `error` event was emitted)."""
