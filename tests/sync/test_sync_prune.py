"""Garbage collection: what left Git is deleted, with GC on, after a good apply, and only
objects this source applied."""

from __future__ import annotations

from headwater.cd import reasons
from tests.sync.conftest import Env, Repo, configmap, namespace


async def _two_configmaps(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "a.yaml": configmap("a", env.ns, {"v": "1"}),
                 "b.yaml": configmap("b", env.ns, {"v": "1"})})


async def test_a_removed_file_is_pruned_with_gc_on(env: Env, repo: Repo) -> None:
    await _two_configmaps(env, repo)
    syncer = env.syncer(env.source(repo, sync_garbage_collection=True))
    assert (await syncer.sync()).ok
    repo.commit({"b.yaml": None})
    result = await syncer.sync()
    assert result.ok, result.message
    assert [str(i) for i in result.pruned] == [f"{env.ns}:configmap/b"]
    assert await env.configmap("b") is None
    assert await env.configmap("a") is not None


async def test_with_gc_off_or_dry_nothing_is_deleted(env: Env, repo: Repo) -> None:
    await _two_configmaps(env, repo)
    off = env.syncer(env.source(repo))
    dry = env.syncer(env.source(repo, sync_garbage_collection_dry=True))
    assert (await off.sync()).ok
    assert (await dry.sync()).ok
    repo.commit({"b.yaml": None})
    assert (await off.sync()).pruned == []
    dry_result = await dry.sync()
    assert [str(i) for i in dry_result.pruned] == [f"{env.ns}:configmap/b"]  # would delete
    assert await env.configmap("b") is not None


async def test_nothing_is_pruned_after_a_failed_apply(env: Env, repo: Repo) -> None:
    await _two_configmaps(env, repo)
    syncer = env.syncer(env.source(repo, sync_garbage_collection=True))
    assert (await syncer.sync()).ok
    bad = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {env.ns}\n"
           "spec:\n  ports:\n  - port: -1\n")
    repo.commit({"b.yaml": None, "svc.yaml": bad})
    result = await syncer.sync()
    assert result.reason == reasons.VALIDATION_FAILED
    assert result.pruned == []
    assert await env.configmap("b") is not None


async def test_objects_not_applied_by_this_source_are_never_pruned(env: Env, repo: Repo
                                                                    ) -> None:
    await _two_configmaps(env, repo)
    syncer = env.syncer(env.source(repo, sync_garbage_collection=True))
    assert (await syncer.sync()).ok
    # Someone strips our mark from b, and annotates a with ignore: both must survive.
    await env.kube.request("PATCH", f"/api/v1/namespaces/{env.ns}/configmaps/b",
                           body={"metadata": {"labels": {"headwater.dev/sync-gc-mark": "x"}}},
                           content_type="application/merge-patch+json")
    await env.kube.request("PATCH", f"/api/v1/namespaces/{env.ns}/configmaps/a",
                           body={"metadata": {"annotations": {"fluxcd.io/ignore": "true"}}},
                           content_type="application/merge-patch+json")
    repo.commit({"a.yaml": None, "b.yaml": None})
    result = await syncer.sync()
    assert result.ok, result.message
    assert result.pruned == []
    assert await env.configmap("a") is not None
    assert await env.configmap("b") is not None


async def test_two_sources_never_prune_each_other(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns),
                 "one/a.yaml": configmap("a", env.ns, {"v": "1"}),
                 "one/c.yaml": configmap("c", env.ns, {"v": "1"}),
                 "two/b.yaml": configmap("b", env.ns, {"v": "1"})})
    one = env.syncer(env.source(repo, git_path=("one",), sync_garbage_collection=True))
    two = env.syncer(env.source(repo, git_path=("two", "ns.yaml"),
                                sync_garbage_collection=True))
    assert (await two.sync()).ok  # two holds the namespace
    assert (await one.sync()).ok
    assert (await one.sync()).pruned == []
    assert (await two.sync()).pruned == []
    assert await env.configmap("a") is not None
    assert await env.configmap("b") is not None
    repo.commit({"one/a.yaml": None})
    assert [str(i) for i in (await one.sync()).pruned] == [f"{env.ns}:configmap/a"]
    assert (await two.sync()).pruned == []
    assert await env.configmap("b") is not None


async def test_ignored_manifests_are_not_applied(env: Env, repo: Repo) -> None:
    repo.commit({"ns.yaml": namespace(env.ns), "a.yaml": configmap(
        "a", env.ns, {"v": "1"}, annotations={"fluxcd.io/ignore": "sync_only"})})
    result = await env.syncer(env.source(repo)).sync()
    assert result.ok
    assert await env.configmap("a") is None
