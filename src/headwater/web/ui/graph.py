"""The pipeline graph, laid out on the server: jobs and resources in columns by depth.

As Concourse's pipeline view: a `get` without `passed:` draws its resource as an input
node and an edge to the job; a `get` with `passed: [a]` draws an edge from job `a`
(the version flows through it); a `put` draws an edge to the resource as an output
node. Inputs and outputs of one resource are separate nodes, so a job that gets and
puts the same resource (a version bump) makes no cycle. An edge is solid when the get
triggers the job (`trigger: true`), dashed otherwise; puts are solid.

Columns are the depth of each node: input resources 0, a job one more than the
deepest node feeding it, an output one more than the deepest job writing it. Rows
within a column follow the mean row of what feeds each node, as close as the rows
already taken allow (one left-to-right pass, ties in config order): most edges stay short.
`layout` is a pure function of the jobs; `jobs_of` reads them from a validated
pipeline config, filtered by group.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from headwater.ci.config import PipelineConfig, job_inputs
from headwater.ci.config.compile import walk_steps
from headwater.ci.config.model import PutStep

COL_WIDTH = 220
NODE_WIDTH = 160
ROW_HEIGHT = 56
NODE_HEIGHT = 36
MARGIN = 16


@dataclass(frozen=True)
class JobInput:
    resource: str
    trigger: bool = False
    passed: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    name: str
    inputs: tuple[JobInput, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    id: str  # "job:NAME", "in:RESOURCE", "out:RESOURCE"
    kind: str  # "job" | "resource"
    name: str
    col: int
    row: int

    @property
    def x(self) -> int:
        return MARGIN + self.col * COL_WIDTH

    @property
    def y(self) -> int:
        return MARGIN + self.row * ROW_HEIGHT


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    trigger: bool  # solid when true

    def path(self, nodes: dict[str, Node]) -> str:
        """The SVG path data: a curve from the source's right side to the target's left."""
        a, b = nodes[self.source], nodes[self.target]
        x1, y1 = a.x + NODE_WIDTH, a.y + NODE_HEIGHT // 2
        x2, y2 = b.x, b.y + NODE_HEIGHT // 2
        mid = (x1 + x2) // 2
        return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    by_id: dict[str, Node] = field(default_factory=dict)

    @property
    def width(self) -> int:
        cols = max((n.col for n in self.nodes), default=0) + 1
        return 2 * MARGIN + (cols - 1) * COL_WIDTH + NODE_WIDTH

    @property
    def height(self) -> int:
        rows = max((n.row for n in self.nodes), default=0) + 1
        return 2 * MARGIN + (rows - 1) * ROW_HEIGHT + NODE_HEIGHT


def _edges(jobs: Sequence[JobSpec]) -> list[Edge]:
    shown = {j.name for j in jobs}
    edges: dict[tuple[str, str], Edge] = {}
    for job in jobs:
        target = f"job:{job.name}"
        for i in job.inputs:
            upstream = [p for p in i.passed if p in shown and p != job.name]
            sources = [f"job:{p}" for p in upstream] or [f"in:{i.resource}"]
            for s in sources:
                old = edges.get((s, target))  # two gets on one path: trigger if either is
                edges[(s, target)] = Edge(s, target, i.trigger or bool(old and old.trigger))
        for r in job.outputs:
            edges.setdefault((target, f"out:{r}"), Edge(target, f"out:{r}", True))
    return list(edges.values())


def layout(jobs: Sequence[JobSpec]) -> Layout:
    edges = _edges(jobs)
    feeds: dict[str, list[str]] = {}
    ids: list[str] = []
    for job in jobs:
        ids.append(f"job:{job.name}")
    for e in edges:
        feeds.setdefault(e.target, []).append(e.source)
        for end in (e.source, e.target):
            if end not in ids:
                ids.append(end)
    depth: dict[str, int] = {}

    def depth_of(node: str, seen: frozenset[str]) -> int:
        if node in depth:
            return depth[node]
        if node.startswith("in:"):
            value = 0
        else:  # a cycle (refused by validation) is cut where it closes
            value = 1 + max((depth_of(s, seen | {node}) for s in feeds.get(node, ())
                             if s not in seen), default=-1)
        depth[node] = value
        return value

    for node in ids:
        depth_of(node, frozenset())
    columns: dict[int, list[str]] = {}
    for node in ids:
        columns.setdefault(depth[node], []).append(node)
    rows: dict[str, int] = {}
    order = {node: i for i, node in enumerate(ids)}
    for col in sorted(columns):
        def weight(node: str) -> tuple[float, int]:
            placed = [rows[s] for s in feeds.get(node, ()) if s in rows]
            return (sum(placed) / len(placed) if placed else float("inf"), order[node])

        next_free = 0
        for node in sorted(columns[col], key=weight):
            wanted = weight(node)[0]
            row = max(next_free, round(wanted) if wanted != float("inf") else 0)
            rows[node] = row
            next_free = row + 1
    nodes = [Node(id=n, kind="job" if n.startswith("job:") else "resource",
                  name=n.split(":", 1)[1], col=depth[n], row=rows[n]) for n in ids]
    return Layout(nodes=nodes, edges=edges, by_id={n.id: n for n in nodes})


def jobs_of(config: PipelineConfig, group: str | None = None) -> list[JobSpec]:
    """The jobs of the pipeline (of `group` only, when given), as `layout` takes them."""
    names = [j.name for j in config.jobs]
    if group is not None:
        wanted = next((g.jobs for g in config.groups if g.name == group), [])
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in wanted)]
    specs = []
    for name in names:
        job = config.job(name)
        if job is None:
            continue
        inputs = tuple(JobInput(resource=i.resource, trigger=i.trigger, passed=i.passed)
                       for i in job_inputs(config, name))
        roots = [*job.plan, *(h for h in (job.on_success, job.on_failure, job.on_error,
                                          job.on_abort, job.ensure) if h is not None)]
        steps = [s for root in roots for s in walk_steps(root)]
        outputs = tuple(dict.fromkeys(s.resource_name for s in steps
                                      if isinstance(s, PutStep)))
        specs.append(JobSpec(name=name, inputs=inputs, outputs=outputs))
    return specs


def group_names(config: PipelineConfig) -> list[str]:
    return [g.name for g in config.groups]


__all__ = ["Edge", "JobInput", "JobSpec", "Layout", "Node", "group_names", "jobs_of",
           "layout"]
