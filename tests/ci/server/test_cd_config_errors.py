"""`headwater server --cd-config` refuses a bad sources file before it starts anything,
naming the file, the source and the key, as `headwater cd --config` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app


@pytest.mark.parametrize(("text", "said"), [
    ("sources:\n- name: a\n  git-url: file:///x\n  git-pth: [deploy]\n",
     "sources[0]: unknown key 'git-pth'"),
    ("sources:\n- name: a\n", "sources[0]: git-url is required"),
    ("sources: [\n", "not valid YAML"),
    ("sources:\n- {name: a, git-url: file:///x}\n- {name: a, git-url: file:///y}\n",
     "source names must be unique: a"),
])
def test_a_bad_cd_config_is_refused_naming_what_is_wrong(tmp_path: Path, text: str,
                                                          said: str) -> None:
    config = tmp_path / "cd.yml"
    config.write_text(text)
    data = tmp_path / "server"
    r = CliRunner().invoke(app, ["server", "--data-dir", str(data), "--cd-config",
                                 str(config), "--bind", "127.0.0.1:1"])
    assert r.exit_code == 2
    assert "--cd-config" in r.output and str(config) in r.output.replace("\n", "")
    assert said in r.output.replace("\n", "")
    assert not data.exists()  # nothing was started
