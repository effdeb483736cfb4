"""The exception tree of headwater/errors.py: one name per class, and whose fault each is."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict

import pytest
import yaml

import headwater
from headwater.cd.automation import PolicyFileError
from headwater.cd.manifestedit import EditError
from headwater.cd.render import RenderError, RenderErrors
from headwater.cd.source import SourceError
from headwater.cd.verbs import VerbError
from headwater.cd.workloads import WorkloadError
from headwater.ci.config.diagnostics import Diagnostic, Report
from headwater.ci.config.errors import PipelineInvalid
from headwater.ci.service import Conflict, Invalid, NotFound
from headwater.ci.vars import UndefinedVarsError, VarsError
from headwater.errors import HeadwaterError, UserError
from headwater.gitrepo import GitError
from headwater.kube.errors import ApiError, UnknownKind
from headwater.registry import RegistryError
from headwater.yamlload import YamlLimitError


def _exception_classes() -> dict[str, set[str]]:
    """Every exception class defined in a module of headwater: name -> modules."""
    found: dict[str, set[str]] = defaultdict(set)
    for info in pkgutil.walk_packages(headwater.__path__, "headwater."):
        if info.name.endswith("__main__") or ".migrations" in info.name:
            continue  # __main__ runs the CLI; migrations are Alembic scripts
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name):
                found[obj.__name__].add(info.name)
    return found


def test_no_two_exception_classes_share_a_name() -> None:
    classes = _exception_classes()
    assert len(classes) > 40  # the walk did reach the package's modules
    shared = {name: sorted(mods) for name, mods in classes.items() if len(mods) > 1}
    assert shared == {}


@pytest.mark.parametrize("cls", [
    RenderError, RenderErrors, WorkloadError, EditError, VerbError, SourceError,
    PolicyFileError, PipelineInvalid, VarsError, UndefinedVarsError, YamlLimitError,
    UnknownKind, Invalid, NotFound, Conflict,
])
def test_a_mistake_in_what_a_person_wrote_is_a_user_error(cls: type[Exception]) -> None:
    assert issubclass(cls, UserError)


@pytest.mark.parametrize("cls", [GitError, RegistryError, ApiError])
def test_a_failure_of_something_else_is_retried_not_a_user_error(cls: type[Exception]) -> None:
    assert issubclass(cls, HeadwaterError)
    assert not issubclass(cls, UserError)


def test_errors_that_were_value_errors_or_yaml_errors_still_are() -> None:
    assert issubclass(VarsError, ValueError)
    assert issubclass(PipelineInvalid, ValueError)
    limit = YamlLimitError("too deep", filename="x.yml", mark=None)
    assert isinstance(limit, yaml.MarkedYAMLError)
    assert isinstance(limit, UserError)
    assert str(limit) == "x.yml: too deep"


def test_a_user_error_adds_its_details_to_an_api_answer() -> None:
    assert Invalid("bad").details() == {}
    report = Report(errors=(Diagnostic(3, "jobs[0]", "unknown key"),), warnings=())
    invalid = PipelineInvalid(report, filename="p.yml")
    assert invalid.details() == {
        "errors": [{"line": 3, "path": "jobs[0]", "message": "unknown key"}], "warnings": []}


def test_every_exception_of_ours_is_in_the_tree_but_imagepolicys_and_control_flow() -> None:
    # imagepolicy imports nothing of ours (import-linter): its errors are ValueErrors the
    # cd layer says as the user's. `_Stop` is how a sync leaves its straight line.
    outside: list[str] = []
    for info in pkgutil.walk_packages(headwater.__path__, "headwater."):
        if info.name.endswith("__main__") or ".migrations" in info.name:
            continue
        for obj in vars(importlib.import_module(info.name)).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == info.name and not issubclass(obj, HeadwaterError)
                    and not info.name.startswith("headwater.imagepolicy.")):
                outside.append(f"{info.name}.{obj.__name__}")
    assert outside == ["headwater.cd.sync._Stop"]
