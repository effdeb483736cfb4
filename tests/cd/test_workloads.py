"""Workloads and their Flux policies, read from a manifest file as Flux v1 reads them."""

from __future__ import annotations

import pytest

from headwater.cd.workloads import (
    Container,
    SetterMarker,
    Workload,
    WorkloadError,
    parse_setter,
    policies_from_annotations,
    policy_changes,
    read_workloads,
    setter_markers,
)

SEED = """\
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: helloworld
  namespace: demo
  annotations:
    flux.weave.works/automated: "true"
    flux.weave.works/tag.helloworld: semver:~1.0
spec:
  template:
    spec:
      containers:
      - name: helloworld
        image: osones/demo-concourse-flux:1.0.0
"""

EVERY_KIND = """\
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {template: {spec: {containers: [{name: pg, image: "postgres:15"}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  template:
    spec:
      initContainers:
      - {name: setup, image: busybox:1.36}
      containers:
      - {name: agent, image: acme/agent:2}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: report, image: acme/report:1}]
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: in-list}
  spec: {template: {spec: {containers: [{name: app, image: acme/app:1}]}}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: not-a-workload}
"""


def workload(annotations: dict[str, str], containers: tuple[str, ...] = ("app",)) -> Workload:
    return Workload("Deployment", "ns", "w", 1, tuple(Container(c, "i:1") for c in containers),
                    policies_from_annotations(annotations), annotations)


def test_the_seed_deployment_is_automated_with_a_semver_filter() -> None:
    [w] = read_workloads(SEED)
    assert (w.kind, w.namespace, w.name, w.source_line) == ("Deployment", "demo",
                                                            "helloworld", 2)
    assert w.id == "demo:deployment/helloworld"
    assert w.containers == (Container("helloworld", "osones/demo-concourse-flux:1.0.0"),)
    assert w.policies == {"automated": "true", "tag.helloworld": "semver:~1.0"}
    assert w.automated and w.automatable and not w.locked and not w.ignored
    assert w.tag_pattern("helloworld") == "semver:~1.0"


def test_every_workload_kind_and_list_items_with_their_lines() -> None:
    found = [(w.kind, w.namespace, w.name, w.source_line, w.containers)
             for w in read_workloads(EVERY_KIND)]
    assert found == [
        ("StatefulSet", None, "db", 5, (Container("pg", "postgres:15"),)),
        ("DaemonSet", "kube-system", "agent", 10, (
            Container("agent", "acme/agent:2"), Container("setup", "busybox:1.36", init=True))),
        ("CronJob", None, "report", 21, (Container("report", "acme/report:1"),)),
        ("Deployment", None, "in-list", 34, (Container("app", "acme/app:1"),)),
    ]


def test_no_pod_spec_means_no_containers() -> None:
    [w] = read_workloads("kind: Deployment\nmetadata: {name: x}\n")
    assert w.containers == ()
    assert w.id == "deployment/x"


@pytest.mark.parametrize(("annotations", "policies"), [
    ({"fluxcd.io/automated": "true"}, {"automated": "true"}),
    ({"flux.weave.works/locked": "true", "flux.weave.works/locked_msg": "broken",
      "flux.weave.works/locked_user": "Jane <j@x>"},
     {"locked": "true", "locked_msg": "broken", "locked_user": "Jane <j@x>"}),
    ({"filter.fluxcd.io/app": "glob:v*"}, {"tag.app": "glob:v*"}),
    ({"fluxcd.io/tag_all": "semver:*", "fluxcd.io/ignore": "sync_only"},
     {"tag_all": "semver:*", "ignore": "sync_only"}),
    ({"prometheus.io/scrape": "true", "fluxcd.io": "x"}, {}),
    # Flux reads a Go map: with two spellings its pick is random; the order of
    # PolicyAnnotationKey decides here, fluxcd.io/ first.
    ({"flux.weave.works/automated": "false", "fluxcd.io/automated": "true"},
     {"automated": "true"}),
    ({"filter.fluxcd.io/app": "glob:a", "flux.weave.works/tag.app": "glob:b"},
     {"tag.app": "glob:b"}),
])
def test_policies_come_from_both_prefixes_and_the_filter_spelling(
    annotations: dict[str, str], policies: dict[str, str]
) -> None:
    assert policies_from_annotations(annotations) == policies


@pytest.mark.parametrize(("annotations", "automated", "locked", "ignored"), [
    ({"fluxcd.io/automated": "false"}, False, False, False),
    ({"fluxcd.io/automated": "True"}, False, False, False),  # policy.Set.Has wants "true"
    ({"fluxcd.io/automated": "true", "fluxcd.io/locked": "true"}, True, True, False),
    ({"fluxcd.io/automated": "true", "fluxcd.io/ignore": "true"}, True, False, True),
    ({"fluxcd.io/automated": "true", "fluxcd.io/ignore": "sync_only"}, True, False, False),
])
def test_boolean_policies_count_only_when_true(
    annotations: dict[str, str], automated: bool, locked: bool, ignored: bool
) -> None:
    w = workload(annotations)
    assert (w.automated, w.locked, w.ignored) == (automated, locked, ignored)
    assert w.automatable == (automated and not locked and not ignored)


def test_unquoted_annotation_values_read_as_yaml_v2_gives_them() -> None:
    text = SEED.replace('"true"', "true").replace("semver:~1.0", "semver:~1.0\n    n: 3")
    [w] = read_workloads(text)
    assert w.automated
    assert w.annotations["n"] == "3"


