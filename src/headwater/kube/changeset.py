"""What a sync did to each object: one typed list, from apply and from prune.

As fluxcd/pkg `ssa/changeset.go`: apply and prune each return a list of
`Change(id, action, reason)`, and every report (the sync result, its JSON, metrics,
log lines) reads those lists instead of keeping counts of its own. `Action` takes
Flux's names; `reason` says why when the action alone does not (the first field that
drifted, why an object was skipped, what failed).

`apply_action` is the apply's decision for one object, a pure function of the object
as it will be applied and the live object (or None).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from headwater.kube import drift
from headwater.kube.objects import ObjId, sync_ignores


class Action(StrEnum):
    CREATED = "created"        # did not exist; applied
    CONFIGURED = "configured"  # existed and departed from Git; applied
    UNCHANGED = "unchanged"    # already as Git says: no write
    SKIPPED = "skipped"        # left alone on purpose (ignore annotation, not ours, ...)
    DELETED = "deleted"        # pruned (in dry mode: would be)
    UNKNOWN = "unknown"        # a request failed: the outcome is not known


WRITES = frozenset({Action.CREATED, Action.CONFIGURED})

# Reasons a report may need to tell apart.
IGNORED_IN_GIT = "ignore annotation in file"
IGNORED_IN_CLUSTER = "ignore annotation in cluster resource"
ALREADY_GONE = "already gone"


@dataclass(frozen=True, slots=True)
class Change:
    id: ObjId
    action: Action
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.id} {self.action}" + (f" ({self.reason})" if self.reason else "")

    def to_json(self) -> dict[str, str]:
        return {"id": str(self.id), "action": self.action.value, "reason": self.reason}


def ids(changes: Iterable[Change], *actions: Action) -> list[ObjId]:
    """The ids of `changes` with one of `actions`, in order."""
    return [c.id for c in changes if c.action in actions]


def count(changes: Iterable[Change], *actions: Action) -> int:
    return sum(1 for c in changes if c.action in actions)


def tally(changes: Sequence[Change]) -> dict[Action, int]:
    """How many changes of each action (every action present, 0 when none)."""
    return {a: count(changes, a) for a in Action}


def apply_action(desired: dict[str, Any], live: dict[str, Any] | None) -> tuple[Action, str]:
    """What applying `desired` (as it will be sent, marked) over `live` does, and why.

    An ignore annotation in Git or on the live object skips it (Flux v1 checks both);
    no live object: created; a field of Git's the live object lacks: configured (the
    reason is that field); otherwise unchanged."""
    if sync_ignores(desired):
        return Action.SKIPPED, IGNORED_IN_GIT
    if sync_ignores(live):
        return Action.SKIPPED, IGNORED_IN_CLUSTER
    if live is None:
        return Action.CREATED, ""
    if why := drift.drifted(desired, live):
        return Action.CONFIGURED, why
    return Action.UNCHANGED, ""
