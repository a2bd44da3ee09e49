"""Bearer-token authentication. Tokens are looked up by their hash; a hit is cached
so that a busy client does not cost a database read per request."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from qlambda.store import Store


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authenticator:
    CACHE_LIMIT = 10_000

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, User] = {}
        self._lock = threading.Lock()

    def user(self, authorization: str | None) -> User | str:
        """The user of an ``Authorization`` header, or why it is refused."""
        if not authorization:
            return "this endpoint needs an 'Authorization: Bearer <token>' header"
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return "the Authorization header must be 'Bearer <token>'"
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        row = self._store.user_for_token(token)
        if row is None:
            return "unknown or revoked token; `qlambda users create NAME` makes one"
        user = User(row["name"], row["role"])
        with self._lock:
            if len(self._cache) >= self.CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = user
        return user
