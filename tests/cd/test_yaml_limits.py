"""YAML from Git is bounded (yamlload.py): an alias bomb committed under a CD path is a
render error naming its file and line, within a second; so is a file or a kustomize
output over the size limit, and deep nesting. Automation's readers (workloads, setter
markers, file edits) refuse the bomb too, instead of walking its billion nodes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headwater import yamlload
from headwater.cd.automation import automated
from headwater.cd.manifestedit import EditError, set_image, set_setter
from headwater.cd.render import RenderErrors, render
from headwater.cd.workloads import WorkloadError, read_workloads, setter_markers
from headwater.devstack import kubebuild
from tests.cd.test_render import cm, tree
from tests.gitseed import plain_git
from tests.yamlbomb import BOMB, BOMB_LINE

BOMB_ERROR = ("with its aliases expanded, the YAML is more than 1,000,000 nodes (an alias "
              "bomb?): refused (--yaml-max-nodes raises the limit)")
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  annotations: {fluxcd.io/automated: "true"}
spec:
  template:
    spec:
      containers:
      - name: app
        image: registry.example/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
"""


def _errors(root: Path, paths: list[str], **kw: object) -> tuple[list[str], float]:
    started = time.monotonic()
    with pytest.raises(RenderErrors) as e:
        render(root, paths, **kw)  # type: ignore[arg-type]
    return [str(err) for err in e.value.errors], time.monotonic() - started


def test_a_bomb_committed_under_the_path_is_an_error_at_its_line_within_a_second(
        tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    # A ConfigMap that renders fine but for the bomb riding along: applying it would turn
    # it into JSON, all 490 million nodes.
    bomb = cm("bomb") + BOMB
    tree(repo, {"deploy/a.yaml": cm("a"), "deploy/bomb.yaml": bomb, "deploy/z.yaml": cm("z")})
    plain_git("init", "-q", "-b", "main", str(repo))
    plain_git("add", "-A", cwd=repo)
    plain_git("commit", "-q", "-m", "a bomb", cwd=repo)
    clone = tmp_path / "clone"
    plain_git("clone", "-q", str(repo), str(clone))
    errors, seconds = _errors(clone, ["deploy"])
    assert errors == [f"deploy/bomb.yaml:{BOMB_LINE + 4}: {BOMB_ERROR}"]
    assert seconds < 1


def test_a_bomb_in_a_json_file_is_not_read_again_as_json(tmp_path: Path) -> None:
    tree(tmp_path, {"bomb.json": BOMB})
    assert _errors(tmp_path, ["."])[0] == [f"bomb.json:{BOMB_LINE}: {BOMB_ERROR}"]


def test_files_over_the_size_limit_and_deep_nesting_are_errors(tmp_path: Path) -> None:
    tree(tmp_path, {"big.yaml": cm("big") + "data:\n  x: " + "x" * 3000 + "\n",
                    "deep.yaml": "a:\n" + "  - " * 300 + "x\n", "ok.yaml": cm("ok")})
    errors, _ = _errors(tmp_path, ["."], limits=yamlload.Limits(max_bytes=2000))
    assert errors == [
        "big.yaml: the YAML is larger than 2,000 bytes: refused before parsing "
        "(--yaml-max-bytes raises the limit)",
        "deep.yaml:2: the YAML nests deeper than 200 levels: refused"]


def test_kustomize_output_over_the_size_limit_is_an_error_of_its_kustomization(
        tmp_path: Path) -> None:
    kubectl = str(kubebuild.ensure() / "kubectl")
    tree(tmp_path, {"k/kustomization.yaml": "resources: [a.yaml]\n",
                    "k/a.yaml": cm("a") + "data:\n  x: " + "x" * 1500 + "\n"})
    errors, _ = _errors(tmp_path, ["k"], kubectl=kubectl,
                        limits=yamlload.Limits(max_bytes=1000))
    assert errors == ["k/kustomization.yaml: the YAML is larger than 1,000 bytes: refused "
                      "before parsing (--yaml-max-bytes raises the limit)"]


def test_automations_readers_refuse_the_bomb_at_its_line(tmp_path: Path) -> None:
    bomb = DEPLOYMENT + BOMB.replace("a: &a", "x: &a", 1)
    line = BOMB_LINE + DEPLOYMENT.count("\n")
    for read in (read_workloads, setter_markers):
        with pytest.raises(WorkloadError) as e:
            read(bomb)
        assert str(e.value) == f"line {line}: {BOMB_ERROR}"
    with pytest.raises(EditError) as edit:
        set_image(bomb, kind="Deployment", namespace=None, name="app", container="app",
                  image="registry.example/app:1.0.1")
    assert edit.value.line == line
    with pytest.raises(EditError):
        set_setter(bomb, marker="flux-system:app", value="registry.example/app:1.0.1")
    tree(tmp_path, {"bomb.yaml": bomb, "app.yaml": DEPLOYMENT})
    assert [name for name, _ in automated(tmp_path, ["app.yaml", "bomb.yaml"])] == ["app.yaml"]
