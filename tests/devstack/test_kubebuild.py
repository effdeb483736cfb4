"""A failed Kubernetes build shows the tail of its log and where the full log is."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.devstack import kubebuild
from headwater.devstack.errors import BuildFailed, StackError


def test_a_broken_module_fails_with_the_log_tail_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/broken\n\ngo 1.24\n")
    (module / "go.sum").write_text("")
    monkeypatch.setenv("HEADWATER_KUBE_MODULE", str(module))
    monkeypatch.setenv("HEADWATER_CACHE", str(tmp_path / "cache"))
    assert kubebuild.cached() is None
    with pytest.raises(BuildFailed) as e:
        kubebuild.ensure()
    log = tmp_path / "cache" / "kube" / kubebuild.VERSION / "build.log"
    assert e.value.log == log
    assert f"full log: {log}" in str(e.value)
    assert "k8s.io/kubernetes/cmd/kube-apiserver" in str(e.value)  # go's own words, tailed


def test_a_missing_module_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("HEADWATER_KUBE_MODULE", str(tmp_path))
    with pytest.raises(StackError, match="--kubeconfig"):
        kubebuild.module_dir()


def test_the_repository_module_pins_every_staging_module() -> None:
    gomod = (Path(__file__).parents[2] / "hack" / "kube" / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {kubebuild.VERSION}" in gomod
    replaced = [line.split()[0] for line in gomod.splitlines() if "=> k8s.io/" in line]
    assert len(replaced) == 31
    assert all(f"=> {m} v0.34.4" in gomod for m in replaced)
