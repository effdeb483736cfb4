"""The step interface, and the wrapper that reports a leaf step's errors.

`Reported` is Concourse's `LogErrorStep`: around every leaf step, it turns a
`StepError`/`ResourceError` (the user's problem) or any other exception (headwater's
bug: the traceback goes to the server log) into an `error` event with the step's
id, then raises `Errored` so that the wrappers above see an error that has already
been shown. Cancellation passes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

from headwater import log as hwlog
from headwater.ci.build.errors import Errored, StepError
from headwater.ci.build.state import RunState
from headwater.ci.resources.base import Fetched, ResourceError

_log = hwlog.get("build")


class Step(Protocol):
    async def run(self, state: RunState) -> bool: ...


class Reported:
    def __init__(self, step_id: str, step: Step) -> None:
        self.step_id = step_id
        self.step = step

    async def run(self, state: RunState) -> bool:
        try:
            return await self.step.run(state)
        except (Errored, asyncio.CancelledError):
            raise
        except (StepError, ResourceError) as e:
            message = str(e)
        except Exception as e:
            _log.exception("step broke", build=state.ctx.build_id, step=self.step_id)
            message = (f"headwater internal error: {type(e).__name__}: {e} "
                       "(a bug in headwater; the server log has the details)")
        await state.error(self.step_id, message)
        raise Errored(message)


@contextlib.contextmanager
def naming(resource: str) -> Iterator[None]:
    """A resource type's error as Concourse users read it: which resource, then the
    cause the type gave (types know their source, not the pipeline's name for it)."""
    try:
        yield
    except ResourceError as e:
        if str(e).startswith(f"resource {resource!r}"):
            raise
        raise ResourceError(f"resource {resource!r}: {e}") from e


def version_fields(fetched: Fetched) -> dict[str, Any]:
    """A finish-get/finish-put event's version and metadata."""
    return {"version": dict(fetched.version),
            "metadata": [{"name": m.name, "value": m.value} for m in fetched.metadata]}
