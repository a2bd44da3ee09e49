"""QPUs and workers: each backend's queue, running task, utilisation over the last hour,
calibration and its drift; the scheduling policy, the admission limits and the worker
pool. Read from the dispatcher, the engine, the calibration manager and the store."""

from __future__ import annotations

import statistics
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from qlambda.dashboard import charts
from qlambda.dashboard.web import Viewer, ViewerDep, platform_of, render
from qlambda.gateway.settings import GatewaySettings
from qlambda.platform import Platform

router = APIRouter()
WINDOW = 3600.0  # utilisation over the last hour...
BUCKET = 60.0  # ...a point a minute
DRIFT_SNAPSHOTS = 48


def utilisation(platform: Platform, now: float) -> dict[str, list[tuple[float, float]]]:
    """Per backend, the share of its slots busy in each minute of the last hour."""
    start = now - WINDOW
    slots = {b.name: b.concurrency for b in platform.backends}
    count = int(WINDOW / BUCKET)
    busy = {name: [0.0] * count for name in slots}
    for task in platform.store.quantum_tasks_between(start, now + 1):
        began = task["started_at"]
        if began is None or task["backend"] not in busy:
            continue
        _spread(busy[task["backend"]], max(began, start) - start, task["finished_at"] - start)
    for name, tasks in platform.dispatcher.executing().items():  # still running
        for task in tasks:
            if name in busy and task["started_at"] is not None:
                _spread(busy[name], max(task["started_at"], start) - start, now - start)
    return {
        name: [
            (start + (i + 0.5) * BUCKET, min(1.0, b / (BUCKET * slots[name])))
            for i, b in enumerate(row)
        ]
        for name, row in busy.items()
    }


def _spread(row: list[float], begin: float, end: float) -> None:
    """Add the busy interval [begin, end) (seconds into the window) to its buckets."""
    if end <= begin:
        return
    first, last = int(begin // BUCKET), int(min(end, WINDOW - 1e-9) // BUCKET)
    for i in range(max(first, 0), min(last, len(row) - 1) + 1):
        low, high = i * BUCKET, (i + 1) * BUCKET
        row[i] += max(0.0, min(end, high) - max(begin, low))


def calibration(platform: Platform, backend: str) -> dict[str, Any] | None:
    """The current snapshot's medians, and how they moved over the stored history."""
    manager = platform.calibration
    if backend not in manager.backends:
        return None
    current = manager.current(backend)
    if current is None:
        return None
    history = list(reversed(manager.history(backend, DRIFT_SNAPSHOTS)))  # oldest first
    readout = [_median([e for pair in s.readout_errors().values() for e in pair]) for s in history]
    two_qubit = [_median(list(s.two_qubit_errors().values())) for s in history]

    def change(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        if len(known) < 2 or not known[0]:
            return "no drift yet"
        return f"{(known[-1] / known[0] - 1):+.1%} over {len(known)} snapshots"

    return {
        "device": current.device,
        "device_date": current.device_date,
        "taken_at": current.taken_at,
        "step": current.step,
        "snapshot": current.id,
        "qubits": len(current.qubits),
        "t1": _median([q.t1 for q in current.qubits if q.t1 is not None]),
        "t2": _median([q.t2 for q in current.qubits if q.t2 is not None]),
        "readout": readout[-1] if readout else None,
        "two_qubit": two_qubit[-1] if two_qubit else None,
        "readout_drift": change(list(readout)),
        "two_qubit_drift": change(list(two_qubit)),
        "readout_chart": charts.sparkline(
            [v for v in readout if v is not None], f"median readout error of {backend}"
        ),
        "two_qubit_chart": charts.sparkline(
            [v for v in two_qubit if v is not None], f"median two-qubit error of {backend}"
        ),
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def qpus_context(platform: Platform, settings: GatewaySettings, who: Viewer) -> dict[str, Any]:
    now = time.time()
    executing = platform.dispatcher.executing()
    backends = []
    for row in platform.dispatcher.stats():
        running = []
        for task in executing.get(row["backend"], []):
            try:
                owner = platform.info(task["job_id"]).owner
            except KeyError:
                owner = None
            mine = who.is_admin or owner == who.name
            running.append({**task, "visible": mine})
        backends.append(
            {**row, "executing": running, "calibration": calibration(platform, row["backend"])}
        )
    lines = utilisation(platform, now)
    chart: Markup = charts.series(
        lines, "share of each backend's slots busy, per minute, last hour", 1.0, percent=True
    )
    admission = platform.admission
    return {
        "backends": backends,
        "chart": chart,
        "policy": platform.config.policy,
        "selection": platform.config.backend_selection,
        "c_max": admission.c_max,
        "q_max": admission.q_max,
        "pending_quantum": platform.dispatcher.pending_count(),
        "workers": platform.engine.stats(),
        "engine": platform.config.engine,
        "settings": settings,
    }


@router.get("/qpus", response_class=HTMLResponse)
def qpus_page(request: Request, who: ViewerDep) -> HTMLResponse:
    context = qpus_context(platform_of(request), request.app.state.settings, who)
    return render(request, "qpus.html", who, **context)


@router.get("/qpus/panel", response_class=HTMLResponse)
def qpus_panel(request: Request, who: ViewerDep) -> HTMLResponse:
    """The page's content alone, read again every few seconds by the page."""
    context = qpus_context(platform_of(request), request.app.state.settings, who)
    return render(request, "_qpus_panel.html", who, **context)
