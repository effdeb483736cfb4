"""The corpus of broken pipelines: each file says, in `# expect:` lines, every diagnostic.

    # expect: error line 17 jobs.build.plan.do[2].put(imag): unknown resource "imag" (...)
    # expect: error line - jobs: pipeline must contain at least one job (...)

`line -` is a diagnostic without a line. The lists must match exactly: nothing missing,
nothing more. `corpus/valid/` holds pipelines in the style of concourse/examples that
must validate; `corpus/differs/` the cases where headwater judges otherwise than fly 7
on purpose. `hack/fly-diff.py` runs the same files through the real fly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headwater.ci.config import Diagnostic, validate

CORPUS = Path(__file__).parent / "corpus"
EXPECT = re.compile(r"# expect: (error|warning) line (\d+|-) (.+)")


def _expected(text: str) -> list[tuple[str, int | None, str]]:
    found = []
    for m in EXPECT.finditer(text):
        line = None if m.group(2) == "-" else int(m.group(2))
        found.append((m.group(1), line, m.group(3)))
    return found


def _render(kind: str, d: Diagnostic) -> tuple[str, int | None, str]:
    return kind, d.line, f"{d.path}: {d.message}" if d.path else d.message


CASES = sorted(CORPUS.glob("*.yml"))
VALID = sorted((CORPUS / "valid").glob("*.yml"))
# Where headwater and fly 7 judge differently on purpose (README, hack/fly-diff.py).
DIFFERS = sorted((CORPUS / "differs").glob("*.yml"))


def test_the_corpus_holds_at_least_twenty_broken_pipelines() -> None:
    assert len(CASES) >= 20
    assert all(_expected(p.read_text(encoding="utf-8")) for p in CASES)


@pytest.mark.parametrize("path", CASES + DIFFERS, ids=lambda p: p.stem)
def test_corpus_case_reports_exactly_the_expected_diagnostics(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    report = validate(text, filename=path.name)
    got = ([_render("error", d) for d in report.errors]
           + [_render("warning", d) for d in report.warnings])
    assert sorted(got, key=str) == sorted(_expected(text), key=str)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_a_valid_corpus_pipeline_has_no_error(path: Path) -> None:
    assert len(VALID) >= 10
    report = validate(path.read_text(encoding="utf-8"), filename=path.name)
    assert report.errors == ()
