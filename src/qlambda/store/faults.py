"""When the database cannot be reached: telling it apart from errors a retry cannot fix,
and what the rest of the platform is told meanwhile.

A lost connection, a server that refuses connections or is restarting, or a busy SQLite
file pass: the store retries its writes and answers reads with ``StoreUnavailableError``
(the HTTP API's 503). A constraint violation, bad data or SQL does not pass by waiting:
it fails its own write only.
"""

from __future__ import annotations

import select
import sqlite3
import threading
import time
from typing import Any

import sqlalchemy as sa

from qlambda.core.errors import QlambdaError

RETRY_AFTER_SECONDS = 2  # what a client refused while the database is away is told

# SQLSTATE classes and codes of PostgreSQL that end once the server is back or less busy
_TRANSIENT_CLASSES = ("08",)  # connection exception
_TRANSIENT_CODES = {
    "57P01",  # admin shutdown
    "57P02",  # crash shutdown
    "57P03",  # cannot connect now (starting up, recovering)
    "53300",  # too many connections
    "40001",  # serialization failure
    "40P01",  # deadlock detected
}
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy")


class StoreUnavailableError(QlambdaError):
    """The database cannot be reached now; the same request may succeed later."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = RETRY_AFTER_SECONDS


def is_connection_error(error: BaseException) -> bool:
    """True when waiting may cure ``error``: the database is away, restarting or busy."""
    if isinstance(error, StoreUnavailableError | sa.exc.DisconnectionError | sa.exc.TimeoutError):
        return True
    original: Any = error
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
    if isinstance(original, sqlite3.OperationalError):
        return any(text in str(original) for text in _SQLITE_TRANSIENT)
    code = getattr(original, "sqlstate", None)
    module = type(original).__module__
    if not module.startswith("psycopg"):
        return False
    if code is None:  # raised by the client library: no connection, or it broke
        return type(original).__name__ in {"OperationalError", "InterfaceError"} or (
            "Timeout" in type(original).__name__
        )
    return code in _TRANSIENT_CODES or code.startswith(_TRANSIENT_CLASSES)


def describe(error: BaseException) -> str:
    """One line about a database error, without the SQL or its parameters."""
    original = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}".strip()


class Health:
    """Whether the database answered last time it was used (shared by reads and writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.last_error = ""

    @property
    def available(self) -> bool:
        return self.down_since is None

    def down(self, error: BaseException) -> None:
        with self._lock:
            if self.down_since is None:
                self.down_since = time.monotonic()
            self.last_error = describe(error)

    def up(self) -> None:
        if self.down_since is not None:
            with self._lock:
                self.down_since = None

    def unavailable(self) -> StoreUnavailableError:
        since = self.down_since
        for_how_long = "" if since is None else f" for {time.monotonic() - since:.0f} s"
        return StoreUnavailableError(
            f"the database cannot be reached{for_how_long} ({self.last_error}); "
            f"nothing was done: retry in {RETRY_AFTER_SECONDS} s"
        )


def check_psycopg_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout: refuse a pooled PostgreSQL connection the server has closed (it was
    killed or restarted) without a round trip: an idle connection has nothing to read,
    so a readable socket holds the server's goodbye or end of file. The pool then opens
    a new connection (SQLAlchemy retries a checkout refused this way)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise sa.exc.DisconnectionError("the connection was closed")
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise sa.exc.DisconnectionError("the server closed the connection")
