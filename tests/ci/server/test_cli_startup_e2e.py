"""The CI verbs that only talk to the server load httpx and the CLI, never an engine
nor the logger.

Against a real `headwater server`: the installed command runs in a fresh interpreter
with `PYTHONPROFILEIMPORTTIME=1` and the modules it imported are checked (what loads,
not how long it takes; see `tests/test_cli_startup.py` for `--help` and the others).
"""

from __future__ import annotations

from pathlib import Path

from tests.ci.server.conftest import TARGET, Fly
from tests.test_cli_startup import heavy, run

PIPELINE = """\
resources: []
jobs:
- name: hello
  plan:
  - task: say
    config:
      platform: linux
      run: {path: /bin/true}
"""


def test_client_verbs_load_httpx_and_no_engine(fly: Fly, tmp_path: Path) -> None:
    env = {"HEADWATER_CONFIG_DIR": str(tmp_path / "config")}
    config = tmp_path / "pipeline.yml"
    config.write_text(PIPELINE)
    r, modules = run("-t", TARGET, "set-pipeline", "-n", "-p", "p", "-c", str(config),
                     "-v", "k=v", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pipeline created" in r.stdout
    assert "httpx" in modules
    # set-pipeline reads its vars with the CI engine's vars module, and nothing more of it
    assert heavy(modules) == ["headwater.ci", "headwater.ci.vars"]
    for args in (["pipelines", "--json"], ["jobs", "-p", "p"], ["builds"]):
        r, modules = run("-t", TARGET, *args, env=env)
        assert r.returncode == 0, (args, r.stderr[-2000:])
        assert "httpx" in modules
        assert heavy(modules) == [], args
        # They print; they do not log: the logger's structlog is never imported.
        assert "structlog" not in modules, args
    assert '"name": "p"' in run("-t", TARGET, "pipelines", "--json", env=env)[0].stdout
    assert run("-t", TARGET, "unpause-pipeline", "-p", "p", env=env)[0].returncode == 0
    # watching a build reads its typed events with the light event module only
    r, modules = run("-t", TARGET, "trigger-job", "-j", "p/hello", "-w", env=env)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr[-2000:]
    assert heavy(modules) == ["headwater.ci", "headwater.ci.eventtypes"]
