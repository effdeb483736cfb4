"""`headwater up`: the local stack of real programs (Git server, OCI registry, a
single-node Kubernetes cluster) shared by the quickstart, the tests and the benchmarks.

Public surface: `up`, `down`, `load`, `Options`, `Reporter`, `StackInfo`, `check`.
"""

from headwater.devstack.errors import StackError
from headwater.devstack.stack import AlreadyUp, Options, Reporter, StackInfo, down, load, up
from headwater.devstack.status import ComponentStatus, check

__all__ = ["AlreadyUp", "ComponentStatus", "Options", "Reporter", "StackError", "StackInfo",
           "check", "down", "load", "up"]