def test_the_tag_pattern_is_glob_star_unless_the_container_has_its_own() -> None:
    w = workload({"fluxcd.io/tag.app": "regex:^v", "fluxcd.io/tag_all": "semver:~1"},
                 ("app", "side"))
    assert w.tag_pattern("app") == "regex:^v"
    # policy.GetTagPattern reads tag.<container> only: tag_all is written, not read.
    assert w.tag_pattern("side") == "glob:*"
    assert w.locked_msg is None and w.locked_user is None


def test_annotation_keys_are_the_spelling_the_workload_already_uses() -> None:
    w = workload({"flux.weave.works/automated": "true", "filter.fluxcd.io/app": "glob:*",
                  "fluxcd.io/locked": "true", "flux.weave.works/locked": "true"})
    assert w.annotation_key("automated") == "flux.weave.works/automated"
    assert w.annotation_key("tag.app") == "filter.fluxcd.io/app"
    assert w.annotation_key("locked") == "fluxcd.io/locked"
    assert w.annotation_key("tag.other") is None


def test_policy_changes_expand_tag_all_over_every_container() -> None:
    w = workload({"flux.weave.works/tag.app": "glob:*"}, ("app", "init"))
    assert policy_changes(w, add={"tag_all": "semver:~1.0", "automated": "true"}) == {
        "flux.weave.works/tag.app": "semver:~1.0",
        "fluxcd.io/tag.init": "semver:~1.0",
        "fluxcd.io/automated": "true",
    }


@pytest.mark.parametrize("everything", ["glob:*", "*"])
def test_policy_changes_tag_all_everything_removes_the_filters(everything: str) -> None:
    w = workload({"filter.fluxcd.io/app": "glob:v*", "fluxcd.io/tag.init": "semver:1"},
                 ("app", "init"))
    assert policy_changes(w, add={"tag_all": everything}) == {
        "filter.fluxcd.io/app": None, "fluxcd.io/tag.init": None}


def test_policy_changes_unlock_removes_every_spelling_present() -> None:
    w = workload({"fluxcd.io/locked": "true", "flux.weave.works/locked": "true",
                  "flux.weave.works/locked_msg": "m"})
    assert policy_changes(w, add={}, remove=["locked", "locked_msg", "locked_user"]) == {
        "fluxcd.io/locked": None, "flux.weave.works/locked": None,
        "flux.weave.works/locked_msg": None}


@pytest.mark.parametrize(("text", "error"), [
    ("kind: Deployment\nmetadata: [x]\n", r"line 1: Deployment: metadata is not a mapping"),
    ("kind: Deployment\nmetadata: {name: x, annotations: [a]}\n",
     r"line 1: Deployment x: metadata.annotations is not a mapping"),
    ("a: 1\n---\nkind: DaemonSet\nmetadata: {name: x}\nspec: {template: {spec: "
     "{containers: {name: c}}}}\n",
     r"line 3: DaemonSet x: spec.template.spec.containers is not a list of containers"),
    ("kind: Deployment\nmetadata: {name: x\n", r"line 3: invalid YAML"),
    ("kind: Deployment\nmetadata: {name: \x07}\n", r"^invalid YAML: .*#x0007"),
])
def test_shapes_flux_cannot_read_are_errors_with_a_line(text: str, error: str) -> None:
    with pytest.raises(WorkloadError, match=error):
        read_workloads(text)


# -- Flux v2 setter markers


@pytest.mark.parametrize(("setter", "policy", "form"), [
    ("flux-system:podinfo", "flux-system:podinfo", "image"),
    ("flux-system:podinfo:tag", "flux-system:podinfo", "tag"),
    ("flux-system:podinfo:name", "flux-system:podinfo", "name"),
    ("flux-system:podinfo:digest", "flux-system:podinfo", "digest"),
    ("podinfo:tag", "podinfo:tag", "image"),  # no namespace: a policy named "tag"
])
def test_parse_setter(setter: str, policy: str, form: str) -> None:
    assert parse_setter(setter) == (policy, form)


MARKED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo   # {"$imagepolicy": "flux-system:any-field"}
spec:
  template:
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:5.0.0 # {"$imagepolicy": "flux-system:podinfo"}
      - name: other
        image: "acme/other:1"   #{ "$imagepolicy" : "flux-system:other" }
      - name: plain
        image: acme/plain:1 # a comment, not a marker
---
# a HelmRelease
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: podinfo}
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: '5.0.0' # {"$imagepolicy": "flux-system:podinfo:tag"}
"""


def test_setter_markers_name_their_field_line_and_form() -> None:
    assert setter_markers(MARKED) == [
        SetterMarker("flux-system:any-field", "flux-system:any-field", "image", 4, "name",
                     "podinfo"),
        SetterMarker("flux-system:podinfo", "flux-system:podinfo", "image", 10, "image",
                     "ghcr.io/stefanprodan/podinfo:5.0.0"),
        SetterMarker("flux-system:other", "flux-system:other", "image", 12, "image",
                     "acme/other:1"),
        SetterMarker("flux-system:podinfo:name", "flux-system:podinfo", "name", 23,
                     "repository", "ghcr.io/stefanprodan/podinfo"),
        SetterMarker("flux-system:podinfo:tag", "flux-system:podinfo", "tag", 24, "tag",
                     "5.0.0"),
    ]


@pytest.mark.parametrize("comment", ['{"$imagepolicy": ns:name}', '{"$imagepolicy": 3}',
                                     '["$imagepolicy"]'])
def test_a_marker_that_is_not_a_json_object_is_an_error(comment: str) -> None:
    with pytest.raises(WorkloadError, match=r"line 2: the \$imagepolicy marker must be"):
        setter_markers(f"a: 1\nimage: x:1 # {comment}\n")
