"""Traces: what the platform measured, in the simulator's input format.

One row per finished job (``pre``, ``cost_time``, ``post``, ``num_iterations``) and
one per quantum task (``exec_time``), keyed by ``n_qubits``, with the same files
and columns as the published traces of Cicconetti [1], so a measured workload replays
in ``qlambda simulate --traces DIR``. From the job's start on the worker:

* ``pre``: start to its first quantum task (queueing before start is the platform's,
  not the workload's; the simulator models it);
* ``cost_time``: mean classical time between one quantum task's end and the next one's
  submission;
* ``post``: last quantum task's end to the job's end;
* ``exec_time``: each quantum task's QPU busy time (the emulated device time when the
  backend emulates one).

Beside them ``platform.json`` records what the traces alone cannot say: how fast jobs
arrived (the mean gap between submissions), their priorities, and the platform that
served them (workers, QPU slots, policy, admission limits), so
``qlambda simulate replay --traces DIR`` replays the workload where it was measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from qlambda.core.events import EventKind
from qlambda.core.states import JobStatus
from qlambda.store import Store

TRACE_FILES = ("pre", "cost_time", "post", "num_iterations", "exec_time")
RECORDING_FILE = "platform.json"


def job_traces(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per DONE job with quantum tasks, one row per quantum task)."""
    store.writer.flush()
    jobs = store.list_jobs(statuses=[JobStatus.DONE.value], limit=None, newest_first=False)
    starts: dict[str, float] = {}
    requeued: dict[str, float] = {}
    for event in store.events():
        if event.kind is EventKind.STARTED:
            starts[event.job_id] = event.ts  # the last attempt counts
        elif event.kind is EventKind.REQUEUED:
            requeued[event.job_id] = event.ts  # its tasks came after the last requeue
    tasks = pd.DataFrame(store.quantum_tasks())
    job_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for job in jobs:
        started = starts.get(job["id"])
        if started is None or tasks.empty:
            continue
        # Not ``queued_at >= started``: the job's first request and the news of its start
        # reach the control plane on two sockets, and the request may be read first.
        since = requeued.get(job["id"], float("-inf"))
        mine = tasks[
            (tasks.job_id == job["id"]) & (tasks.outcome == "done") & (tasks.queued_at >= since)
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
                "pre": max(0.0, float(mine.queued_at.iloc[0] - started)),
                "cost_time": float(gaps.mean()) if len(gaps) else 0.0,
                "post": float(job["ended_at"] - mine.finished_at.iloc[-1]),
                "num_iterations": len(mine),
                "job_time": float(job["ended_at"] - job["created_at"]),
                "created_at": float(job["created_at"]),
            }
        )
        task_rows.extend(
            {"job_id": job["id"], "n_qubits": n_qubits, "exec_time": float(t), "backend": b}
            for t, b in zip(mine.busy_seconds, mine.backend, strict=True)
        )
    return pd.DataFrame(job_rows), pd.DataFrame(task_rows)


def export_traces(
    store: Store,
    directory: str | Path,
    *,
    workers: int | None = None,
    qpus: int | None = None,
    policy: str | None = None,
    c_max: int | None = None,
    q_max: int | None = None,
) -> dict[str, Path]:
    """Write the five trace files and ``platform.json`` into ``directory``; returns their
    paths (``platform.json`` only with two jobs or more, which give an arrival rate).

    ``workers`` defaults to this machine's cpus (the platform's default), ``qpus`` to
    the number of backends the jobs used.
    """
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
    recording = describe_recording(
        jobs,
        tasks,
        workers=workers or os.cpu_count() or 1,
        qpus=qpus,
        policy=policy,
        c_max=c_max,
        q_max=q_max,
    )
    if recording is not None:
        path = out / RECORDING_FILE
        path.write_text(json.dumps(recording, indent=2) + "\n")
        written["platform"] = path
    return written


def describe_recording(
    jobs: pd.DataFrame,
    tasks: pd.DataFrame,
    *,
    workers: int,
    qpus: int | None = None,
    policy: str | None = None,
    c_max: int | None = None,
    q_max: int | None = None,
) -> dict[str, Any] | None:
    """The content of ``platform.json``; ``None`` with fewer than two jobs."""
    arrivals = sorted(jobs["created_at"])
    if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return None
    return {
        "workers": int(workers),
        "qpus": int(qpus or max(1, tasks["backend"].nunique())),
        "interarrival": (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1),
        "priorities": sorted({float(p) for p in jobs["priority"]}),
        "policy": policy,
        "c_max": c_max,
        "q_max": q_max,
        "jobs": len(jobs),
    }
