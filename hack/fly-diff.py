#!/usr/bin/env python3
"""Differential check: `headwater validate-pipeline` against the real `fly validate-pipeline`.

Never part of CI (the test suite does not need fly). With a fly binary kept outside the
repository (default ~/.cache/headwater/fly/bin/fly, or --fly / $FLY):

    .venv/bin/python hack/fly-diff.py [--fly PATH] [--examples DIR] [--json] [FILE|DIR ...]

Each pipeline file is validated by both, plain and with `--strict`; a verdict is "ok"
or "invalid" (fly's exit status, headwater's report). Vars: a `vars.yml` in the same
directory, or `NAME-vars.yml` next to `NAME-pipeline.yml`, is given with `-l` (and the
file is validated once more without it). The
corpus by default: tests/ci/config/corpus (broken pipelines, and valid/), the seed
pipeline, and with `--examples` a checkout (work tree) of concourse/examples (its
`pipelines/`, without `*.lib.yml` and vars files). Disagreements headwater makes on
purpose are listed in `DELIBERATE` (and in README.md) and reported as such; the exit
status is 1 when any other disagreement is found.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from headwater.ci.config import validate
from headwater.ci.vars import load_vars

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FLY = Path.home() / ".cache" / "headwater" / "fly" / "bin" / "fly"
CORPUS = [ROOT / "tests" / "ci" / "config" / "corpus",
          ROOT / "tests" / "ci" / "config" / "testdata" / "seed-pipeline.yml"]

# (file name, mode) -> why headwater disagrees with fly on purpose (see README.md); a
# file under corpus/differs/ is such a case whatever the mode, its first comment says why.
OLD_SYNTAX = "the old {{var}} syntax is read (given values): fly 7 no longer reads it"
DELIBERATE: dict[tuple[str, str], str] = {
    ("seed-pipeline.yml", "plain"): OLD_SYNTAX,
    ("deprecations.yml", "plain"): "aggregate runs as in_parallel with a deprecation "
                                   "warning (fly 7 refuses it; --strict agrees)",
    ("set-pipelines.yml", "strict"): "instance_vars warn: headwater has no instanced "
                                     "pipelines yet",
}


@dataclass(frozen=True)
class Verdict:
    file: str
    mode: str  # plain | strict | no-vars (plain, without the vars file beside it)
    fly: str  # ok | invalid
    headwater: str
    fly_said: str
    headwater_said: str
    why: str | None = None  # set when a disagreement is deliberate

    @property
    def agree(self) -> bool:
        return self.fly == self.headwater


def pipelines(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.yml")
                            if not p.name.endswith(".lib.yml") and p.name != "vars.yml"
                            and not p.name.endswith("-vars.yml"))
        else:
            found.append(path)
    return found


def vars_file(path: Path) -> Path | None:
    beside = path.with_name(path.name.replace("-pipeline.yml", "-vars.yml"))
    for candidate in (beside, path.with_name("vars.yml")):
        if candidate != path and candidate.is_file():
            return candidate
    return None


def run_fly(fly: Path, path: Path, values: Path | None, strict: bool) -> tuple[str, str]:
    argv = [str(fly), "validate-pipeline", "-c", str(path)]
    argv += ["-l", str(values)] if values else []
    argv += ["--strict"] if strict else []
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    said = [line.strip() for line in (done.stdout + done.stderr).splitlines()
            if line.strip() and line.strip() not in ("WARNING:", "looks good",
                                                      "Error loading existing config:")]
    return ("ok" if done.returncode == 0 else "invalid"), " | ".join(said)[:300]


def run_headwater(path: Path, values: Path | None, strict: bool) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    given = load_vars([], [], [values]) if values else None
    report = validate(text, filename=str(path), vars=given)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    return ("invalid" if failed else "ok"), " | ".join(report.lines())[:300]


def compare(fly: Path, files: list[Path]) -> list[Verdict]:
    out = []
    for path in files:
        values = vars_file(path)
        modes = [("plain", values), ("strict", values)]
        modes += [("no-vars", None)] if values else []
        for mode, given in modes:
            f, f_said = run_fly(fly, path, given, mode == "strict")
            h, h_said = run_headwater(path, given, mode == "strict")
            out.append(Verdict(_shown(path), mode, f, h, f_said, h_said,
                               _deliberate(path, mode)))
    return out


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _deliberate(path: Path, mode: str) -> str | None:
    if path.parent.name == "differs":
        comment = [line.lstrip("# ") for line in path.read_text(encoding="utf-8").splitlines()
                   if line.startswith("# ") and not line.startswith("# expect:")]
        return " ".join(comment) or "corpus/differs"
    return DELIBERATE.get((path.name, mode))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--fly", type=Path, default=Path(os.environ.get("FLY", DEFAULT_FLY)))
    parser.add_argument("--examples", type=Path, help="a work tree of concourse/examples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.fly.is_file():
        print(f"no fly at {args.fly}: give one with --fly or $FLY", file=sys.stderr)
        return 2
    paths = list(args.paths) or list(CORPUS)
    if args.examples:
        paths.append(args.examples / "pipelines")
    verdicts = compare(args.fly, pipelines(paths))
    unexplained = [v for v in verdicts if not v.agree and not v.why]
    if args.json:
        print(json.dumps({"verdicts": [{**asdict(v), "agree": v.agree} for v in verdicts],
                          "agree": sum(v.agree for v in verdicts), "total": len(verdicts),
                          "unexplained": len(unexplained)}, indent=1))
    else:
        for v in verdicts:
            if v.agree:
                continue
            why = v.why
            print(f"{'DELIBERATE' if why else 'DIFFERS'} {v.file} [{v.mode}]: fly {v.fly}, "
                  f"headwater {v.headwater}{f' ({why})' if why else ''}")
            print(f"    fly:       {v.fly_said or '-'}")
            print(f"    headwater: {v.headwater_said or '-'}")
        files = len({v.file for v in verdicts})
        agree = sum(v.agree for v in verdicts)
        print(f"{files} files, {len(verdicts)} verdicts: {agree} agree, "
              f"{len(verdicts) - agree - len(unexplained)} differ on purpose, "
              f"{len(unexplained)} differ unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
