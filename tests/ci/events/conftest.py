"""The build-event tests run on a real store, SQLite and PostgreSQL, as tests/store do."""

from tests.store.conftest import pg, store, target

__all__ = ["pg", "store", "target"]
