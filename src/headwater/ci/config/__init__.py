"""Pipeline configs: Concourse's schema, its validation with YAML lines, and the planner.

    validate(text, filename=...) -> Report          fly validate-pipeline: never needs vars
    load_pipeline(text, vars=..., filename=...)     set time: config, warnings, values to redact
    parse_pipeline(text, vars=..., filename=...)    the config alone; both raise PipelineInvalid
    compile_job(config, job, versions) -> Plan      one build's plan (ci/plan.py)
    job_inputs(config, job) -> [JobInput]           the gets the scheduler resolves

Modules, in the order a file goes through them: `positions` (YAML with the line of
every node), `schema`/`steps`/`shape` (the shape of each value), `rules` (Concourse's
cross-checks), `model` (pydantic), `compile`. `diagnostics` holds what they report.
"""

from headwater.ci.config.compile import JobInput, compile_job, job_inputs
from headwater.ci.config.diagnostics import Diagnostic, Report
from headwater.ci.config.errors import CompileError, PipelineInvalid
from headwater.ci.config.model import JobConfig, PipelineConfig, ResourceConfig
from headwater.ci.config.validate import (
    LoadedPipeline,
    load_pipeline,
    parse_pipeline,
    validate,
)
from headwater.durations import DurationError, parse_duration

__all__ = [
    "CompileError",
    "Diagnostic",
    "DurationError",
    "JobConfig",
    "JobInput",
    "LoadedPipeline",
    "PipelineConfig",
    "PipelineInvalid",
    "Report",
    "ResourceConfig",
    "compile_job",
    "job_inputs",
    "load_pipeline",
    "parse_duration",
    "parse_pipeline",
    "validate",
]
