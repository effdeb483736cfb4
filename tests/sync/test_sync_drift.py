"""Drift: what was changed behind Git's back is reset at the next sync; a deleted object
is recreated."""

from __future__ import annotations

from tests.sync.conftest import Env, Repo, configmap, namespace


async def test_a_changed_field_is_reset_and_a_deleted_object_recreated(env: Env, repo: Repo
                                                                        ) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "a.yaml": configmap("a", env.ns, {"v": "1"}),
                 "b.yaml": configmap("b", env.ns, {"v": "1"})})
    syncer = env.syncer(env.source(repo))
    assert (await syncer.sync()).ok
    # kubectl edit (another field manager) and kubectl delete, behind Git's back
    await env.kube.request("PATCH", f"/api/v1/namespaces/{env.ns}/configmaps/a",
                           params={"fieldManager": "kubectl-edit"},
                           body={"data": {"v": "hacked", "extra": "x"}},
                           content_type="application/merge-patch+json")
    await env.kube.request("DELETE", f"/api/v1/namespaces/{env.ns}/configmaps/b")
    result = await syncer.sync(fetch=False)
    assert result.ok, result.message
    assert sorted(str(i) for i in result.applied) == [f"{env.ns}:configmap/a",
                                                      f"{env.ns}:configmap/b"]
    a = await env.configmap("a")
    assert a and a["data"]["v"] == "1"
    b = await env.configmap("b")
    assert b and b["data"] == {"v": "1"}
