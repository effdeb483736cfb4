"""The first schema: pipelines, resources and their versions, jobs, builds, events, tokens.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def _fk(column: str, target: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(column, sa.Integer, sa.ForeignKey(target, ondelete="CASCADE"),
                     nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("config_text", sa.Text, nullable=False),
        sa.Column("redact", sa.JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.UniqueConstraint("team", "name"),
    )
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("pipeline_id", "pipelines.id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("check_every", sa.Float, nullable=True),
        sa.Column("webhook_token", sa.String(255), nullable=True),
        sa.Column("pinned_version", sa.JSON, nullable=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("last_checked", _TIME, nullable=True),
        sa.Column("check_error", sa.Text, nullable=True),
        sa.UniqueConstraint("pipeline_id", "name"),
    )
    op.create_table(
        "resource_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("resource_id", "resources.id"),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("check_order", sa.Integer, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint("resource_id", "scope", "version_hash"),
    )
    op.create_index(None, "resource_versions", ["resource_id", "scope", "check_order"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _fk("pipeline_id", "pipelines.id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("next_build_number", sa.Integer, nullable=False),
        sa.UniqueConstraint("pipeline_id", "name"),
    )
    op.create_table(
        "builds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _fk("pipeline_id", "pipelines.id", nullable=True),
        _fk("job_id", "jobs.id", nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("manually_triggered", sa.Boolean, nullable=False),
        sa.Column("plan", sa.Text, nullable=True),
        sa.Column("aborted", sa.Boolean, nullable=False),
        sa.Column("last_event_seq", sa.Integer, nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("start_time", _TIME, nullable=True),
        sa.Column("end_time", _TIME, nullable=True),
        sa.Column("reap_time", _TIME, nullable=True),
        sa.UniqueConstraint("job_id", "name"),
    )
    for columns in (["job_id", "id"], ["pipeline_id", "id"], ["team", "id"], ["status"]):
        op.create_index(None, "builds", columns)
    for table in ("build_inputs", "build_outputs"):
        key = ["build_id", "name"] + (["version_id"] if table == "build_outputs" else [])
        op.create_table(
            table,
            _fk("build_id", "builds.id"),
            sa.Column("name", sa.String(255), nullable=False),
            _fk("resource_id", "resources.id"),
            _fk("version_id", "resource_versions.id"),
            sa.PrimaryKeyConstraint(*key),
        )
        op.create_index(None, table, ["version_id"])
    op.create_table(
        "build_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        _fk("build_id", "builds.id"),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.UniqueConstraint("build_id", "seq"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("counters", "api_tokens", "build_events", "build_outputs", "build_inputs",
                  "builds", "jobs", "resource_versions", "resources", "pipelines"):
        op.drop_table(table)
