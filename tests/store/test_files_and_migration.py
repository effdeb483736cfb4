"""The SQLite files hold secrets: 0700 data dir, 0600 database and -wal/-shm, older
looser modes tightened at open; and a 0002 database upgrades to the hashed webhook
tokens and the encryption marker keeping its data."""

from __future__ import annotations

import hashlib
import io
import stat
from pathlib import Path

from headwater import log as hwlog
from headwater.store import Keyring, Store, webhook_token_matches
from headwater.store.db import secure_dir
from tests.store.helpers import sqlite_at_revision


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_data_dir_is_0700_and_its_database_files_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await Store.open(None, data_dir=data)
    try:
        await store.create_token("admin")  # a write: the -wal and -shm files exist
        files = sorted(data.glob("headwater.db*"))
        assert [f.name for f in files] == ["headwater.db", "headwater.db-shm",
                                           "headwater.db-wal"]
        assert _mode(data) == 0o700
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await store.close()


async def test_looser_modes_left_by_an_older_version_are_tightened_with_a_log_line(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await Store.open(None, data_dir=data)
    await store.create_token("admin")
    await store.close()
    data.chmod(0o755)
    for f in data.glob("headwater.db*"):
        f.chmod(0o644)
    (data / "headwater.db-wal").touch()
    (data / "headwater.db-wal").chmod(0o666)
    logs = io.StringIO()
    hwlog.setup(stream=logs)
    try:
        secure_dir(data)  # what the server does with its data dir first
        store = await Store.open(None, data_dir=data)
        await store.close()
    finally:
        hwlog.setup()
    assert _mode(data) == 0o700
    assert {f.name: _mode(f) for f in data.glob("headwater.db*")} == {
        f.name: 0o600 for f in data.glob("headwater.db*")}
    lines = [line for line in logs.getvalue().splitlines() if "tightened" in line]
    assert any(f"path={data} " in line and "old=0o755 new=0o700" in line for line in lines)
    for name, old in (("headwater.db", "0o644"), ("headwater.db-wal", "0o666")):
        assert any(f"path={data / name} " in line and f"old={old} new=0o600" in line
                   for line in lines), (name, lines)

async def test_a_database_at_0002_upgrades_hashing_its_webhook_tokens(tmp_path: Path) -> None:
    with sqlite_at_revision(tmp_path / "headwater.db", "0002") as conn:
        now = "2026-01-01 00:00:00"
        conn.exec_driver_sql(
            "INSERT INTO pipelines (id, team, name, paused, version, config, config_text, "
            f"redact, created_at, updated_at) VALUES (1, 'main', 'p', 0, 1, "
            f"'{{\"k\": \"s3cr3t\"}}', 'text', '[\"s3cr3t\"]', '{now}', '{now}')")
        conn.exec_driver_sql(
            "INSERT INTO resources (id, pipeline_id, name, active, type, source, scope, "
            "config, webhook_token) VALUES (1, 1, 'repo', 1, 'git', '{\"pw\": \"s3cr3t\"}', "
            "'s', '{}', 'hook-token')")
        conn.exec_driver_sql(
            "INSERT INTO resource_versions (resource_id, scope, version_hash, version, "
            f"metadata, check_order, created_at) VALUES (1, 's', 'h', '{{\"ref\": \"a\"}}', "
            f"'[]', 1, '{now}')")
    store = await Store.open(None, data_dir=tmp_path, keyring=Keyring.of("k" * 32))
    try:
        repo = await store.resource_by_id(1)
        assert repo is not None and repo.source == {"pw": "s3cr3t"}
        assert repo.webhook_token_sha256 == hashlib.sha256(b"hook-token").hexdigest()
        assert webhook_token_matches(repo.webhook_token_sha256, "hook-token")
        assert not webhook_token_matches(repo.webhook_token_sha256, "wrong")
        pipeline = await store.get_pipeline("main", "p")
        assert pipeline is not None and pipeline.redact == ["s3cr3t"]
        assert [v.version for v in await store.versions(1)] == [{"ref": "a"}]
        async with store._db.read() as conn:
            raw = [tuple(r) for r in await conn.exec_driver_sql(
                "SELECT config, redact FROM pipelines UNION ALL "
                "SELECT source, webhook_token_sha256 FROM resources")]
        assert "s3cr3t" not in repr(raw) and "hook-token" not in repr(raw)
    finally:
        await store.close()


def test_no_webhook_token_never_matches_even_the_dummy() -> None:
    assert not webhook_token_matches(None, "")
    assert not webhook_token_matches(None, "anything")
    assert webhook_token_matches(hashlib.sha256(b"").hexdigest(), "")
