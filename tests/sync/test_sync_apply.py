"""A sync makes the cluster equal to the Git path: namespaces, CRDs and custom resources
in one commit; edits resync; unchanged objects cost no write; errors name file and line
and leave the cluster as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from headwater.cd import reasons
from headwater.cd.sync import Syncer
from headwater.kube.apply import RESOURCES, Applier, Desired, DryRunFailed
from headwater.kube.discovery import Discovery
from headwater.kube.objects import ObjId
from tests.sync.conftest import Env, Repo, configmap, namespace


def _crd(group: str) -> str:
    return f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, properties: {{size: {{type: integer}}}}}}
"""


async def test_namespaces_a_crd_and_its_custom_resource_in_one_commit(env: Env, repo: Repo
                                                                       ) -> None:
    group = f"{env.ns}.headwater.test"
    env.crds.append(f"widgets.{group}")
    rev = repo.commit({
        "deploy/ns.yaml": namespace(env.ns),
        "deploy/crd.yaml": _crd(group),
        "deploy/widget.yaml": f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n"
                              f"  name: blue\n  namespace: {env.ns}\nspec:\n  size: 3\n",
        "deploy/config.yaml": configmap("settings", env.ns, {"colour": "blue"}),
        "README.md": "not a manifest\n",
    })
    syncer = env.syncer(env.source(repo, git_path=("deploy",)))
    result = await syncer.sync()
    assert result.ok, result.message
    assert result.revision == rev
    assert len(result.applied) == 4
    widget = await env.get(f"/apis/{group}/v1/namespaces/{env.ns}/widgets/blue")
    assert widget and widget["spec"] == {"size": 3}
    cm = await env.configmap("settings")
    assert cm and cm["data"] == {"colour": "blue"}
    labels = cm["metadata"]["labels"]
    assert labels["headwater.dev/source"] == syncer.source.name
    assert labels["headwater.dev/sync-gc-mark"].startswith("sha256.")
    assert [m["manager"] for m in cm["metadata"]["managedFields"]] == ["headwater"]


async def test_an_edit_resyncs_and_unchanged_objects_cost_no_write(env: Env, repo: Repo
                                                                    ) -> None:
    files = {"ns.yaml": namespace(env.ns)} | {
        f"cm{i}.yaml": configmap(f"cm{i}", env.ns, {"n": str(i)}) for i in range(5)}
    repo.commit(files)
    syncer = env.syncer(env.source(repo))
    assert (await syncer.sync()).ok
    repo.commit({"cm3.yaml": configmap("cm3", env.ns, {"n": "three"})})
    before = dict(env.kube.counts)
    result = await syncer.sync()
    assert result.ok, result.message
    assert [str(i) for i in result.applied] == [f"{env.ns}:configmap/cm3"]
    assert result.unchanged == 5
    patches = env.kube.counts["PATCH"] - before.get("PATCH", 0)
    assert patches == 1 + 1 + 1  # dry run + apply of cm3, and the inventory
    cm3 = await env.configmap("cm3")
    assert cm3 and cm3["data"] == {"n": "three"}

    before = dict(env.kube.counts)
    again = await syncer.sync(fetch=False)
    assert again.ok and again.applied == [] and again.unchanged == 6
    assert env.kube.counts["PATCH"] - before.get("PATCH", 0) == 0  # not even the inventory
    assert env.kube.counts["DELETE"] == before.get("DELETE", 0)


async def _synced_a(env: Env, repo: Repo) -> Syncer:
    """A source already synced with ConfigMap a = {v: 1}."""
    repo.commit({"ns.yaml": namespace(env.ns),
                 "a.yaml": configmap("a", env.ns, {"v": "1"})})
    syncer = env.syncer(env.source(repo))
    assert (await syncer.sync()).ok
    return syncer


async def test_a_broken_document_applies_nothing_and_names_file_and_line(
    env: Env, repo: Repo
) -> None:
    syncer = await _synced_a(env, repo)
    repo.commit({
        "a.yaml": configmap("a", env.ns, {"v": "2"}),
        "b.yaml": "---\n" + configmap("b", env.ns, {"v": "1"}) + "---\nkind: [unclosed\n",
    })
    result = await syncer.sync()
    assert result.reason == reasons.BUILD_FAILED
    assert "b.yaml:" in result.message
    a = await env.configmap("a")
    assert a and a["data"] == {"v": "1"}, "nothing may be applied from a broken commit"
    assert await env.configmap("b") is None


async def test_an_object_the_api_server_refuses_applies_nothing_and_names_it(
    env: Env, repo: Repo
) -> None:
    syncer = await _synced_a(env, repo)
    bad_port = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {env.ns}\n"
                "spec:\n  ports:\n  - port: 99999\n")
    repo.commit({"a.yaml": configmap("a", env.ns, {"v": "2"}), "svc.yaml": bad_port})
    result = await syncer.sync()
    assert result.reason == reasons.VALIDATION_FAILED
    assert "svc.yaml:1:" in result.message
    assert f"{env.ns}:service/web" in result.message
    assert "99999" in result.message  # the API server's own words
    a = await env.configmap("a")
    assert a and a["data"] == {"v": "1"}


