"""The demo story's pure decisions: the next release, what a release commit is, when
the rollout serves the new image, and the timeline's lines."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from headwater.story.demo import (
    _port_for,
    _wait,
    deploy_text,
    is_release_commit,
    next_patch,
    pipeline_text,
    pods_serving,
    variant,
)
from headwater.story.hops import Hop, HopFailed, format_timeline

IMAGE = "127.0.0.1:5000/osones/demo-concourse-flux"
RELEASE = (f"Auto-release {IMAGE}:1.0.1\n\nHeadwater-Automation: image-release\n\n"
           "[ci skip]\n")


@pytest.mark.parametrize(("version", "expected"), [
    ("1.0.0", "1.0.1"), ("1.0.9\n", "1.0.10"), ("2.3.41", "2.3.42")])
def test_next_patch(version: str, expected: str) -> None:
    assert next_patch(version) == expected


@pytest.mark.parametrize(("message", "version", "ci_skip", "expected"), [
    (RELEASE, "1.0.1", True, True),
    (RELEASE, "1.0.1", False, True),
    (RELEASE, "1.0.2", True, False),           # another release
    (RELEASE.replace("\n\n[ci skip]", ""), "1.0.1", True, False),  # no [ci skip]
    (RELEASE.replace("\n\n[ci skip]", ""), "1.0.1", False, True),
    ("helloworld: the page of 1.0.1\n", "1.0.1", False, False),   # a human commit
    (f"Auto-release {IMAGE}:1.0.11\n\n[ci skip]\n", "1.0.1", True, False),
])
def test_is_release_commit(message: str, version: str, ci_skip: bool,
                           expected: bool) -> None:
    assert is_release_commit(message, version, ci_skip) is expected


def _pod(image: str, ready: bool, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-02T15:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


NEW, OLD = f"{IMAGE}:1.0.1", f"{IMAGE}:1.0.0"


@pytest.mark.parametrize(("pods", "expected"), [
    ([], False),
    ([_pod(NEW, True)], True),
    ([_pod(NEW, False)], False),                       # not ready yet
    ([_pod(NEW, True), _pod(OLD, True)], False),       # the old one still serves
    ([_pod(NEW, True), _pod(OLD, True, deleting=True)], True),  # in its grace period
    ([_pod(OLD, True, deleting=True)], False),
])
def test_pods_serving(pods: list[dict[str, Any]], expected: bool) -> None:
    assert pods_serving(pods, NEW) is expected


def test_the_timeline_gives_each_hop_its_end_duration_and_offset() -> None:
    hops = [Hop("commit", 1000.0, 1001.5, "abc pushed"),
            Hop("build started", 1001.5, 1004.0, "build 1")]
    lines = format_timeline(hops)
    assert lines[0].split()[:4] == ["00:16:41", "1.5s", "+", "1.5s"]
    assert lines[1].split()[:4] == ["00:16:44", "2.5s", "+", "4.0s"]
    assert lines[1].endswith("build started          build 1")
    assert format_timeline([]) == []


def test_the_server_takes_the_hook_url_port_when_it_is_free() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        other = _port_for(f"http://127.0.0.1:{busy}/api/v1/hooks/registry")
        assert other != busy  # taken: another port
    assert _port_for(f"http://127.0.0.1:{busy}/api/v1/hooks/registry") == busy
    assert _port_for("") > 0 and _port_for(None) > 0
    assert _port_for("https://hooks.example.com/x") > 0


async def test_a_hop_not_seen_in_time_names_itself_its_log_tail_and_what_to_do() -> None:
    async def never() -> bool | None:
        return None

    async def tail() -> str:
        return "the last lines of the log"

    with pytest.raises(HopFailed) as failed:
        await _wait("pods ready", never, timeout=0.2, todo="kubectl describe pods",
                    tail=tail, interval=0.05)
    assert (failed.value.hop, failed.value.log_tail, failed.value.todo) == (
        "pods ready", "the last lines of the log", "kubectl describe pods")
    assert str(failed.value) == "pods ready: not seen after 0s"


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "helloworld"


def test_only_the_variant_without_ci_skip_ignores_deploy_in_the_git_resource() -> None:
    seed = (EXAMPLE / "ci" / "pipeline.yml").read_text()
    assert pipeline_text(seed, ci_skip=True) == seed  # the post's pipeline as written
    paths = pipeline_text(seed, ci_skip=False)
    git = paths.split("  - name: version")[0]
    assert "      branch: master\n      ignore_paths: [deploy/]\n" in git
    assert paths.count("ignore_paths") == 1
    with pytest.raises(HopFailed):
        pipeline_text("resources: []\n", ci_skip=False)


@pytest.mark.parametrize(("ci_skip", "namespace", "image"), [
    (True, "helloworld", "127.0.0.1:5000/osones/demo-concourse-flux"),
    (False, "helloworld-paths", "127.0.0.1:5000/osones/demo-concourse-flux-paths")])
def test_deploy_gets_the_registry_and_the_story_namespace(
        ci_skip: bool, namespace: str, image: str) -> None:
    name, image_name = variant(ci_skip)
    assert (name, f"127.0.0.1:5000/{image_name}") == (namespace, image)
    texts = {f.name: deploy_text(f.read_text(), image, namespace=name)
             for f in (EXAMPLE / "deploy").glob("*.yaml")}
    assert f"image: {image}:1.0.0\n" in texts["deployment.yaml"]
    assert "REGISTRY" not in "".join(texts.values())
    assert f"  name: {namespace}\n" in texts["namespace.yaml"]
    for manifest in ("deployment.yaml", "service.yaml"):
        assert f"  namespace: {namespace}\n" in texts[manifest]
        assert "  name: helloworld\n" in texts[manifest]  # the workload keeps its name
