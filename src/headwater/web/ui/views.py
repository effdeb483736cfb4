"""What each page shows, read from the CI engine: plain data for the templates.

The routes (`routes.py`) only call these and render; every read for the UI is here,
through the CI service's methods (no store call: issue 14). Nothing returned holds a
var's value: pipelines give their config text as set (with `((placeholders))`), builds
their step names (`steps.py`), resources their versions and a check error that the
checker redacted already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from headwater.ci.config import PipelineConfig
from headwater.ci.service import CI
from headwater.store import Build, BuildResource, Job, Pipeline, Resource, ResourceVersion
from headwater.web.ui import graph
from headwater.web.ui.colors import status_key
from headwater.web.ui.steps import StepView, step_tree

MAX_PROGRESS_EVENTS = 20_000  # progress events of one build the page reads


@dataclass(frozen=True)
class JobRow:
    job: Job
    latest: Build | None

    @property
    def status(self) -> str:
        return status_key(self.latest.status if self.latest else None,
                          paused=self.job.paused)


@dataclass(frozen=True)
class PipelineRow:
    pipeline: Pipeline
    jobs: list[JobRow]


async def dashboard(ci: CI) -> list[PipelineRow]:
    rows = []
    for p in await ci.all_pipelines():
        rows.append(PipelineRow(p, await _job_rows(ci, p)))
    return rows


async def _job_rows(ci: CI, p: Pipeline) -> list[JobRow]:
    return [JobRow(j, latest) for j, latest in await ci.pipeline_jobs(p)]


@dataclass(frozen=True)
class PipelinePage:
    pipeline: Pipeline
    jobs: dict[str, JobRow]
    resources: dict[str, Resource]
    layout: graph.Layout
    groups: list[str]
    group: str | None


async def pipeline_page(ci: CI, team: str, name: str, group: str | None) -> PipelinePage:
    p = await ci.pipeline(team, name)
    config = PipelineConfig.model_validate(p.config)
    groups = graph.group_names(config)
    if group not in groups:
        group = groups[0] if groups else None
    jobs = {r.job.name: r for r in await _job_rows(ci, p)}
    resources = {r.name: r for r in await ci.resources(team, name)}
    return PipelinePage(p, jobs, resources, graph.layout(graph.jobs_of(config, group)),
                        groups, group)


@dataclass(frozen=True)
class JobPage:
    pipeline: Pipeline
    job: Job
    builds: list[Build]
    manual_trigger: bool


async def job_page(ci: CI, team: str, pipeline: str, job: str) -> JobPage:
    p, j = await ci.job(team, pipeline, job)
    builds = await ci.builds(team=team, pipeline=pipeline, job=job, limit=100)
    return JobPage(p, j, builds, not bool(j.config.get("disable_manual_trigger")))


@dataclass(frozen=True)
class BuildPage:
    build: Build
    steps: StepView | None
    inputs: list[BuildResource]
    outputs: list[BuildResource]
    error: str | None  # the build itself broke (an `error` event without a step)


async def build_page(ci: CI, build: Build) -> BuildPage:
    events = await ci.event_page(build.id, logs=False, limit=MAX_PROGRESS_EVENTS)
    error = next((str(e.payload.get("message", "")) for e in events
                  if e.type == "error" and not e.payload.get("origin")), None)
    inputs, outputs = await ci.build_resources(build.id)
    return BuildPage(build, step_tree(build.plan, events), inputs, outputs, error)


async def job_build(ci: CI, team: str, pipeline: str, job: str, name: str) -> Build:
    return await ci.job_build(team, pipeline, job, name)


@dataclass(frozen=True)
class ResourcePage:
    pipeline: Pipeline
    resource: Resource
    versions: list[ResourceVersion]
    check_error: CheckError | None


async def resource_page(ci: CI, team: str, pipeline: str, name: str) -> ResourcePage:
    p, r = await ci.resource(team, pipeline, name)
    versions = await ci.versions(team, pipeline, name, limit=100)
    return ResourcePage(p, r, versions,
                        explain_check_error(r.check_error) if r.check_error else None)


@dataclass(frozen=True)
class CheckError:
    summary: str  # one sentence, plain words
    advice: str
    detail: str  # the error as recorded (redacted)


_TIMED_OUT = re.compile(r"timed out|timeout", re.IGNORECASE)
_AUTH = re.compile(r"authentication|unauthorized|401|403|permission denied|"
                   r"could not read username", re.IGNORECASE)
_NETWORK = re.compile(r"could not resolve|connection refused|network is unreachable|"
                      r"no route to host|name or service not known", re.IGNORECASE)
_NO_TYPE = re.compile(r"unknown resource type|no resource type", re.IGNORECASE)


def explain_check_error(text: str) -> CheckError:
    """The last check error in plain words: what went wrong and what to try."""
    if text.startswith("headwater error:"):
        return CheckError("headwater itself failed while checking this resource.",
                          "This is a bug or an outage of the server: see its log.", text)
    if _TIMED_OUT.search(text):
        return CheckError("The check took too long and was stopped.",
                          "Is the source reachable and quick? Raise check_timeout if it "
                          "is just slow.", text)
    if _AUTH.search(text):
        return CheckError("The source refused the credentials.",
                          "Check the credentials in the resource's source (or the vars "
                          "that fill them) and set the pipeline again.", text)
    if _NETWORK.search(text):
        return CheckError("The source could not be reached over the network.",
                          "Check the URL or host in the source and that the server may "
                          "reach it (--task-allow for loopback services).", text)
    if _NO_TYPE.search(text):
        return CheckError("The resource's type is not known to the server.",
                          "Add it to resource_types or install it in the server's "
                          "--resource-types-dir.", text)
    return CheckError("The resource's check script failed.",
                      "Its output is below; fix the source, or the script, and check "
                      "again.", text)


def version_text(version: dict[str, Any] | None) -> str:
    if not version:
        return ""
    return ", ".join(f"{k}: {v}" for k, v in version.items())
