"""Every log line goes through `headwater.log`: logfmt, one line, secrets redacted."""

from __future__ import annotations

import ast
from pathlib import Path

import headwater
from headwater import log as hwlog
from tests.logcapture import captured_log

SRC = Path(headwater.__file__).parent


def _is_logging(name: str | None) -> bool:
    return name == "logging" or (name or "").startswith("logging.")


def _imports_stdlib_logging(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names: list[str | None] = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        if any(_is_logging(n) for n in names):
            lines.append(node.lineno)
    return lines


def test_no_module_but_headwater_log_uses_the_stdlib_logging_module() -> None:
    # logging.getLogger(...) would bypass the logfmt format and the redaction of secrets.
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "log.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(SRC.parent)}:{line}"
                      for line in _imports_stdlib_logging(tree)]
    assert offenders == [], ("log through headwater.log.get(component) with fields, not "
                             f"the logging module: {offenders}")


def test_the_scan_finds_every_form_of_importing_logging() -> None:
    source = ("import logging\nimport os, logging.handlers\nfrom logging import getLogger\n"
              "from . import logging as ours\nimport headwater.log\n")
    assert _imports_stdlib_logging(ast.parse(source)) == [1, 2, 3]


def _refuse_login() -> None:
    raise RuntimeError("login refused for s3cret-token-value")


def test_an_exception_is_one_logfmt_line_with_its_traceback_and_no_secret() -> None:
    hwlog.redact("s3cret-token-value")
    with captured_log() as log:
        try:
            _refuse_login()
        except RuntimeError:
            hwlog.get("build").exception("step broke", build=7, step="unit")
    lines = log.getvalue().splitlines()
    assert len(lines) == 1
    assert "level=error component=build event=\"step broke\" build=7 step=unit" in lines[0]
    assert "Traceback (most recent call last)" in lines[0]
    assert "RuntimeError: login refused for ((redacted))" in lines[0]
    assert "s3cret-token-value" not in lines[0]
