"""Secrets at rest: the encryption marker table, and webhook tokens kept as their sha256.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "encryption",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_check", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_encryption"),
    )
    # RENAME COLUMN in place on both databases (SQLite >= 3.25): a batch (copy) of
    # `resources` would drop it, and its versions with it through ON DELETE CASCADE.
    op.execute("ALTER TABLE resources RENAME COLUMN webhook_token TO webhook_token_sha256")
    resources = sa.table("resources", sa.column("id", sa.Integer),
                         sa.column("webhook_token_sha256", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(resources.c.id, resources.c.webhook_token_sha256)
                        .where(resources.c.webhook_token_sha256.is_not(None))).all()
    for row in rows:
        digest = hashlib.sha256(str(row.webhook_token_sha256).encode()).hexdigest()
        conn.execute(resources.update().where(resources.c.id == row.id)
                     .values(webhook_token_sha256=digest))


def downgrade() -> None:
    # The tokens cannot be recovered from their hashes: they are dropped.
    op.execute("UPDATE resources SET webhook_token_sha256 = NULL")
    op.execute("ALTER TABLE resources RENAME COLUMN webhook_token_sha256 TO webhook_token")
    op.drop_table("encryption")
