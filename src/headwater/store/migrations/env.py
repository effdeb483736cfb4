"""Alembic's entry point, run by `db.migrate` with a connection already in a transaction.

There is no alembic.ini: `db.py` builds the configuration in code and hands over its
open connection in `config.attributes["connection"]`. Revisions are written by hand
(copy the newest file in `versions/`, set `revision` and `down_revision`); the schema
test checks that the revisions build exactly the tables of `schema.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from headwater.store.schema import NAMING

# Only the naming convention is taken from the schema: the revisions' constraints and
# indexes get the names `schema.py` gives them.
context.configure(connection=context.config.attributes["connection"],
                  target_metadata=sa.MetaData(naming_convention=NAMING), render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
