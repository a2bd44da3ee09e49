"""Persistence: a SQLite file by default, any SQLAlchemy URL otherwise."""

from qlambda.store.store import Store, sqlite_url
from qlambda.store.writer import StoreWriter

__all__ = ["Store", "StoreWriter", "sqlite_url"]
