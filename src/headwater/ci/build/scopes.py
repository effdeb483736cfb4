"""Why a step is being cancelled: the build was aborted, or a timeout expired.

asyncio has one kind of cancellation; Concourse tells two apart. An abort
(`context.Canceled`) runs `on_abort` hooks and goes through `try`; an expired
`timeout` (`context.DeadlineExceeded`) is an error: `on_error` hooks run. A
`fail_fast` sibling being stopped looks like an abort to the sibling, as there.

Each place inside the engine that cancels steps on purpose enters a scope (an
object with `expired()`, e.g. `asyncio.Timeout`); a cancelled step asks `cause()`:
"timeout" when an enclosing timeout expired, "abort" otherwise. Hooks that must
run whatever happens run through `shielded`, in a task of their own with no scopes
(Concourse runs them with `context.Background()`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol, TypeVar

Cause = Literal["abort", "timeout"]
T = TypeVar("T")


class Scope(Protocol):
    def expired(self) -> bool: ...


_scopes: contextvars.ContextVar[tuple[tuple[Scope, Cause], ...]] = \
    contextvars.ContextVar("headwater_cancel_scopes", default=())


@contextmanager
def entered(scope: Scope, cause: Cause) -> Iterator[None]:
    token = _scopes.set((*_scopes.get(), (scope, cause)))
    try:
        yield
    finally:
        _scopes.reset(token)


def within(why: Cause) -> bool:
    """Is the current step inside a scope of this kind (a `timeout:` around it)?"""
    return any(c == why for _, c in _scopes.get())


def cause() -> Cause:
    """Why the current step is being cancelled (asked while handling CancelledError)."""
    for scope, why in reversed(_scopes.get()):
        if scope.expired():
            return why
    return "abort"


class Flag:
    """A scope that expires when told to (fail_fast)."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def expired(self) -> bool:
        return self._set


async def shielded(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end even when the caller is being cancelled; a second
    cancellation of the caller cancels it too."""
    context = contextvars.copy_context()
    context.run(_scopes.set, ())
    task = asyncio.get_running_loop().create_task(coro, context=context)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise
