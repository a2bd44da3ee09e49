"""This control plane's identity in the store, its lease, and what it does without one.

Each control plane (a ``Platform``) registers at start as ``<host>-<pid>-<random>`` with a
lease that a heartbeat renews every ``lease_seconds / 5``: one UPDATE, whatever the number
of jobs, because a job's lease is its owner's (``jobs.controller``). Another control plane
claims a job only once its owner's lease has expired on the database's clock.

A replica that cannot renew its lease stops being an owner before its lease can have
expired: ``fence_after`` seconds after its last renewal was sent (the renewal is stamped
by the database after it was sent, so the lease ends later still), its watchdog calls
``on_lost``, which stops the jobs' workers. A single server (no replicas) never fences:
nobody else may take its jobs, so it rides out a database outage and renews afterwards.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from qlambda.store import Store, ownership

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_SECONDS = 1.0  # a renewal that failed is tried again this soon


def new_controller_id(host: str) -> str:
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Controller:
    """``on_lost(reason)`` is called once, from a thread of its own, when this control plane
    lost (or may have lost) its lease: its jobs may be claimed by others from then on."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        *,
        replica: bool,
        lease_seconds: float,
        on_lost: Callable[[str], None],
    ) -> None:
        self.host = socket.gethostname()
        self.id = new_controller_id(self.host)
        self.replica = replica
        self.lease = lease_seconds
        self._store = store
        self._data_dir = data_dir
        self._direct = store.engine.dialect.name == "postgresql"
        self._on_lost = on_lost
        self._renewed = time.monotonic()
        self._stopped = threading.Event()
        self._lost = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def fence_after(self) -> float:
        """Seconds without a renewal after which a replica gives up its jobs: its lease
        lasts ``lease`` seconds from a moment later than the renewal was sent; the margin
        is the time its workers take to die."""
        return self.lease - max(1.0, self.lease / 5)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def start(self, *, others_dead: bool = False) -> None:
        """Register (``DatabaseInUseError`` when the database is used in a way that excludes
        this control plane), then keep the lease."""
        row = {
            "id": self.id,
            "host": self.host,
            "pid": os.getpid(),
            "data_dir": str(self._data_dir),
            "mode": "replica" if self.replica else "single",
            "started_at": time.time(),
        }
        sent = time.monotonic()
        self._write(lambda conn: ownership.register(conn, row, self.lease, others_dead=others_dead))
        self._renewed = sent
        self._spawn(self._beat, "qlambda-lease")
        if self.replica:
            self._spawn(self._watch, "qlambda-lease-watch")

    def set_address(self, address: str) -> None:
        """Where this control plane serves HTTP (shown in ``controllers``)."""
        self._write(lambda conn: ownership.set_address(conn, self.id, address))

    def stop(self) -> None:
        """Stop renewing; the lease ends now, so others may claim what is left at once.
        Call it only once this control plane's workers are stopped."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=2)
        if self.lost:
            return
        try:
            self._write(lambda conn: ownership.release(conn, self.id))
        except Exception as exc:  # its lease then simply runs out
            log.warning("could not end the lease of %s at stop: %s", self.id, exc)

    def renewed_ago(self) -> float:
        """Seconds since the last renewal that succeeded was sent."""
        return time.monotonic() - self._renewed

    # ------------------------------------------------------------ threads
    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write(self, operation: Callable[[sa.Connection], T]) -> T:
        """PostgreSQL: a transaction of its own, never queued behind other writes;
        SQLite: through the store's writer, the file's one writer."""
        if self._direct:
            with self._store.engine.begin() as conn:
                return operation(conn)
        result: T = self._store.writer.submit(operation).result()
        return result

    def _beat(self) -> None:
        interval = self.lease / 5
        wait = interval
        failing = False
        while not self._stopped.wait(wait):
            sent = time.monotonic()
            lapsed = sent - self._renewed > self.lease
            try:
                kept = self._write(self._renewal(lapsed))
            except Exception as exc:
                if not failing:
                    log.warning("control plane %s could not renew its lease: %s", self.id, exc)
                failing = True
                wait = min(RETRY_SECONDS, interval)
                continue
            if failing:
                log.warning("control plane %s renews its lease again", self.id)
                failing = False
            if not kept:
                self._lose(
                    f"its lease lapsed ({sent - self._renewed:.1f} s without a renewal, "
                    f"lease_seconds = {self.lease:g}): other replicas may run its jobs now"
                )
                return
            self._renewed = sent
            wait = interval

    def _renewal(self, lapsed: bool) -> Callable[[sa.Connection], bool]:
        def renew(conn: sa.Connection) -> bool:
            if self.replica:
                return ownership.renew(conn, self.id, self.lease, lapsed_ok=False)
            # a single server keeps its jobs through an outage, unless a server started
            # on the database meanwhile (then that one owns them now)
            ownership.renew(conn, self.id, self.lease, lapsed_ok=True)
            return not (lapsed and ownership.others_live(conn, self.id))

        return renew

    def _watch(self) -> None:
        tick = min(0.25, self.lease / 20)
        while not self._stopped.wait(tick):
            silent = time.monotonic() - self._renewed
            if silent > self.fence_after:
                self._lose(
                    f"it could not renew its lease for {silent:.1f} s (lease_seconds = "
                    f"{self.lease:g}): the database cannot be reached"
                )
                return

    def _lose(self, reason: str) -> None:
        if self._lost.is_set() or self._stopped.is_set():
            return
        self._lost.set()
        log.error("control plane %s gives up its jobs: %s", self.id, reason)
        threading.Thread(target=self._on_lost, args=(reason,), name="qlambda-fence").start()


def describe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Controllers as users see them (``GET /platform/controllers``)."""
    return [
        {
            "id": row["id"],
            "host": row["host"],
            "pid": row["pid"],
            "mode": row["mode"],
            "address": row["address"],
            "live": bool(row["live"]),
            "started_at": row["started_at"],
            "stopped_at": row["stopped_at"],
        }
        for row in rows
    ]
