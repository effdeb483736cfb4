"""Persistence of the CI engine: pipelines, resource versions, builds, build events, tokens.

SQLAlchemy 2 (async Core) over SQLite (the default, `<data_dir>/headwater.db`) or
PostgreSQL (`postgresql://...`), with Alembic migrations shipped in `migrations/`
and run to head by `Store.open`. The schema follows Concourse's (`schema.py`);
`db.py` explains the transaction discipline (SQLite: WAL, busy_timeout, BEGIN
IMMEDIATE for writers).
"""

from headwater.store.crypto import DecryptError, EncryptionKeyError, Keyring
from headwater.store.db import StoreError
from headwater.store.models import (
    FINISHED_STATUSES,
    ApiToken,
    Build,
    BuildInput,
    BuildResource,
    BuildStatus,
    Event,
    Job,
    JobSpec,
    Pipeline,
    Resource,
    ResourceSpec,
    ResourceVersion,
    SavedPipeline,
    Version,
)
from headwater.store.pipelines import DEFAULT_TEAM
from headwater.store.store import Store
from headwater.store.tokens import LastToken, TokenConflict, webhook_token_matches

__all__ = [
    "DEFAULT_TEAM",
    "FINISHED_STATUSES",
    "ApiToken",
    "Build",
    "BuildInput",
    "BuildResource",
    "BuildStatus",
    "DecryptError",
    "EncryptionKeyError",
    "Event",
    "Job",
    "JobSpec",
    "Keyring",
    "LastToken",
    "Pipeline",
    "Resource",
    "ResourceSpec",
    "ResourceVersion",
    "SavedPipeline",
    "Store",
    "StoreError",
    "TokenConflict",
    "Version",
    "webhook_token_matches",
]
