"""The calibration manager: each calibrated backend's calibration, snapshotted into the store.

A snapshot is taken when the platform starts, on demand (:meth:`CalibrationManager.refresh`)
and, for backends configured with ``calibration_refresh_seconds``, periodically. A snapshot
is stored only when it differs from the backend's previous one, so the table is the
history of changes. The backend's kind reads it (a fake device's bundled file; for a
kind whose calibration only its executor can read, through ``fetch``). Fake devices are
static, so a backend with ``calibration_drift > 0``
drifts (seeded, :class:`~qlambda.quantum.calibration.DriftModel`): its calibration moves
every ``drift_interval_seconds`` of the platform's life.

Everything here is JSON and arithmetic: the control plane reads calibration files without
importing Qiskit. The QPU executors receive the current snapshot with each task and
compile and simulate against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from qlambda.quantum.backends import backend_kind
from qlambda.quantum.calibration import Calibration, DriftModel
from qlambda.store import Store

Listener = Callable[[Calibration, Calibration | None], None]


class CalibrationManager:
    def __init__(
        self,
        store: Store,
        backends: Sequence[Any],
        *,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str, float], Calibration | None] | None = None,
    ) -> None:
        """``fetch(backend, now)``: the calibration of a backend whose kind reads it in
        its executor (:attr:`~qlambda.quantum.backends.BackendKind.calibration_from_device`)."""
        self.store = store
        self._clock = clock
        self._fetch = fetch
        self._configs = {b.name: b for b in backends if backend_kind(b.kind).calibrated(b)}
        self._drift = {
            name: DriftModel(
                seed=config.seed or 0,
                sigma=config.calibration_drift,
                interval_seconds=config.drift_interval_seconds,
            )
            for name, config in self._configs.items()
            if config.calibration_drift > 0
        }
        self._base: dict[str, Calibration] = {}
        self._current: dict[str, Calibration] = {}
        self._started_at = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []

    @property
    def backends(self) -> list[str]:
        """The backends that have a calibration (ideal simulators have none)."""
        return list(self._configs)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -------------------------------------------------------------- snapshots
    def current(self, backend: str) -> Calibration | None:
        """The latest snapshot of ``backend`` (taken now if there is none yet)."""
        snapshot = self._current.get(backend)
        if snapshot is None and backend in self._configs:
            snapshot = self.refresh(backend)
        return snapshot

    def refresh(self, backend: str, *, now: float | None = None) -> Calibration:
        """Snapshot ``backend``'s calibration now; stored if it changed."""
        if backend not in self._configs:
            raise KeyError(
                f"backend {backend!r} has no calibration; calibrated backends: "
                f"{', '.join(self._configs) or 'none'}"
            )
        now = self._clock() if now is None else now
        with self._lock:
            base = self._base.get(backend)
            if base is None or self._from_device(backend):
                base = self._read(backend, now)
                self._base[backend] = base
            drift = self._drift.get(backend)
            if drift is None:
                snapshot = _retimed(base, now)
            else:
                snapshot = drift.apply(base, drift.step_at(now - self._started_at), now)
            previous = self._current.get(backend)
            if previous is not None and previous.id == snapshot.id:
                return previous
            self._current[backend] = snapshot
        self.store.add_calibration(
            {
                "backend": backend,
                "snapshot": snapshot.id,
                "taken_at": snapshot.taken_at,
                "device_date": snapshot.device_date,
                "step": snapshot.step,
                "data": snapshot.to_json(),
            }
        )
        for listener in self._listeners:
            listener(snapshot, previous)
        return snapshot

    def _from_device(self, backend: str) -> bool:
        return backend_kind(self._configs[backend].kind).calibration_from_device

    def _read(self, backend: str, now: float) -> Calibration:
        config = self._configs[backend]
        kind = backend_kind(config.kind)
        if kind.calibration_from_device:
            if self._fetch is None:
                raise RuntimeError(f"backend {backend!r}: its calibration is read by its executor")
            snapshot = self._fetch(backend, now)
        else:
            snapshot = kind.calibration(config, now)
        if snapshot is None:
            raise RuntimeError(f"backend {backend!r} ({config.kind}) gave no calibration")
        return snapshot

    def refresh_all(self) -> list[Calibration]:
        return [self.refresh(name) for name in self._configs]

    def history(self, backend: str, limit: int | None = None) -> list[Calibration]:
        """Stored snapshots of ``backend``, newest first."""
        self.store.writer.flush()
        return [
            Calibration.from_json(row["data"]) for row in self.store.calibrations(backend, limit)
        ]

    # ---------------------------------------------------------------- periodic
    def start(self) -> None:
        """Take the first snapshots; refresh periodically those configured to be."""
        self.refresh_all()
        periods = [
            c.calibration_refresh_seconds
            for c in self._configs.values()
            if c.calibration_refresh_seconds is not None
        ]
        if periods and self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, args=(min(periods),), name="calibration", daemon=True
            )
            self._thread.start()

    def _loop(self, period: float) -> None:
        due = {
            name: self._clock() + c.calibration_refresh_seconds
            for name, c in self._configs.items()
            if c.calibration_refresh_seconds is not None
        }
        while not self._stop.wait(period):
            now = self._clock()
            for name, at in due.items():
                if now >= at:
                    self.refresh(name, now=now)
                    due[name] = now + self._configs[name].calibration_refresh_seconds

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _retimed(base: Calibration, now: float) -> Calibration:
    import dataclasses

    return dataclasses.replace(base, taken_at=now)
