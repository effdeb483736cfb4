"""`headwater validate-pipeline`: output, exit codes, `--json`, vars flags."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from headwater import yamlload
from headwater.cli.app import app
from tests.yamlbomb import BOMB, BOMB_LINE

runner = CliRunner()
HERE = Path(__file__).parent
SEED = HERE / "testdata" / "seed-pipeline.yml"
BROKEN = HERE / "corpus" / "unknown-resource-put.yml"
GOOD = """\
resources: [{name: git, type: git, source: {uri: ((uri))}}]
jobs: [{name: test, plan: [{get: git, trigger: true}]}]
"""


def test_a_good_pipeline_looks_good(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(GOOD)
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path)])
    assert (r.exit_code, r.stdout) == (0, "looks good\n")


def test_errors_print_with_file_line_and_path_and_exit_1() -> None:
    r = runner.invoke(app, ["validate-pipeline", "-c", str(BROKEN)])
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        f'error: {BROKEN}:line 17: jobs.build.plan.do[2].put(imag): unknown resource "imag" '
        f'(did you mean "image"?)',
        "configuration invalid"]


def test_warnings_pass_unless_strict() -> None:
    vars_file = str(HERE / "testdata" / "seed-vars.yml")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "-l", vars_file])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].startswith(f"warning: {SEED}:line 22: jobs.Docker Build.name: ")
    assert r.stdout.splitlines()[-1] == "looks good"
    strict = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "-l", vars_file,
                                 "--strict"])
    assert strict.exit_code == 1 and strict.stdout.endswith("configuration invalid\n")


def test_errors_come_before_warnings(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("jobs:\n- name: Test\n  plan: [{get: nope}]\n")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path)])
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == [
        "error", "warning", "configuration invalid"]


def test_json_prints_exactly_errors_and_warnings() -> None:
    r = runner.invoke(app, ["validate-pipeline", "-c", str(BROKEN), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {
        "errors": [{"line": 17, "path": "jobs.build.plan.do[2].put(imag)",
                    "message": 'unknown resource "imag" (did you mean "image"?)'}],
        "warnings": []}


def test_vars_given_by_flags_are_used(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(GOOD.replace("trigger: true", "trigger: ((t))"))
    ok = runner.invoke(app, ["validate-pipeline", "-c", str(path), "--json"])
    assert ok.exit_code == 0
    bad = runner.invoke(app, ["validate-pipeline", "-c", str(path), "-v", "t=yes", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["errors"][0]["message"] == "must be true or false, found a string"
    typed = runner.invoke(app, ["validate-pipeline", "-c", str(path), "-y", "t=yes"])
    assert typed.exit_code == 0, typed.stdout


def test_unreadable_files_and_bad_vars_exit_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["validate-pipeline", "-c", str(tmp_path / "missing.yml")])
    assert r.exit_code == 2 and "cannot read" in r.stderr
    path = tmp_path / "p.yml"
    path.write_text(GOOD)
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path), "-l", str(tmp_path / "no")])
    assert r.exit_code == 2 and "cannot read vars file" in r.stderr
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path), "-v", "novalue"])
    assert r.exit_code == 2 and "expected NAME=VALUE" in r.stderr


def _headwater(*args: str) -> tuple[int, str, float]:
    """The installed command in a process of its own (a bomb must not need a kill)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "headwater", *args], capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_an_alias_bomb_is_refused_at_its_line_within_seconds(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(BOMB)
    code, out, seconds = _headwater("validate-pipeline", "-c", str(path))
    assert code == 1, out
    assert out.splitlines()[0] == (
        f"error: {path}:line {BOMB_LINE}: with its aliases expanded, the YAML is more than "
        "1,000,000 nodes (an alias bomb?): refused (--yaml-max-nodes raises the limit)")
    assert seconds < 30  # the process's start included; the refusal itself is instant
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(BOMB)
    code, out, _ = _headwater("validate-pipeline", "-c", str(SEED), "-l", str(vars_file))
    assert code == 2, out
    assert f"error: {vars_file}:{BOMB_LINE}: with its aliases expanded" in out


def test_the_yaml_flags_raise_and_lower_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("x: &x [1, 2, 3]\n"
                    "resources: [{name: git, type: git, source: {uri: u, a: [*x, *x]}}]\n"
                    "jobs: [{name: test, plan: [{get: git}]}]\n")
    nodes, _ = yamlload.measure(path.read_text())
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path), "--yaml-max-nodes", str(nodes)])
    assert (r.exit_code, r.stdout.splitlines()[-1]) == (0, "looks good")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path),
                            "--yaml-max-nodes", str(nodes - 1)])
    assert r.exit_code == 1
    assert r.stdout.startswith(f"error: {path}:line 3: the YAML is more than {nodes - 1} "
                               "nodes")  # the last node is one too many
    r = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "--yaml-max-bytes", "512B"])
    assert r.exit_code == 2
    assert r.stderr == (f"error: {SEED}: the YAML is larger than 512 bytes: refused before "
                        "parsing (--yaml-max-bytes raises the limit)\n")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "--yaml-max-bytes", "1 pint"])
    assert r.exit_code == 2
    assert "invalid size \"1 pint\"" in r.stderr


