"""A job's life as the lanes of a Gantt chart, read from its stored events.

Lanes: the job (queued from submission to its start, running to its end, each attempt
again after a restart), its classical stretches (running and no quantum task waiting or
executing), and one lane per backend with each quantum task's wait and execution.
Points mark admission, checkpoints, recompilations and the end. A job still running
has its open stretches drawn up to ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qlambda.core.events import Event, EventKind

FINAL = {EventKind.DONE, EventKind.ERROR, EventKind.CANCELED, EventKind.DROPPED}


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    kind: str  # queued | running | classical | wait | execute
    label: str
    open: bool = False  # still going at ``now``


@dataclass(frozen=True)
class Mark:
    ts: float
    kind: str  # admitted | checkpoint | recompiled | end | requeued
    label: str


@dataclass
class Lane:
    name: str
    spans: list[Span] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


@dataclass
class Timeline:
    start: float
    end: float
    lanes: list[Lane]
    ended: bool

    def rows(self) -> list[dict[str, Any]]:
        """Every span and mark as a row (the chart's text alternative), in time order."""
        rows: list[dict[str, Any]] = []
        for lane in self.lanes:
            for span in lane.spans:
                rows.append(
                    {
                        "lane": lane.name,
                        "what": span.label,
                        "start": span.start,
                        "seconds": span.end - span.start,
                        "open": span.open,
                    }
                )
            for mark in lane.marks:
                rows.append(
                    {"lane": lane.name, "what": mark.label, "start": mark.ts, "seconds": None}
                )
        return sorted(rows, key=lambda row: row["start"])


def build(events: list[Event], now: float) -> Timeline | None:
    """The timeline of one job's events (oldest first); None without any."""
    if not events:
        return None
    job = Lane("job")
    classical = Lane("classical")
    backends: dict[str, Lane] = {}
    tasks: dict[int, dict[str, Any]] = {}  # task number -> its times and backend
    queued_since: float | None = None
    running_since: float | None = None
    active_tasks = 0
    classical_since: float | None = None
    end: float | None = None

    def close_classical(ts: float) -> None:
        nonlocal classical_since
        if classical_since is not None and ts > classical_since:
            classical.spans.append(Span(classical_since, ts, "classical", "classical"))
        classical_since = None

    for event in events:
        ts, kind, data = event.ts, event.kind, event.data or {}
        if kind is EventKind.SUBMITTED:
            queued_since = ts
        elif kind is EventKind.ADMITTED:
            job.marks.append(Mark(ts, "admitted", "admitted"))
        elif kind is EventKind.REQUEUED:
            if running_since is not None:
                job.spans.append(Span(running_since, ts, "running", "running (interrupted)"))
                close_classical(ts)
            running_since, queued_since, active_tasks = None, ts, 0
            job.marks.append(Mark(ts, "requeued", f"queued again: {data.get('reason', '')}"))
        elif kind is EventKind.STARTED:
            if queued_since is not None:
                job.spans.append(Span(queued_since, ts, "queued", "queued"))
            queued_since, running_since = None, ts
            attempt = data.get("attempt")
            if attempt and attempt > 1:
                job.marks.append(Mark(ts, "requeued", f"attempt {attempt}"))
            if active_tasks == 0:
                classical_since = ts
        elif kind is EventKind.QPU_QUEUED:
            number = int(data.get("task", 0))
            tasks[number] = {"queued": ts, "backend": str(data.get("backend", "?"))}
            if active_tasks == 0:
                close_classical(ts)
            active_tasks += 1
        elif kind is EventKind.QPU_STARTED:
            task = tasks.setdefault(
                int(data.get("task", 0)), {"queued": ts, "backend": str(data.get("backend", "?"))}
            )
            task["started"] = ts
        elif kind is EventKind.QPU_FINISHED:
            number = int(data.get("task", 0))
            finished = tasks.pop(number, None)
            if finished is not None:
                _task_spans(backends, number, finished, ts, str(data.get("outcome", "done")))
                active_tasks = max(0, active_tasks - 1)
                if active_tasks == 0 and running_since is not None and end is None:
                    classical_since = ts
        elif kind is EventKind.CHECKPOINT:
            job.marks.append(Mark(ts, "checkpoint", f"checkpoint ({data.get('bytes', '?')} B)"))
        elif kind is EventKind.RECOMPILED:
            lane = backends.setdefault(str(data.get("backend", "?")), Lane(""))
            lane.marks.append(Mark(ts, "recompiled", "recompiled: calibration changed"))
        elif kind in FINAL:
            end = ts
            if queued_since is not None:
                job.spans.append(Span(queued_since, ts, "queued", "queued"))
                queued_since = None
            if running_since is not None:
                job.spans.append(Span(running_since, ts, "running", "running"))
                running_since = None
            close_classical(ts)
            reason = data.get("reason")
            label = kind.value + (f": {reason}" if reason else "")
            job.marks.append(Mark(ts, "end", label[:200]))
    last = end if end is not None else max(now, events[-1].ts)
    if end is None:  # still going: what is open runs up to now
        if queued_since is not None:
            job.spans.append(Span(queued_since, last, "queued", "queued", open=True))
        if running_since is not None:
            job.spans.append(Span(running_since, last, "running", "running", open=True))
        if classical_since is not None and last > classical_since:
            classical.spans.append(Span(classical_since, last, "classical", "classical", open=True))
        for number, task in tasks.items():
            _task_spans(backends, number, task, last, None)
    lanes = [job]
    if classical.spans:
        lanes.append(classical)
    for name in sorted(backends):
        lane = backends[name]
        lane.name = f"QPU {name}"
        lanes.append(lane)
    return Timeline(events[0].ts, last, lanes, end is not None)


def _task_spans(
    backends: dict[str, Lane],
    number: int,
    task: dict[str, Any],
    end: float,
    outcome: str | None,
) -> None:
    lane = backends.setdefault(task["backend"], Lane(""))
    started = task.get("started")
    still = outcome is None
    suffix = "" if outcome in (None, "done") else f" ({outcome})"
    if started is None:
        lane.spans.append(
            Span(task["queued"], end, "wait", f"task {number} waits{suffix}", open=still)
        )
        return
    if started > task["queued"]:
        lane.spans.append(Span(task["queued"], started, "wait", f"task {number} waits"))
    lane.spans.append(Span(started, end, "execute", f"task {number} runs{suffix}", open=still))
