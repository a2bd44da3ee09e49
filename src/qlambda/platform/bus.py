"""What replicas tell each other: PostgreSQL ``LISTEN/NOTIFY`` on one channel.

The database's triggers (store migration 0007) notify each change another replica must
hear of, in the transaction that makes it: a job submitted, started, requeued, ended,
claimed or asked to cancel (``j``), a quantum task queued, running or finished (``q``),
a registration (``r``) or a user's tokens (``u``) changed, a control plane stopped
(``c``). A notification is heard only once committed, and never for a rolled-back change.

The bus holds one connection that listens, in a thread, and hands each notification's
fields to the handler of its kind; handlers run on that thread and must only hand the
news over. When the connection is lost, notifications sent meanwhile are lost with it:
once it listens again, the ``resync`` handlers run, so that whoever waits on news reads
the rows instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
import sqlalchemy as sa

from qlambda.store.ownership import CHANNEL

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5  # how soon the listening thread notices it should stop
RECONNECT_SECONDS = (0.2, 5.0)  # first and longest wait before listening again

Handler = Callable[[list[str]], None]


def libpq_address(url: str | sa.URL) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg takes it."""
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class Bus:
    def __init__(self, url: str | sa.URL) -> None:
        self._address = libpq_address(url)
        self._handlers: dict[str, list[Handler]] = {}
        self._resync: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def on(self, kind: str, handler: Handler) -> None:
        """Call ``handler(fields)`` for each notification of ``kind``."""
        self._handlers.setdefault(kind, []).append(handler)

    def on_resync(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` each time the bus listens again after losing its connection."""
        self._resync.append(handler)

    def start(self, timeout: float = 30.0) -> None:
        """Listen; returns once listening (``TimeoutError`` if it could not)."""
        self._thread = threading.Thread(target=self._run, name="qlambda-bus", daemon=True)
        self._thread.start()
        if not self._listening.wait(timeout):
            raise TimeoutError(f"could not listen for notifications within {timeout:g} s")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = RECONNECT_SECONDS[0]
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._address, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if not first:
                        log.warning("listening for other replicas' notifications again")
                        self._call_resync()
                    first, wait = False, RECONNECT_SECONDS[0]
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL_SECONDS):
                            self._deliver(note.payload)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.warning("lost the connection that hears other replicas: %s", exc)
                self._stop.wait(wait)
                wait = min(RECONNECT_SECONDS[1], wait * 2)
                first = False

    def _deliver(self, payload: str) -> None:
        kind, *fields = payload.split("|")
        for handler in self._handlers.get(kind, ()):
            try:
                handler(fields)
            except Exception:
                log.exception("a notification handler failed on %r", payload)

    def _call_resync(self) -> None:
        for handler in self._resync:
            try:
                handler()
            except Exception:
                log.exception("a resync handler failed")
