"""Minimal edits of manifest files: the Git diff is the changed value and nothing else.

Golden cases live in testdata/manifestedit/<case>/: original.yaml, the call in
edit.json ({"call": ..., "args": {...}}) and expected.yaml, compared byte for byte
(files are read as bytes, so CRLF stays CRLF).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.cd import manifestedit
from headwater.cd.manifestedit import EditError, image_part, set_annotations, set_image, set_setter
from headwater.cd.workloads import policy_changes, read_workloads, setter_markers

GOLDEN = Path(__file__).parent / "testdata" / "manifestedit"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def load(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
      - name: app
        image: acme/app:1.0.0
"""


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_gives_the_expected_file(case: str) -> None:
    original = read(GOLDEN / case / "original.yaml")
    edit = json.loads(read(GOLDEN / case / "edit.json"))
    call = getattr(manifestedit, edit["call"])
    edited = call(original, **edit["args"])
    assert edited == read(GOLDEN / case / "expected.yaml")
    assert call(edited, **edit["args"]) == edited  # a second run changes nothing


@pytest.mark.parametrize("case", [c for c in CASES if "annotations" not in c])
def test_golden_value_edits_change_lines_one_for_one(case: str) -> None:
    original = read(GOLDEN / case / "original.yaml")
    expected = read(GOLDEN / case / "expected.yaml")
    diff = changed_lines(original, expected)
    assert len([d for d in diff if d.startswith("-")]) == len([d for d in diff if
                                                               d.startswith("+")]) >= 1


def test_crlf_files_keep_crlf_on_every_line() -> None:
    edited = read(GOLDEN / "crlf-annotations" / "expected.yaml")
    assert edited.count("\n") == edited.count("\r\n")


def test_the_same_value_again_returns_the_text_unchanged() -> None:
    same = set_image(DEPLOYMENT, kind="Deployment", namespace=None, name="app",
                     container="app", image="acme/app:1.0.0")
    assert same == DEPLOYMENT


