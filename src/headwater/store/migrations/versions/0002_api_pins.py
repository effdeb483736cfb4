"""Pins set through the API (`pin-resource`), beside the pipeline config's `version:`.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: a batch (copy) of `resources` on SQLite would
    # drop the table, and its versions with it through ON DELETE CASCADE.
    op.add_column("resources", sa.Column("api_pinned_version", sa.JSON, nullable=True))
    op.add_column("resources", sa.Column("pin_comment", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("pin_comment")
        batch.drop_column("api_pinned_version")
