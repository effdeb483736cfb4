"""Image automation's plan meets a policy imagepolicy cannot evaluate: a problem named
for the user, never an exception out of the controller's loop."""

from __future__ import annotations

from pathlib import Path

from headwater.cd.automation import ImagePolicy, plan, plan_setters
from headwater.cd.workloads import read_workloads
from headwater.registry.cache import RepoEntry, TagEntry
from headwater.registry.image import ImageInfo

REPO = "127.0.0.1:5000/app"
GREEK = r"regexp:^\p{Greek}+$"  # valid in Go, a Unicode script headwater cannot evaluate


def _deployment(name: str, policy: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/tag.app: '{policy}'
spec:
  template:
    spec:
      containers:
      - name: app
        image: {REPO}:1.0.0
"""


def _scans() -> dict[str, RepoEntry]:
    tags = ("1.0.0", "1.1.0")
    return {REPO: RepoEntry(tags=tags, images={
        t: TagEntry(ImageInfo("sha256:" + "0" * 64, "application/vnd.oci.image.manifest.v1+json"),
                    0.0, 0.0) for t in tags})}


def test_an_unsupported_regexp_annotation_is_a_problem_and_others_still_release() -> None:
    bad = read_workloads(_deployment("bad", GREEK))[0]
    good = read_workloads(_deployment("good", "semver:~1"))[0]
    releases, problems = plan([("bad.yaml", bad), ("good.yaml", good)], _scans())
    assert [(r.file, r.image) for r in releases] == [("good.yaml", f"{REPO}:1.1.0")]
    assert [str(p) for p in problems] == [
        "bad.yaml: default:deployment/bad: annotation fluxcd.io/tag.app: regexp class "
        r"\p{Greek} (Unicode script) is valid in Go but headwater cannot evaluate it; "
        "use an explicit character range instead"]


def test_an_unsupported_regexp_image_policy_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        f'image: {REPO}:1.0.0 # {{"$imagepolicy": "flux-system:app"}}\n')
    policies = {"flux-system:app": ImagePolicy("flux-system:app", REPO, GREEK)}
    releases, problems = plan_setters(tmp_path, ["app.yaml"], policies, _scans())
    assert releases == []
    assert [p.file for p in problems] == ["app.yaml"]
    assert "cannot evaluate it" in problems[0].message
