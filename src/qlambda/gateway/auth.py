"""Bearer-token authentication. Tokens are looked up by their hash; a hit is cached
so that a busy client does not cost a database read per request.

The cache never outlives a change: a revocation through the API evicts at once;
one by ``qlambda users`` (another process) replaces the data directory's
``tokens.changed`` file, which is checked (one ``stat``) at every request; a
change made elsewhere (another machine on the same PostgreSQL) is seen within
``CACHE_SECONDS``. An expired token is refused whether cached or not.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qlambda.store import Store

CHANGES_FILE = "tokens.changed"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    max_priority: float | None = None  # the user's own limits; None: the server's
    max_active_jobs: int | None = None
    max_running_jobs: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        return cls(
            row["name"],
            row["role"],
            row.get("max_priority"),
            row.get("max_active_jobs"),
            row.get("max_running_jobs"),
        )


@dataclass(frozen=True)
class _Entry:
    user: User
    expires_at: float | None
    generation: int  # of the cache when the row was read: older entries are stale
    read_at: float


def announce_change(data_dir: str | Path) -> None:
    """Tell a server on ``data_dir`` that tokens or users changed: it drops its cache."""
    path = Path(data_dir) / CHANGES_FILE
    temporary = path.with_name(f"{CHANGES_FILE}.{uuid.uuid4().hex}")
    temporary.write_text(uuid.uuid4().hex)
    os.replace(temporary, path)  # a new inode: seen even within one clock tick


class Authenticator:
    CACHE_LIMIT = 10_000
    CACHE_SECONDS = 60.0

    def __init__(self, store: Store, data_dir: str | Path | None = None) -> None:
        self._store = store
        self._changes = None if data_dir is None else Path(data_dir) / CHANGES_FILE
        self._seen = self._changed_stamp()
        self._cache: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def user(self, authorization: str | None) -> User | str:
        """The user of an ``Authorization`` header, or why it is refused."""
        if not authorization:
            return "this endpoint needs an 'Authorization: Bearer <token>' header"
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "the Authorization header must be 'Bearer <token>'"
        self._drop_cache_if_changed()
        generation = self._generation
        entry = self._cache.get(token)
        now = time.monotonic()
        if (
            entry is None
            or entry.generation != generation
            or now - entry.read_at > self.CACHE_SECONDS
        ):
            row = self._store.user_for_token(token)
            if row is None:
                return "unknown or revoked token; `qlambda users create NAME` makes one"
            if row["revoked_at"] is not None:
                return (
                    f"this token (id {row['token_id']}) was revoked; "
                    "`qlambda users token NAME` makes a new one"
                )
            entry = _Entry(User.from_row(row), row["expires_at"], generation, now)
            with self._lock:
                if len(self._cache) >= self.CACHE_LIMIT:
                    self._cache.clear()
                self._cache[token] = entry
        if entry.expires_at is not None and time.time() >= entry.expires_at:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.expires_at))
            return (
                f"this token expired at {stamp}; "
                "`qlambda users token NAME --expires 30d` makes a new one"
            )
        return entry.user

    def forget(self, user: str | None = None) -> None:
        """Drop cached tokens (of one user, or all) after a change to them."""
        with self._lock:
            self._generation += 1  # a row read before this call is not cached as fresh
            if user is None:
                self._cache.clear()
            else:
                for token in [t for t, e in self._cache.items() if e.user.name == user]:
                    del self._cache[token]

    def _drop_cache_if_changed(self) -> None:
        stamp = self._changed_stamp()
        if stamp != self._seen:
            self._seen = stamp
            self.forget()

    def _changed_stamp(self) -> tuple[int, int] | None:
        if self._changes is None:
            return None
        try:
            found = os.stat(self._changes)
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns
