"""Traces: what the platform measured, in the simulator's input format.

One row per finished job (``pre``, ``cost_time``, ``post``, ``num_iterations``) and
one per quantum task (``exec_time``), keyed by ``n_qubits``, with the same files
and columns as the published traces of paper 000, so a measured workload replays
in ``qlambda simulate --traces DIR``. From the job's start on the worker:

* ``pre``: start to its first quantum task (queueing before start is the platform's,
  not the workload's; the simulator models it);
* ``cost_time``: mean classical time between one quantum task's end and the next one's
  submission;
* ``post``: last quantum task's end to the job's end;
* ``exec_time``: each quantum task's QPU busy time (the emulated device time when the
  backend emulates one).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qlambda.core.events import EventKind
from qlambda.core.states import JobStatus
from qlambda.store import Store

TRACE_FILES = ("pre", "cost_time", "post", "num_iterations", "exec_time")


def job_traces(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per DONE job with quantum tasks, one row per quantum task)."""
    store.writer.flush()
    jobs = store.list_jobs(statuses=[JobStatus.DONE.value], limit=None, newest_first=False)
    starts: dict[str, float] = {}
    for event in store.events():
        if event.kind is EventKind.STARTED:
            starts[event.job_id] = event.ts  # the last attempt counts
    tasks = pd.DataFrame(store.quantum_tasks())
    job_rows, task_rows = [], []
    for job in jobs:
        started = starts.get(job["id"])
        if started is None or tasks.empty:
            continue
        mine = tasks[
            (tasks.job_id == job["id"]) & (tasks.outcome == "done") & (tasks.queued_at >= started)
        ].sort_values("queued_at")
        if mine.empty:
            continue
        n_qubits = int(mine.num_qubits.max())
        gaps = mine.queued_at.to_numpy()[1:] - mine.finished_at.to_numpy()[:-1]
        job_rows.append(
            {
                "job_id": job["id"],
                "function": job["function_name"],
                "priority": job["priority"],
                "n_qubits": n_qubits,
                "pre": float(mine.queued_at.iloc[0] - started),
                "cost_time": float(gaps.mean()) if len(gaps) else 0.0,
                "post": float(job["ended_at"] - mine.finished_at.iloc[-1]),
                "num_iterations": len(mine),
                "job_time": float(job["ended_at"] - job["created_at"]),
            }
        )
        task_rows.extend(
            {"job_id": job["id"], "n_qubits": n_qubits, "exec_time": float(t)}
            for t in mine.busy_seconds
        )
    return pd.DataFrame(job_rows), pd.DataFrame(task_rows)


def export_traces(store: Store, directory: str | Path) -> dict[str, Path]:
    """Write the five trace files into ``directory``; returns their paths."""
    jobs, tasks = job_traces(store)
    if jobs.empty:
        raise ValueError(
            "no finished job with quantum tasks to export yet: run jobs that call "
            "ctx.sampler() or ctx.estimator() first"
        )
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in TRACE_FILES:
        frame = tasks if name == "exec_time" else jobs
        path = out / f"{name}.csv"
        frame[["n_qubits", name]].to_csv(path, index=False)
        written[name] = path
    return written
