"""Resource versions: order, dedupe, Concourse's re-ordering, put outputs, check state."""

from __future__ import annotations

from datetime import UTC, datetime

from headwater.store import ResourceVersion, Store
from tests.store.helpers import set_pipeline


async def _repo(store: Store) -> int:
    saved = await set_pipeline(store, resources=["repo"])
    repo = await store.resource(saved.id, "repo")
    assert repo is not None
    return repo.id


def _refs(versions: list[ResourceVersion]) -> list[str]:
    return [v.version["ref"] for v in versions]


async def test_versions_come_back_newest_first_with_increasing_check_order(
        store: Store) -> None:
    rid = await _repo(store)
    assert await store.save_versions(rid, [{"ref": "a"}, {"ref": "b"}]) == 2
    assert await store.save_versions(rid, [{"ref": "b"}, {"ref": "c"}]) == 1
    versions = await store.versions(rid)
    assert _refs(versions) == ["c", "b", "a"]
    assert [v.check_order for v in versions] == sorted(
        (v.check_order for v in versions), reverse=True)
    assert _refs(await store.versions(rid, limit=1)) == ["c"]
    assert len(await store.versions(rid, limit=None)) == 3


async def test_a_known_version_is_not_stored_twice_whatever_its_key_order(
        store: Store) -> None:
    rid = await _repo(store)
    assert await store.save_versions(rid, [{"ref": "a", "path": "x"}]) == 1
    assert await store.save_versions(rid, [{"path": "x", "ref": "a"}]) == 0
    assert await store.save_versions(rid, [{"ref": "n"}, {"ref": "n"}]) == 1
    assert len(await store.versions(rid)) == 2
    vid = await store.version_id(rid, {"path": "x", "ref": "a"})
    assert vid is not None and (await store.versions(rid))[-1].id == vid
    assert await store.version_id(rid, {"ref": "never"}) is None


async def test_an_answer_of_known_versions_only_changes_nothing(store: Store) -> None:
    rid = await _repo(store)
    await store.save_versions(rid, [{"ref": "a"}, {"ref": "b"}, {"ref": "c"}])
    before = await store.versions(rid)
    assert await store.save_versions(rid, [{"ref": "a"}]) == 0
    assert await store.versions(rid) == before


async def test_known_versions_reported_with_a_new_one_move_to_the_top_in_the_given_order(
        store: Store) -> None:
    # Concourse's SaveVersions: a check from an old version repairs the order.
    rid = await _repo(store)
    await store.save_versions(rid, [{"ref": "a"}, {"ref": "b"}, {"ref": "c"}])
    assert await store.save_versions(rid, [{"ref": "a"}, {"ref": "d"}]) == 1
    assert _refs(await store.versions(rid)) == ["d", "a", "c", "b"]


async def test_a_put_version_goes_on_top_when_new_and_stays_in_place_when_known(
        store: Store) -> None:
    rid = await _repo(store)
    await store.save_versions(rid, [{"ref": "a"}, {"ref": "b"}])
    meta = [{"name": "commit", "value": "a"}]
    a_id = await store.save_output_version(rid, {"ref": "a"}, meta)
    assert a_id == await store.version_id(rid, {"ref": "a"})
    versions = await store.versions(rid)
    assert _refs(versions) == ["b", "a"]
    assert versions[1].metadata == meta

    new_id = await store.save_output_version(rid, {"ref": "p"}, [])
    top = (await store.versions(rid, limit=1))[0]
    assert (top.id, top.version, top.metadata) == (new_id, {"ref": "p"}, [])
    # A later check that reports the put's version does not add it again.
    assert await store.save_versions(rid, [{"ref": "p"}]) == 0
    assert (await store.version_by_id(new_id)) == top


async def test_record_check_sets_the_time_and_the_error_of_the_last_check(
        store: Store) -> None:
    rid = await _repo(store)
    before = datetime.now(UTC)
    await store.record_check(rid, error="repository not found")
    failed = await store.resource_by_id(rid)
    assert failed is not None and failed.check_error == "repository not found"
    assert failed.last_checked is not None and failed.last_checked >= before
    assert failed.last_checked.tzinfo is UTC
    await store.record_check(rid, error=None)
    ok = await store.resource_by_id(rid)
    assert ok is not None and ok.check_error is None


async def test_versions_of_a_deleted_resource_are_not_saved(store: Store) -> None:
    rid = await _repo(store)
    await store.destroy_pipeline("main", "p")
    assert await store.save_versions(rid, [{"ref": "a"}]) == 0


async def test_saving_a_check_can_record_it_in_the_same_transaction(store: Store) -> None:
    rid = await _repo(store)
    await store.record_check(rid, error="boom")
    assert await store.save_versions(rid, [], checked=True) == 0
    ok = await store.resource_by_id(rid)
    assert ok is not None and ok.check_error is None and ok.last_checked is not None


async def test_latest_versions_answers_the_newest_of_each_resource_at_once(
        store: Store) -> None:
    saved = await set_pipeline(store, resources=["a", "b", "empty"])
    ids = {}
    for name in ("a", "b", "empty"):
        resource = await store.resource(saved.id, name)
        assert resource is not None
        ids[name] = resource.id
    await store.save_versions(ids["a"], [{"ref": "a1"}, {"ref": "a2"}])
    await store.save_versions(ids["b"], [{"ref": "b1"}])
    await store.save_versions(ids["a"], [{"ref": "a1"}])  # known only: nothing moves
    await store.save_output_version(ids["b"], {"ref": "b-put"}, [])
    assert await store.latest_versions(list(ids.values())) == {
        ids["a"]: {"ref": "a2"}, ids["b"]: {"ref": "b-put"}}
    assert await store.latest_versions([]) == {}


async def test_versions_can_be_read_by_id_newest_first(store: Store) -> None:
    rid = await _repo(store)
    await store.save_versions(rid, [{"ref": r} for r in ("a", "b", "c", "d")])
    ids = {v.version["ref"]: v.id for v in await store.versions(rid)}
    found = await store.versions(rid, limit=None, ids=[ids["a"], ids["c"], 999_999])
    assert _refs(found) == ["c", "a"]
    assert _refs(await store.versions(rid, limit=1, ids=[ids["a"], ids["c"]])) == ["c"]
    assert await store.versions(rid, ids=[]) == []
