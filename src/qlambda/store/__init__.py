"""Persistence: a SQLite file by default, any SQLAlchemy URL otherwise."""

from qlambda.store.faults import StoreUnavailableError
from qlambda.store.store import Store, sqlite_url
from qlambda.store.writer import PendingWrite, StoreWriter

__all__ = ["PendingWrite", "Store", "StoreUnavailableError", "StoreWriter", "sqlite_url"]
