"""A build's status: the one vocabulary the store, the engine, the API and the CLI share.

A bottom module of the standard library only (no SQLAlchemy, no pydantic), so the CLI's
`watch` can read a status without loading the store; `headwater.store.models`
re-exports it as the store's type. Values are Concourse's, as stored and as sent.
"""

from __future__ import annotations

from enum import StrEnum


class BuildStatus(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERRORED = "errored"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self not in (BuildStatus.PENDING, BuildStatus.STARTED)


FINISHED_STATUSES = frozenset(s for s in BuildStatus if s.finished)