def test_a_value_that_would_not_read_back_plain_is_double_quoted() -> None:
    text = DEPLOYMENT.replace("acme/app:1.0.0", "acme")
    edited = set_image(text, kind="Deployment", namespace=None, name="app",
                       container="app", image="123:45")  # sexagesimal 7425 in YAML 1.1
    assert '        image: "123:45"\n' in edited
    assert load(edited)[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "123:45"


def test_a_tag_and_anchor_before_the_value_are_kept() -> None:
    text = DEPLOYMENT.replace("image: acme/app:1.0.0", "image: &img !!str acme/app:1.0.0")
    edited = set_image(text, kind="Deployment", namespace=None, name="app",
                       container="app", image="acme/app:2.0.0")
    assert "image: &img !!str acme/app:2.0.0\n" in edited


def test_a_block_scalar_image_becomes_one_line() -> None:
    text = DEPLOYMENT.replace("image: acme/app:1.0.0", "image: >-\n          acme/app:1.0.0")
    edited = set_image(text + "# end\n", kind="Deployment", namespace=None, name="app",
                       container="app", image="acme/app:2.0.0")
    assert edited == DEPLOYMENT.replace("1.0.0", "2.0.0") + "# end\n"


def test_an_empty_image_gets_a_value() -> None:
    text = DEPLOYMENT.replace("image: acme/app:1.0.0", "image:")
    edited = set_image(text, kind="Deployment", namespace=None, name="app",
                       container="app", image="acme/app:2.0.0")
    assert "        image: acme/app:2.0.0\n" in edited


@pytest.mark.parametrize(("change", "error"), [
    ({"name": "nope"}, "deployment/nope is not in this file"),
    ({"namespace": "prod"}, "prod:deployment/app is not in this file"),
    ({"container": "sidecar"}, "deployment/app has no container or init container 'sidecar'"),
    ({"kind": "HelmRelease"}, "cannot set images of a HelmRelease"),
])
def test_set_image_says_what_it_could_not_find(change: dict[str, str], error: str) -> None:
    args: dict[str, Any] = {"kind": "Deployment", "namespace": None, "name": "app",
                            "container": "app", "image": "acme/app:2.0.0"} | change
    with pytest.raises(EditError, match=error):
        set_image(DEPLOYMENT, **args)


@pytest.mark.parametrize(("text", "error"), [
    (DEPLOYMENT.replace("        image: acme/app:1.0.0\n", "        ports: []\n"),
     r"line 9: deployment/app: container 'app' has no image field"),
    (DEPLOYMENT.replace("name: app\nspec", "name: app\n  labels: {v: &a acme/app}\nspec")
     .replace("acme/app:1.0.0", "*a"), r"line 11: image is a YAML alias"),
    (DEPLOYMENT + "  broken: [\n", "invalid YAML"),
])
def test_set_image_refuses_what_it_cannot_edit_in_place(text: str, error: str) -> None:
    with pytest.raises(EditError, match=error):
        set_image(text, kind="Deployment", namespace=None, name="app", container="app",
                  image="acme/app:2.0.0")


def test_an_image_shared_through_an_anchor_is_refused() -> None:
    text = DEPLOYMENT.replace("image: acme/app:1.0.0", "image: &img acme/app:1.0.0") + (
        "        env: [{name: IMAGE, value: *img}]\n")
    with pytest.raises(EditError, match="would change other values too"):
        set_image(text, kind="Deployment", namespace=None, name="app", container="app",
                  image="acme/app:2.0.0")


# -- the property: one line, one value


TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
MULTI = """\
# a comment before the first document
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: "0755", replicas: 3}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  annotations:
    fluxcd.io/automated: "true"
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: 'busybox:1.36'}
      containers:
      - name: app
        image: IMAGE   # the app
      - name: sidecar
        image: "127.0.0.1:5000/sidecar:1.0.0"
"""


@settings(max_examples=200, deadline=None)
@given(tag=TAG, registry=st.sampled_from(["", "127.0.0.1:5000/", "ghcr.io/acme/"]),
       style=st.sampled_from(["{}", "'{}'", '"{}"']),
       container=st.sampled_from(["app", "sidecar", "init"]),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_set_image_changes_one_line_and_only_that_value(
    tag: str, registry: str, style: str, container: str, newline: str
) -> None:
    text = MULTI.replace("IMAGE", style.format("acme/app:1.0.0")).replace("\n", newline)
    image = f"{registry}acme/app:{tag}"
    edited = set_image(text, kind="Deployment", namespace=None, name="app",
                       container=container, image=image)
    before, after = load(text), load(edited)
    spec = before[1]["spec"]["template"]["spec"]
    target = {"init": spec["initContainers"][0]}.get(container) or next(
        c for c in spec["containers"] if c["name"] == container)
    changed = target["image"] != image
    target["image"] = image
    assert after == before
    assert len(changed_lines(text, edited)) == (2 if changed else 0)
    assert edited.count("\r\n") == text.count("\r\n")


# -- Flux v2 setters


def test_image_part_splits_as_go_containerregistry() -> None:
    image = "127.0.0.1:5000/team/app:1.2.3@sha256:abc"
    assert image_part(image, "image") == image
    assert image_part(image, "name") == "127.0.0.1:5000/team/app"
    assert image_part(image, "tag") == "1.2.3"
    assert image_part(image, "digest") == "sha256:abc"
    assert image_part("127.0.0.1:5000/app", "name") == "127.0.0.1:5000/app"
    with pytest.raises(EditError, match=r"127\.0\.0\.1:5000/app has no tag"):
        image_part("127.0.0.1:5000/app", "tag")


def test_set_setter_without_the_marker_says_so() -> None:
    with pytest.raises(EditError, match=r'no field is marked # \{"\$imagepolicy": "a:b"\}'):
        set_setter(DEPLOYMENT, marker="a:b", value="acme/app:2")


def test_set_setter_reports_a_broken_marker_with_its_line() -> None:
    text = DEPLOYMENT.replace("acme/app:1.0.0", 'acme/app:1.0.0 # {"$imagepolicy": a:b}')
    with pytest.raises(EditError, match=r"line 10: the \$imagepolicy marker must be"):
        set_setter(text, marker="a:b", value="acme/app:2")


def test_set_setter_updates_every_field_of_the_policy_in_every_document() -> None:
    marked = DEPLOYMENT.replace("acme/app:1.0.0", 'acme/app:1.0.0 # {"$imagepolicy": "ns:app"}')
    text = marked + "---\n" + marked.replace("name: app\n  ", "name: other\n  ", 1)
    edited = set_setter(text, marker="ns:app", value="acme/app:1.1.0")
    assert edited == text.replace("acme/app:1.0.0", "acme/app:1.1.0")
    assert [m.value for m in setter_markers(edited)] == ["acme/app:1.1.0"] * 2


# -- annotations


def test_a_removed_annotation_that_is_absent_changes_nothing() -> None:
    same = set_annotations(DEPLOYMENT, kind="Deployment", namespace=None, name="app",
                           changes={"fluxcd.io/locked": None})
    assert same == DEPLOYMENT


def test_an_empty_flow_annotations_mapping_is_filled_in_place() -> None:
    text = DEPLOYMENT.replace("  name: app\n", "  name: app\n  annotations: {}\n")
    edited = set_annotations(text, kind="Deployment", namespace=None, name="app",
                             changes={"fluxcd.io/automated": "true"})
    assert '  annotations: {fluxcd.io/automated: "true"}\n' in edited


def test_annotations_that_are_not_a_mapping_are_refused() -> None:
    text = DEPLOYMENT.replace("  name: app\n", "  name: app\n  annotations: [a]\n")
    with pytest.raises(EditError, match=r"deployment/app: metadata.annotations is not a mapping"):
        set_annotations(text, kind="Deployment", namespace=None, name="app",
                        changes={"fluxcd.io/automated": "true"})


def test_values_that_need_escapes_are_written_so_they_read_back() -> None:
    message = 'tab\there, "quotes", back\\slash, line\u2028sep, caf\u00e9 \U0001F600'
    edited = set_annotations(DEPLOYMENT, kind="Deployment", namespace=None, name="app",
                             changes={"fluxcd.io/locked_msg": message})
    assert load(edited)[0]["metadata"]["annotations"] == {"fluxcd.io/locked_msg": message}
    assert "caf\u00e9 \U0001F600" in edited  # printable text stays readable


def test_fluxctl_policy_round_trip_through_the_file() -> None:
    """automate, lock and policy --tag-all as fluxctl asks, read back as Flux reads."""
    text = DEPLOYMENT.replace("        image: acme/app:1.0.0\n", (
        "        image: acme/app:1.0.0\n      initContainers:\n      - name: init\n"
        "        image: busybox:1.36\n"))
    workload = read_workloads(text)[0]
    changes = policy_changes(workload, add={"automated": "true", "tag_all": "semver:~1.0"})
    text = set_annotations(text, kind="Deployment", namespace=None, name="app", changes=changes)
    workload = read_workloads(text)[0]
    assert workload.automated
    assert [workload.tag_pattern(c.name) for c in workload.containers] == ["semver:~1.0"] * 2
    changes = policy_changes(workload, add={"tag_all": "glob:*"}, remove=["automated"])
    text = set_annotations(text, kind="Deployment", namespace=None, name="app", changes=changes)
    assert "annotations" not in text


def test_a_nan_elsewhere_in_the_file_does_not_fail_the_check() -> None:
    text = DEPLOYMENT.replace("spec:\n", "spec:\n  ratio: .nan\n", 1)
    edited = set_image(text, kind="Deployment", namespace=None, name="app",
                       container="app", image="acme/app:2.0.0")
    assert edited == text.replace("1.0.0", "2.0.0")