async def test_an_unknown_kind_is_named_with_its_file_and_line(env: Env, repo: Repo) -> None:
    repo.commit({"x.yaml": "# comment\n---\napiVersion: example.com/v1\nkind: Nope\n"
                           "metadata: {name: x}\n"})
    result = await env.syncer(env.source(repo)).sync()
    assert result.reason == reasons.VALIDATION_FAILED
    assert "x.yaml:3:" in result.message
    assert "'Nope'" in result.message


async def test_the_sync_tag_is_moved_to_the_synced_revision(env: Env, repo: Repo) -> None:
    first = repo.commit({"ns.yaml": namespace(env.ns)})
    syncer = env.syncer(env.source(repo, git_sync_tag="my-sync"))
    assert (await syncer.sync()).ok
    assert repo.server_ref("refs/tags/my-sync^{}") == first
    second = repo.commit({"a.yaml": configmap("a", env.ns, {"v": "1"})})
    assert (await syncer.sync()).ok
    assert repo.server_ref("refs/tags/my-sync^{}") == second


async def test_read_only_keeps_the_revision_in_the_cluster_and_pushes_nothing(
    env: Env, repo: Repo
) -> None:
    rev = repo.commit({"ns.yaml": namespace(env.ns)})
    syncer = env.syncer(env.source(repo, git_readonly=True))
    assert (await syncer.sync()).ok
    assert repo.server_ref("refs/tags/headwater-sync") is None
    inv = await env.configmap(f"headwater-inventory-{syncer.source.name}", "headwater-system")
    assert inv and inv["data"]["revision"] == rev


async def test_sync_over_ssh_with_the_deploy_key(env: Env, repo: Repo, git_repo: str) -> None:
    rev = repo.commit({"ns.yaml": namespace(env.ns)})
    git = env.stack.git
    source = env.source(repo, git_ssh_key=git.deploy_key, git_known_hosts=git.known_hosts)
    syncer = env.syncer(replace(source, git_url=git.ssh_url(git_repo)))
    result = await syncer.sync()
    assert result.ok, result.message
    assert result.revision == rev
    assert repo.server_ref("refs/tags/headwater-sync^{}") == rev  # pushed over ssh


async def test_objects_outside_the_allowed_namespaces_are_left_alone(env: Env, repo: Repo
                                                                      ) -> None:
    other = f"{env.ns}-other"
    repo.commit({"ns.yaml": namespace(env.ns), "other.yaml": namespace(other),
                 "a.yaml": configmap("a", env.ns, {"v": "1"}),
                 "b.yaml": configmap("b", other, {"v": "1"})})
    result = await env.syncer(env.source(repo, k8s_allow_namespace=(env.ns,))).sync()
    assert result.ok, result.message
    assert sorted(map(str, result.applied)) == [f"<cluster>:namespace/{env.ns}",
                                                f"{env.ns}:configmap/a"]
    assert await env.get(f"/api/v1/namespaces/{other}") is None


def _bad_service(ns: str) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {ns}\n"
            "spec:\n  ports:\n  - port: 99999\n")


async def test_a_refused_object_in_a_namespace_the_commit_creates_fails_in_its_stage(
    env: Env, repo: Repo
) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "svc.yaml": _bad_service(env.ns),
                 "a.yaml": configmap("a", env.ns, {"v": "1"})})
    result = await env.syncer(env.source(repo)).sync()
    assert result.reason == reasons.VALIDATION_FAILED
    assert result.message.startswith("server-side dry run failed for 1 object(s)")
    assert "svc.yaml:1:" in result.message and "99999" in result.message
    # Only the first stage (Namespaces and CRDs) was written, and the message says so.
    assert f"written before the failure: <cluster>:namespace/{env.ns}" in result.message
    assert await env.get(f"/api/v1/namespaces/{env.ns}") is not None
    assert await env.configmap("a") is None


async def test_the_applier_raises_the_failing_step_as_its_class_with_the_stage(
    env: Env
) -> None:
    discovery = Discovery()
    await discovery.refresh(env.kube)
    applier = Applier(env.kube, discovery, source=f"{env.ns}-src")
    desired = [Desired(yaml.safe_load(namespace(env.ns)), "ns.yaml:1"),
               Desired(yaml.safe_load(_bad_service(env.ns)), "svc.yaml:1")]
    with pytest.raises(DryRunFailed) as failed:
        await applier.apply(desired)
    assert failed.value.stage == RESOURCES
    assert failed.value.written == [ObjId("", "Namespace", "", env.ns)]
    assert [f.id for f in failed.value.failures] == [ObjId("", "Service", env.ns, "web")]


async def test_ignored_objects_are_reported_as_skipped_with_the_reason(env: Env, repo: Repo
                                                                       ) -> None:
    repo.commit({"ns.yaml": namespace(env.ns),
                 "a.yaml": configmap("a", env.ns, {"v": "1"},
                                     annotations={"fluxcd.io/ignore": "true"})})
    result = await env.syncer(env.source(repo)).sync()
    assert result.ok, result.message
    assert [str(i) for i in result.applied] == [f"<cluster>:namespace/{env.ns}"]
    assert result.unchanged == 1  # as before: an ignored object is left unchanged
    assert result.to_json()["changes"] == [
        {"id": f"<cluster>:namespace/{env.ns}", "action": "created", "reason": ""},
        {"id": f"{env.ns}:configmap/a", "action": "skipped",
         "reason": "ignore annotation in file"}]
    assert await env.configmap("a") is None
