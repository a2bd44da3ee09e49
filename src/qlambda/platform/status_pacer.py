"""A job's sub-status, paced: a loop may set it every iteration, the platform hears the
latest a few times a second.

Every status a function sets is a message to the control plane and an event in the
store. A variational loop that reports each iteration would send hundreds a second,
each costing the loop itself a send and the control plane a stored row, for a text a
person reads now and then. The pacer sends one at once, holds whatever comes within
:data:`STATUS_INTERVAL` after it (a newer one replaces one held), and sends the one held
when the interval is over, from one courier thread per process; ``close`` sends it at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable

STATUS_INTERVAL = 0.05
"""Seconds between two statuses sent to the control plane."""


class StatusPacer:
    def __init__(self, send: Callable[[str], None], interval: float = STATUS_INTERVAL) -> None:
        self._send = send
        self._interval = interval
        self._lock = threading.Lock()
        self._last_sent = -interval  # monotonic seconds
        self._held: str | None = None
        self._closed = False

    def set(self, text: str) -> None:
        with self._lock:
            if self._closed:
                return
            due = self._last_sent + self._interval
            if self._held is not None or time.monotonic() < due:
                if self._held is None:
                    _courier().schedule(self, due)
                self._held = text
                return
            self._last_sent = time.monotonic()
            self._send(text)  # under the lock: statuses leave in the order they were set

    def close(self) -> None:
        """Send the status held, if any; later ones are dropped (the job has ended)."""
        with self._lock, contextlib.suppress(OSError):  # the job's own outcome matters more
            self._closed = True
            self._flush()

    def release(self) -> None:
        """The interval is over: send the status held (the courier calls this)."""
        with self._lock, contextlib.suppress(OSError):  # a closed channel: the job is gone
            if not self._closed:
                self._flush()

    def _flush(self) -> None:
        if self._held is not None:
            text, self._held = self._held, None
            self._last_sent = time.monotonic()
            self._send(text)


class _Courier:
    """One daemon thread per process that releases held statuses when they are due."""

    def __init__(self) -> None:
        self._due: dict[StatusPacer, float] = {}
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="qlambda-status", daemon=True).start()

    def schedule(self, pacer: StatusPacer, when: float) -> None:
        with self._changed:
            self._due[pacer] = when
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due:
                    self._changed.wait()
                now = time.monotonic()
                ready = [pacer for pacer, when in self._due.items() if when <= now]
                if not ready:
                    self._changed.wait(min(self._due.values()) - now)
                    continue
                for pacer in ready:
                    del self._due[pacer]
            for pacer in ready:
                pacer.release()


_the_courier: tuple[int, _Courier] | None = None  # (the process it runs in, the courier)
_courier_lock = threading.Lock()


def _courier() -> _Courier:
    """This process's courier (a forked child has the parent's, without its thread)."""
    global _the_courier
    with _courier_lock:
        if _the_courier is None or _the_courier[0] != os.getpid():
            _the_courier = (os.getpid(), _Courier())
        return _the_courier[1]
