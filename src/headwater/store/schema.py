"""The tables of the CI store, as SQLAlchemy Core, in the spirit of Concourse's schema.

Teams are a column (`team`, "main" by default), not a table. A pipeline owns its
resources and jobs; both are matched BY NAME when a pipeline is set again, so their
ids, versions and build history survive a re-set, and the ones a new config drops
turn `active = false` (kept, hidden) rather than disappear.

A resource's versions belong to its *scope*, a hash of its type and source, as
Concourse's resource config scopes: change the source (another branch, another
repository) and the resource starts a fresh history; change it back and the old one
returns. Each version is keyed by the sha256 of its canonical JSON (Concourse keys
by md5) and ordered by `check_order`, the order checks reported them in.

Builds of a job are numbered by `jobs.next_build_number`, taken with an UPDATE on
the job's row so concurrent creators serialize on it; one-off builds take theirs
from the `counters` row "one_off_build". Events are numbered per build the same way
(`builds.last_event_seq`), so a build's events commit in sequence order and a reader
streaming "everything after N" never skips one that commits late.

Columns that can hold a var's value (the interpolated configs and plans, resource
sources, the redaction list, check errors) are `EncryptedJSON`/`EncryptedText`: with
`--encryption-key` they are stored AES-GCM encrypted (`crypto.py`), with the key ring
the `Database` hangs on its engine's dialect, so the rest of the code only ever sees
plain values. A resource's webhook token is stored as its sha256, as API tokens are.
Not encrypted, by choice: versions and their metadata (what a resource reports, not
vars), build events (redacted before they are stored), and `scope`, a hash.

These definitions are the truth the migrations must reproduce: the tests compare
them (alembic's `compare_metadata`) with the schema the migrations build.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from headwater.store.crypto import PREFIX, Keyring

KEYRING_ATTRIBUTE = "headwater_keyring"  # set on the engine's dialect by `Database`
_PLAIN = Keyring()

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps in UTC: stored as `timestamptz` on PostgreSQL, as naive UTC text on
    SQLite (which has no time zones), and always read back as aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def keyring_of(dialect: Dialect) -> Keyring:
    found = getattr(dialect, KEYRING_ATTRIBUTE, None)
    return found if isinstance(found, Keyring) else _PLAIN


class EncryptedText(sa.TypeDecorator[str]):
    """Text encrypted with the dialect's key ring (plain without a key)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).encode(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring_of(dialect).decode(value)


class EncryptedJSON(sa.TypeDecorator[Any]):
    """JSON whose value, with a key, is stored as one encrypted JSON string (the column
    stays JSON, so plain and encrypted rows share it: a map or list is plain data, a
    string with the `enc:v1:` prefix is ciphertext)."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring = keyring_of(dialect)
        if value is None or ring.primary is None:
            return value
        return ring.encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return json.loads(keyring_of(dialect).decode(value))
        return value


def encrypted_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [c for c in table.columns if isinstance(c.type, EncryptedText | EncryptedJSON)]


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _fk(column: str, target: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(column, sa.Integer, sa.ForeignKey(target, ondelete="CASCADE"),
                     nullable=nullable)


pipelines = sa.Table(
    "pipelines", metadata,
    _id(),
    sa.Column("team", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # bumped by every save
    sa.Column("config", EncryptedJSON, nullable=False),
    sa.Column("config_text", EncryptedText, nullable=False),
    sa.Column("redact", EncryptedJSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("team", "name"),
)

resources = sa.Table(
    "resources", metadata,
    _id(),
    _fk("pipeline_id", "pipelines.id"),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("source", EncryptedJSON, nullable=False),
    sa.Column("scope", sa.String(64), nullable=False),  # sha256 of type + source
    sa.Column("check_every", sa.Float, nullable=True),  # seconds; NULL: never
    sa.Column("webhook_token_sha256", sa.String(255), nullable=True),  # hex; 255: renamed
    sa.Column("pinned_version", EncryptedJSON, nullable=True),  # the config's `version:`
    sa.Column("config", EncryptedJSON, nullable=False),
    sa.Column("last_checked", UTCDateTime, nullable=True),
    sa.Column("check_error", EncryptedText, nullable=True),
    sa.Column("api_pinned_version", sa.JSON, nullable=True),  # `pin-resource`
    sa.Column("pin_comment", sa.Text, nullable=True),
    sa.UniqueConstraint("pipeline_id", "name"),
)

resource_versions = sa.Table(
    "resource_versions", metadata,
    _id(),
    _fk("resource_id", "resources.id"),
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),  # sha256 of canonical JSON
    sa.Column("version", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("check_order", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("resource_id", "scope", "version_hash"),
    sa.Index(None, "resource_id", "scope", "check_order"),
)

jobs = sa.Table(
    "jobs", metadata,
    _id(),
    _fk("pipeline_id", "pipelines.id"),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("config", EncryptedJSON, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("next_build_number", sa.Integer, nullable=False),
    sa.UniqueConstraint("pipeline_id", "name"),
)

builds = sa.Table(
    "builds", metadata,
    _id(),
    sa.Column("team", sa.String(255), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    _fk("pipeline_id", "pipelines.id", nullable=True),
    _fk("job_id", "jobs.id", nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("manually_triggered", sa.Boolean, nullable=False),
    sa.Column("plan", EncryptedText, nullable=True),
    sa.Column("aborted", sa.Boolean, nullable=False),  # abort requested
    sa.Column("last_event_seq", sa.Integer, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("start_time", UTCDateTime, nullable=True),
    sa.Column("end_time", UTCDateTime, nullable=True),
    sa.Column("reap_time", UTCDateTime, nullable=True),  # its events were pruned
    sa.UniqueConstraint("job_id", "name"),
    sa.Index(None, "job_id", "id"),
    sa.Index(None, "pipeline_id", "id"),
    sa.Index(None, "team", "id"),
    sa.Index(None, "status"),
)

build_inputs = sa.Table(
    "build_inputs", metadata,
    _fk("build_id", "builds.id"),
    sa.Column("name", sa.String(255), nullable=False),
    _fk("resource_id", "resources.id"),
    _fk("version_id", "resource_versions.id"),
    sa.PrimaryKeyConstraint("build_id", "name"),
    sa.Index(None, "version_id"),
)

build_outputs = sa.Table(
    "build_outputs", metadata,
    _fk("build_id", "builds.id"),
    sa.Column("name", sa.String(255), nullable=False),
    _fk("resource_id", "resources.id"),
    _fk("version_id", "resource_versions.id"),
    sa.PrimaryKeyConstraint("build_id", "name", "version_id"),
    sa.Index(None, "version_id"),
)

build_events = sa.Table(
    "build_events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    _fk("build_id", "builds.id"),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.UniqueConstraint("build_id", "seq"),
)

api_tokens = sa.Table(
    "api_tokens", metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

encryption = sa.Table(
    "encryption", metadata,  # one row while the secret columns are encrypted
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key_check", sa.Text, nullable=False),  # a known text, encrypted
)

counters = sa.Table(
    "counters", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)