UNBOUND = ("unbound variable in template: '{name}' (give it a value with -v, -y or -l; the "
           "old double-brace syntax is deprecated: write (({name})))")


def test_an_unbound_old_style_var_fails_validation_until_it_has_a_value() -> None:
    r = runner.invoke(app, ["validate-pipeline", "-c", str(SEED)])
    assert r.exit_code == 1
    assert r.stdout.splitlines()[:2] == [
        f"error: {SEED}:line 14: " + UNBOUND.format(name="rguichard_pkey"),
        f"error: {SEED}:line 20: " + UNBOUND.format(name="dh-rguichard-passwd")]
    assert r.stdout.endswith("configuration invalid\n")
    one = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "-v", "rguichard_pkey=k"])
    assert one.exit_code == 1
    assert [line for line in one.stdout.splitlines() if "unbound" in line] == [
        f"error: {SEED}:line 20: " + UNBOUND.format(name="dh-rguichard-passwd")]
    both = runner.invoke(app, ["validate-pipeline", "-c", str(SEED), "-v", "rguichard_pkey=k",
                               "-y", "dh-rguichard-passwd=hunter2-but-longer"])
    assert (both.exit_code, both.stdout.splitlines()[-1]) == (0, "looks good")


def test_set_pipeline_refuses_an_unbound_old_style_var_before_sending_anything(
        tmp_path: Path) -> None:
    # No target exists: the refusal comes first, and with the values given the verb goes
    # on to look for its target (and fails there, for another reason).
    home = {"HOME": str(tmp_path), "HEADWATER_HOME": str(tmp_path)}
    r = runner.invoke(app, ["-t", "nowhere", "set-pipeline", "-p", "p", "-c", str(SEED),
                            "-n", "-v", "rguichard_pkey=k"], env=home)
    assert r.exit_code == 1
    assert r.stderr == f"error: {SEED}:line 20: " + UNBOUND.format(
        name="dh-rguichard-passwd") + "\n"
    given = runner.invoke(app, ["-t", "nowhere", "set-pipeline", "-p", "p", "-c", str(SEED),
                                "-n", "-l", str(HERE / "testdata" / "seed-vars.yml")], env=home)
    assert given.exit_code == 2 and "unbound" not in given.stderr
    assert "nowhere" in given.stderr


def test_an_unknown_top_level_key_warns_and_fails_only_under_strict(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(GOOD + "notes: {owner: ops}\n")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path)])
    assert (r.exit_code, r.stdout.splitlines()) == (0, [
        f'warning: {path}:line 3: notes: unknown key "notes" in the pipeline is ignored',
        "looks good"])
    strict = runner.invoke(app, ["validate-pipeline", "-c", str(path), "--strict"])
    assert strict.exit_code == 1 and strict.stdout.endswith("configuration invalid\n")


def test_a_pipeline_without_jobs_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("resources: []\njobs: []\n")
    r = runner.invoke(app, ["validate-pipeline", "-c", str(path), "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout)["errors"] == [{
        "line": 2, "path": "jobs",
        "message": "pipeline must contain at least one job (Concourse 7 refuses a pipeline "
                   "without jobs)"}]
