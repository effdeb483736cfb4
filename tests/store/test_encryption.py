"""Secrets at rest: with a key no var's value is stored in plain text, on SQLite and
PostgreSQL; keys are rotated, and a wrong or missing key is refused before any write."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.store import (
    BuildInput,
    DecryptError,
    EncryptionKeyError,
    JobSpec,
    Keyring,
    Store,
)
from headwater.store.crypto import PREFIX
from headwater.store.schema import KEYRING_ATTRIBUTE
from tests.store.conftest import Target
from tests.store.helpers import resource

SECRET = "hunter2-very-secret-value"
KEY = "k" * 32
NEW_KEY = "n" * 32
TABLES = ("pipelines", "resources", "jobs", "builds", "encryption")


async def _fill(store: Store) -> tuple[int, int]:
    """A pipeline whose every secret column holds SECRET; (resource id, build id)."""
    saved = await store.save_pipeline(
        "main", "p", config={"resources": [{"source": {"password": SECRET}}]},
        config_text=f"# {SECRET}\n", redact=[SECRET],
        resources=[resource("repo", source={"password": SECRET}, webhook_token=SECRET,
                            pinned_version={"ref": SECRET}, config={"source": SECRET})],
        jobs=[JobSpec(name="build", config={"plan": [{"params": {"pw": SECRET}}]})])
    repo = await store.resource(saved.id, "repo")
    job = await store.job(saved.id, "build")
    assert repo is not None and job is not None
    await store.record_check(repo.id, error=f"check failed: {SECRET}")
    vid = await store.save_output_version(repo.id, {"ref": "abc"}, [])
    build = await store.create_build(team="main", pipeline_id=saved.id, job_id=job.id,
                                     inputs=[BuildInput("repo", repo.id, vid)],
                                     manually_triggered=False)
    await store.set_build_plan(build.id, f'{{"params": {{"pw": "{SECRET}"}}}}')
    return repo.id, build.id


async def _assert_readable(store: Store, resource_id: int, build_id: int) -> None:
    pipeline = await store.get_pipeline("main", "p")
    assert pipeline is not None
    assert pipeline.config == {"resources": [{"source": {"password": SECRET}}]}
    assert pipeline.config_text == f"# {SECRET}\n" and pipeline.redact == [SECRET]
    repo = await store.resource_by_id(resource_id)
    assert repo is not None
    assert repo.source == {"password": SECRET} and repo.config == {"source": SECRET}
    assert repo.pinned_version == {"ref": SECRET}
    assert repo.check_error == f"check failed: {SECRET}"
    jobs = await store.jobs(pipeline.id)
    assert jobs[0].config == {"plan": [{"params": {"pw": SECRET}}]}
    build = await store.build(build_id)
    assert build is not None and build.plan == f'{{"params": {{"pw": "{SECRET}"}}}}'


async def _raw_rows(store: Store) -> str:
    """Every row of the secret tables as the database holds it, as text."""
    out: list[str] = []
    async with store._db.read() as conn:
        for table in TABLES:
            if store.dialect == "postgresql":
                rows = await conn.exec_driver_sql(f"SELECT t::text FROM {table} t")
            else:
                rows = await conn.exec_driver_sql(f"SELECT * FROM {table}")
            out.extend(repr(tuple(r)) for r in rows)
    return "\n".join(out)


def _sqlite_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("headwater.db*"))


async def test_with_a_key_no_secret_column_holds_a_var_value_in_plain_text(
        target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        ids = await _fill(store)
        raw = await _raw_rows(store)
        assert SECRET not in raw
        assert PREFIX in raw  # the values are there, encrypted
        assert SECRET.encode() not in _sqlite_bytes(target.data_dir)
        await _assert_readable(store, *ids)
    finally:
        await store.close()
    again = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        await _assert_readable(again, *ids)
    finally:
        await again.close()


async def test_sqlite_rows_read_with_sqlite3_hold_no_secret(tmp_path: Path) -> None:
    store = await Store.open(None, data_dir=tmp_path, keyring=Keyring.of(KEY))
    try:
        await _fill(store)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "headwater.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert SECRET not in dump
    assert SECRET.encode() not in _sqlite_bytes(tmp_path)


async def test_a_plain_database_is_encrypted_at_the_first_start_with_a_key(
        target: Target) -> None:
    plain = await target.open()
    try:
        ids = await _fill(plain)
        assert SECRET in await _raw_rows(plain)
    finally:
        await plain.close()
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        assert SECRET not in await _raw_rows(store)
        await _assert_readable(store, *ids)
    finally:
        await store.close()
    # SQLite is vacuumed after the rewrite: the old plain texts are gone from the file.
    assert SECRET.encode() not in _sqlite_bytes(target.data_dir)


async def test_old_encryption_key_re_encrypts_everything_with_the_new_key(
        target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        ids = await _fill(store)
        before = await _raw_rows(store)
    finally:
        await store.close()
    rotated = await Store.open(target.url, data_dir=target.data_dir,
                               keyring=Keyring.of(NEW_KEY, KEY))
    try:
        after = await _raw_rows(rotated)
        assert SECRET not in after and after != before
    finally:
        await rotated.close()
    # The new key alone opens it now; the old one alone no longer does.
    store = await Store.open(target.url, data_dir=target.data_dir,
                             keyring=Keyring.of(NEW_KEY))
    try:
        await _assert_readable(store, *ids)
    finally:
        await store.close()
    with pytest.raises(DecryptError, match="does not open"):
        await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))


async def test_old_encryption_key_alone_decrypts_the_database(target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        ids = await _fill(store)
    finally:
        await store.close()
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(None, KEY))
    try:
        assert SECRET in await _raw_rows(store)
    finally:
        await store.close()
    plain = await target.open()
    try:
        await _assert_readable(plain, *ids)
    finally:
        await plain.close()


async def test_a_wrong_key_is_refused_and_nothing_is_overwritten(target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        await _fill(store)
        before = await _raw_rows(store)
    finally:
        await store.close()
    with pytest.raises(DecryptError, match="--old-encryption-key"):
        await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(NEW_KEY))
    # A wrong old key is refused too, before any rewrite.
    with pytest.raises(DecryptError, match="does not open"):
        await Store.open(target.url, data_dir=target.data_dir,
                         keyring=Keyring.of(NEW_KEY, "w" * 32))
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        assert await _raw_rows(store) == before
    finally:
        await store.close()


async def test_no_key_on_an_encrypted_database_is_refused_with_the_flag_to_give(
        target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        await _fill(store)
    finally:
        await store.close()
    with pytest.raises(DecryptError, match="--encryption-key"):
        await target.open()


async def test_a_rotation_stopped_half_way_is_finished_by_the_next_start(
        target: Target) -> None:
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(KEY))
    try:
        ids = await _fill(store)
        # What a crash after the first table leaves: pipelines under the new key, the
        # rest (and the marker) under the old one.
        store._db.keyring = Keyring.of(NEW_KEY, KEY)
        setattr(store._db.engine.dialect, KEYRING_ATTRIBUTE, store._db.keyring)
        await store.save_pipeline(
            "main", "p", config={"resources": [{"source": {"password": SECRET}}]},
            config_text=f"# {SECRET}\n", redact=[SECRET],
            resources=[resource("repo", source={"password": SECRET}, webhook_token=SECRET,
                                pinned_version={"ref": SECRET}, config={"source": SECRET})],
            jobs=[JobSpec(name="build", config={"plan": []})])
    finally:
        await store.close()
    store = await Store.open(target.url, data_dir=target.data_dir,
                             keyring=Keyring.of(NEW_KEY, KEY))
    await store.close()
    store = await Store.open(target.url, data_dir=target.data_dir, keyring=Keyring.of(NEW_KEY))
    try:
        pipeline = await store.get_pipeline("main", "p")
        assert pipeline is not None and pipeline.redact == [SECRET]
        repo = await store.resource_by_id(ids[0])
        assert repo is not None and repo.check_error == f"check failed: {SECRET}"
    finally:
        await store.close()


@pytest.mark.parametrize(("text", "stored_plain"), [
    ("plain text", "plain text"),
    ("enc:v1:looks encrypted", "enc:raw:enc:v1:looks encrypted"),
    ("enc:raw:x", "enc:raw:enc:raw:x"),
    ("", ""),
    ("ünïcødé ✓", "ünïcødé ✓"),
])
def test_values_round_trip_plain_and_encrypted(text: str, stored_plain: str) -> None:
    plain, keyed = Keyring(), Keyring.of(KEY)
    assert plain.encode(text) == stored_plain
    assert plain.decode(plain.encode(text)) == text
    sealed = keyed.encode(text)
    assert sealed.startswith(PREFIX) and (not text or text not in sealed[len(PREFIX):])
    assert keyed.decode(sealed) == text
    assert keyed.encode(text) != sealed  # a fresh nonce each time
    assert keyed.decode(plain.encode(text)) == text  # plain rows read with a key


@pytest.mark.parametrize("key", ["short", "k" * 31, "k" * 33, "é" * 16 + "k"])
def test_keys_must_be_32_bytes(key: str) -> None:
    with pytest.raises(EncryptionKeyError, match="exactly 32 bytes"):
        Keyring.of(key)


def test_a_damaged_value_is_a_clear_error() -> None:
    sealed = Keyring.of(KEY).encode("x")
    with pytest.raises(DecryptError, match=r"does not open|no encryption key"):
        Keyring.of(KEY).decode(sealed[:-4] + "AAAA")
    with pytest.raises(DecryptError, match="--encryption-key"):
        Keyring().decode(sealed)
    with pytest.raises(DecryptError, match=r"does not open|no encryption key"):
        Keyring.of(KEY).decode(PREFIX + "AAAA")  # shorter than a nonce
    with pytest.raises(DecryptError, match="not base64"):
        Keyring.of(KEY).decode(PREFIX + "!!")


async def test_webhook_tokens_are_stored_as_their_hash_only(tmp_path: Path) -> None:
    store = await Store.open(None, data_dir=tmp_path)
    try:
        await _fill(store)
        async with store._db.read() as conn:
            raw = (await conn.execute(sa.text(
                "SELECT webhook_token_sha256 FROM resources"))).scalar_one()
    finally:
        await store.close()
    assert raw == hashlib.sha256(SECRET.encode()).hexdigest()
