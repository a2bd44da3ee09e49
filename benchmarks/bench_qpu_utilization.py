"""QPU busy fraction under saturating load.

Several jobs issue quantum tasks back to back to one emulated QPU, so a task is
always waiting when the QPU frees. A dispatcher that never idles a QPU while work
waits has a busy fraction of exactly 1; the table shows how close the platform
comes, for several task lengths:

* occupied: the share of the window in which the dispatcher had a task on the QPU
  (from handing it over to getting its result back); ``gap`` is the idle time
  between one task's result and the next task's hand-over (the policy's pick);
* device busy: the share in which the device itself was executing, as the executor
  measures it; the difference is the fixed cost of a hand-over (messages between
  processes, a thread waking up), which matters only for very short tasks.

    .venv/bin/python benchmarks/bench_qpu_utilization.py [--jobs 4] [--tasks 25]
"""

from __future__ import annotations

import argparse
import tempfile

import pandas as pd

import qlambda

ESTIMATE_SECONDS = 2.4 + 10 * 250e-6  # the default device model for a 1-qubit, 10-shot task


def hammer(ctx, tasks):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1)
    circuit.h(0)
    circuit.measure_all()
    sampler = ctx.sampler("qpu")
    for _ in range(tasks):
        sampler.run([circuit], shots=10).result()
    return tasks


def measure(task_seconds: float, jobs: int, tasks: int) -> dict[str, float]:
    backend = {
        "name": "qpu",
        "kind": "aer",
        "emulate_qpu_time": True,
        "time_scale": task_seconds / ESTIMATE_SECONDS,
    }
    with (
        tempfile.TemporaryDirectory() as data,
        qlambda.Client(data_dir=data, workers=2, backends=[backend], policy="fifo") as client,
    ):
        client.wait_ready()
        handles = [client.run(hammer, tasks=tasks) for _ in range(jobs)]
        for handle in handles:
            handle.result()
        client.platform.store.writer.flush()
        rows = pd.DataFrame(client.platform.store.quantum_tasks()).sort_values("started_at")
    # the saturated window: while more than one job still had tasks to send
    rows = rows.iloc[: len(rows) - tasks // 2]
    span = rows.finished_at.max() - rows.started_at.min()
    gaps = rows.started_at.to_numpy()[1:] - rows.finished_at.to_numpy()[:-1]
    return {
        "task ms": 1e3 * rows.busy_seconds.mean(),
        "tasks": len(rows),
        "occupied": (rows.finished_at - rows.started_at).sum() / span,
        "device busy": rows.busy_seconds.sum() / span,
        "mean gap ms": 1e3 * gaps.mean(),
        "max gap ms": 1e3 * gaps.max(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=16, help="quantum tasks per job")
    parser.add_argument("--task-seconds", type=float, nargs="*", default=[0.02, 0.1, 0.5])
    args = parser.parse_args()
    table = pd.DataFrame([measure(s, args.jobs, args.tasks) for s in args.task_seconds])
    table.insert(2, "exact", 1.0)
    print(f"\nOne QPU, {args.jobs} jobs x {args.tasks} tasks back to back (saturated window)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("target: busy fraction at least 0.99 (exact: 1)")


if __name__ == "__main__":
    main()
