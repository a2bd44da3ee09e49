"""Run the embedded platform under a Poisson stream of jobs of known shape, and measure it.

One run is one platform configuration (workers C, one QPU backend with Q slots that
emulates device time, a scheduling policy, admission limits). It first times the
jobs' classical kernel in a worker (S); then submits the planned jobs at their
arrival times and waits for every one to end; then reads the store (each job's
status and times, each quantum task) and calibrates from those records what the
model needs and the jobs do not say (:class:`Calibration`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray
from qlambda.policy import POLICIES
from qlambda.sim.model import Overhead
from qlambda.sim.traces import load_traces
from qlambda.twin import job as twin_job

SIZES = (4, 6, 8)
PRIORITIES = (1.0, 2.0, 4.0)
# The VQE shape: the published traces' iterations divided by this, so a job has tens
# of quantum tasks instead of hundreds.
ITERATION_DIVISOR = 60
SHOTS = 256
BACKEND = "qpu"

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class TwinConfig:
    """One platform run: what serves the jobs and how fast they arrive.

    ``load`` is the offered QPU load, mean QPU seconds a job brings over
    (interarrival x Q); the interarrival follows from it once the QPU time per
    task is calibrated. ``time_scale`` scales the emulated device time (and the
    jobs' classical work with it), so a run lasts seconds, not days.
    """

    policy: str = "fifo"
    load: float = 0.7
    jobs: int = 120
    workers: int = 2
    qpus: int = 2
    c_max: int | None = None
    q_max: int | None = None
    time_scale: float = 0.015
    seed: int = 1
    sizes: tuple[int, ...] = SIZES
    priorities: tuple[float, ...] = PRIORITIES

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigurationError(
                f"unknown policy {self.policy!r}; accepted: {', '.join(POLICIES)}"
            )
        if not 0 < self.load < 5:
            raise ConfigurationError(f"load must be in (0, 5), got {self.load}")
        for name in ("jobs", "workers", "qpus"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        for name in ("c_max", "q_max"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{name} must be a positive integer or none")
        if not 0.001 <= self.time_scale <= 1:
            raise ConfigurationError(f"time_scale must be in [0.001, 1], got {self.time_scale}")
        if not self.sizes or any(q not in (4, 6, 8, 10) for q in self.sizes):
            raise ConfigurationError(f"sizes must be among 4, 6, 8, 10; got {self.sizes}")
        if not self.priorities or any(not p > 0 for p in self.priorities):
            raise ConfigurationError(f"priorities must be > 0, got {self.priorities}")

    @property
    def label(self) -> str:
        return f"{self.policy} load {self.load:g}"


@dataclass(frozen=True)
class PlannedJob:
    """One job of the stream: its arrival offset, class and work (operations)."""

    gap: float  # seconds after the previous submission, at unit interarrival
    qubits: int
    priority: float
    iterations: int
    pre_seconds: float  # classical work, in seconds at the calibrated speed
    iteration_seconds: float
    post_seconds: float


def plan_jobs(config: TwinConfig) -> list[PlannedJob]:
    """The job stream, from the seed alone: the same jobs for every policy and load.

    Sizes and priorities are uniform; iterations and classical work are drawn from
    the published VQE traces of each size: iterations / ``ITERATION_DIVISOR``, the
    per-iteration classical time x ``time_scale`` (as the QPU's), and the preparation
    and post-processing x ``time_scale / ITERATION_DIVISOR``, so that a job shrunk to
    fewer iterations keeps its published ratio of classical to quantum time. Gaps are
    exponential with mean 1, scaled later.
    """
    traces = load_traces()
    rng = np.random.default_rng(config.seed)
    once = config.time_scale / ITERATION_DIVISOR

    def pick(samples: FloatArray) -> float:
        return float(samples[rng.integers(len(samples))])

    jobs = []
    for _ in range(config.jobs):
        qubits = int(rng.choice(config.sizes))
        jobs.append(
            PlannedJob(
                gap=float(rng.exponential(1.0)),
                qubits=qubits,
                priority=float(rng.choice(config.priorities)),
                iterations=max(1, round(pick(traces.iterations[qubits]) / ITERATION_DIVISOR)),
                pre_seconds=pick(traces.pre[qubits]) * once,
                iteration_seconds=pick(traces.classical[qubits]) * config.time_scale,
                post_seconds=pick(traces.post[qubits]) * once,
            )
        )
    return jobs


@dataclass(frozen=True)
class Calibration:
    """What the model needs beside the jobs, measured on the idle platform.

    ``speed``: operations per second of the jobs' classical kernel in a worker (S).
    ``qpu_seconds``: per size, the mean time a quantum task holds a QPU slot (from the
    dispatcher's start to its finish: the emulated device time and the hand-over).
    ``overhead``: the platform's own time per classical task (see ``Overhead``):
    each recorded classical stretch minus its planned work.
    """

    speed: float
    qpu_seconds: dict[int, float]
    overhead: Overhead


@dataclass
class Measured:
    """One platform run: its configuration, calibration and what every job did."""

    config: TwinConfig
    calibration: Calibration
    interarrival: float
    # arrival, qubits, priority, iterations, *_seconds (planned), status, job_time,
    # end_stretch (last answer to the job's end)
    jobs: pd.DataFrame
    # job (index in jobs), seq, num_qubits, queued_at, started_at, finished_at, held
    # (finished - started), gap (queued_at - the job's previous task's finished_at)
    tasks: pd.DataFrame
    wall_seconds: float
    data_dir: Path
    traces_dir: Path | None = None

    @property
    def drop_probability(self) -> float:
        return float((self.jobs.status == "DROPPED").mean())

    @property
    def utilisation(self) -> float:
        """QPU slot-seconds held over Q x (first arrival to last end)."""
        done = self.jobs[self.jobs.status == "DONE"]
        span = float((done.arrival + done.job_time).max() - self.jobs.arrival.min())
        return float(self.tasks.held.sum()) / (self.config.qpus * span) if span > 0 else 0.0


def _operations(seconds: float, speed: float) -> int:
    return max(0, round(seconds * speed))


def _job_arguments(planned: PlannedJob, speed: float, seed: int) -> dict[str, Any]:
    return {
        "qubits": planned.qubits,
        "iterations": planned.iterations,
        "pre_ops": _operations(planned.pre_seconds, speed),
        "iteration_ops": _operations(planned.iteration_seconds, speed),
        "post_ops": _operations(planned.post_seconds, speed),
        "shots": SHOTS,
        "seed": seed,
    }


def _times(store: Any, job_ids: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    store.writer.flush()
    rows = {row["id"]: row for row in store.list_jobs(limit=None, newest_first=False)}
    jobs = pd.DataFrame([rows[i] for i in job_ids])
    tasks = pd.DataFrame(store.quantum_tasks())
    index = {job_id: k for k, job_id in enumerate(job_ids)}
    if not tasks.empty:
        tasks = tasks[tasks.job_id.isin(index) & (tasks.outcome == "done")].copy()
        tasks["job"] = tasks.job_id.map(index)
        tasks["held"] = tasks.finished_at - tasks.started_at
    return jobs, tasks


def export_stream_traces(
    store: Any, job_ids: Sequence[str], directory: Path, config: TwinConfig
) -> Path | None:
    """The stream's jobs (not the calibration's) in the simulator's trace format, with
    ``platform.json`` and ``arrivals.csv`` (every submission, dropped ones too)."""
    from qlambda.platform.traces import TRACE_FILES, describe_recording, job_traces

    jobs, tasks = job_traces(store)
    if jobs.empty:
        return None
    keep = set(job_ids)
    jobs = jobs[jobs.job_id.isin(keep)]
    tasks = tasks[tasks.job_id.isin(keep)]
    if jobs.empty:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    for name in TRACE_FILES:
        frame = tasks if name == "exec_time" else jobs
        frame[["n_qubits", name]].to_csv(directory / f"{name}.csv", index=False)
    recording = describe_recording(
        jobs,
        tasks,
        workers=config.workers,
        qpus=config.qpus,
        policy=config.policy,
        c_max=config.c_max,
        q_max=config.q_max,
    )
    if recording is not None:
        (directory / "platform.json").write_text(json.dumps(recording, indent=2) + "\n")
    rows = {row["id"]: row for row in store.list_jobs(limit=None, newest_first=False)}
    created = [rows[i]["created_at"] for i in job_ids]
    pd.DataFrame(
        {
            "arrival": np.asarray(created) - min(created),
            "priority": [rows[i]["priority"] for i in job_ids],
        }
    ).to_csv(directory / "arrivals.csv", index=False)
    return directory


def measure_speed(client: Any) -> float:
    """S: operations per second of the jobs' classical kernel in one of the workers."""
    return float(client.run(twin_job.calibrate).result(timeout=120)["ops_per_second"])


def calibrate(
    speed: float, planned: Sequence[PlannedJob], jobs: pd.DataFrame, tasks: pd.DataFrame
) -> Calibration:
    """The model's service times, from the platform's own records of the stream.

    Only per-task quantities are read, never a job's waiting or its job time (what the
    simulator must predict): how long each quantum task held its QPU slot, and how much
    longer than its planned classical work each classical stretch took. Iterations and
    ends count by their mean: a job's time grows by the sum of its overheads, so their
    mean is what moves job times (on a busy machine the control plane's tail is long;
    medians made the simulator 2-4 % fast). The start counts by its median: it
    includes waiting for a free worker, a queue the model forms itself, which the mean
    would count twice. ``jobs`` are the store's rows of the planned jobs, in order;
    ``tasks`` their quantum tasks.
    """
    sizes = sorted({p.qubits for p in planned})
    held = {q: float(tasks[tasks.num_qubits == q].held.mean()) for q in sizes}
    starts, iterations, ends = [], [], []
    for k, item in enumerate(planned):
        mine = tasks[tasks.job == k].sort_values("seq")
        if mine.empty:
            continue  # dropped
        row = jobs.iloc[k]
        queued = mine.queued_at.to_numpy()
        finished = mine.finished_at.to_numpy()
        iterations.extend(queued[1:] - finished[:-1] - item.iteration_seconds)
        starts.append(float(queued[0] - row.created_at) - item.pre_seconds)
        ends.append(float(row.ended_at - finished[-1]) - item.post_seconds)
    if not starts:
        raise RuntimeError("no job of the stream ran a quantum task: nothing to calibrate")
    iteration = float(np.mean(iterations)) if iterations else 0.0
    overhead = Overhead(
        # the model's first iteration brings its own overhead: the start is the rest
        start=max(0.0, float(np.median(starts)) - iteration),
        iteration=max(0.0, iteration),
        end=max(0.0, float(np.mean(ends))),
    )
    return Calibration(speed=speed, qpu_seconds=held, overhead=overhead)


def mean_qpu_seconds(planned: Sequence[PlannedJob], seconds: float) -> float:
    """QPU seconds an average job brings, at ``seconds`` per task."""
    return seconds * float(np.mean([p.iterations for p in planned]))


def _estimated_task_seconds(config: TwinConfig) -> float:
    """How long a task of the planned circuits keeps a QPU busy, from the backend's own
    estimate (before any task ran): what sets the arrival rate for the asked load."""
    from qiskit.circuit.library import efficient_su2

    from qlambda.quantum.config import load_backends
    from qlambda.quantum.request import estimate_qpu_seconds, make_request

    backend = load_backends([_backend(config)])[0]
    seconds = []
    for qubits in config.sizes:
        circuit = efficient_su2(qubits, reps=1)
        circuit.measure_all()
        bound = circuit.assign_parameters([0.0] * circuit.num_parameters)
        request = make_request("sampler", [bound], shots=SHOTS)
        seconds.append(estimate_qpu_seconds(request, backend) * config.time_scale)
    return float(np.mean(seconds))


def _backend(config: TwinConfig) -> dict[str, Any]:
    return {
        "name": BACKEND,
        "kind": "aer",
        "num_qubits": max(config.sizes),
        "concurrency": config.qpus,
        "emulate_qpu_time": True,
        "time_scale": config.time_scale,
        "seed": config.seed,
    }


def run_platform(
    config: TwinConfig,
    data_dir: str | Path,
    progress: Progress | None = None,
) -> Measured:
    """Start the embedded platform as ``config`` says, calibrate, run the stream, measure."""
    import qlambda

    data_dir = Path(data_dir)
    planned = plan_jobs(config)
    interarrival = mean_qpu_seconds(planned, _estimated_task_seconds(config)) / (
        config.load * config.qpus
    )
    started = time.perf_counter()
    client = qlambda.Client(
        data_dir=data_dir,
        workers=config.workers,
        backends=[_backend(config)],
        policy=config.policy,
        seed=config.seed,
        c_max=config.c_max,
        q_max=config.q_max,
    )
    try:
        if not client.wait_ready(timeout=180):
            raise RuntimeError("the embedded platform did not start within 180 s")
        speed = measure_speed(client)
        handles = []
        next_at = time.monotonic() + 0.2
        for k, item in enumerate(planned):
            next_at += item.gap * interarrival if k else 0.0
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            handles.append(
                client.run(
                    twin_job.vqe_shape,
                    priority=item.priority,
                    **_job_arguments(item, speed, config.seed * 100_003 + k),
                )
            )
            if progress:
                progress("submitting", k + 1, len(planned))
        for k, handle in enumerate(handles):
            if not handle.wait(timeout=600):
                raise RuntimeError(f"job {handle.id} did not end within 600 s")
            if progress:
                progress("ending", k + 1, len(handles))
        rows, tasks = _times(client.platform.store, [h.id for h in handles])
        calibration = calibrate(speed, planned, rows, tasks)
        traces_dir = export_stream_traces(
            client.platform.store, [h.id for h in handles], data_dir / "traces", config
        )
    finally:
        client.close()
    origin = float(rows.created_at.min())
    table = pd.DataFrame([asdict(p) for p in planned]).drop(columns="gap")
    table.insert(0, "arrival", list(rows.created_at.to_numpy() - origin))
    table["status"] = rows.status.to_numpy()
    table["job_time"] = np.where(
        table.status == "DONE", rows.ended_at.to_numpy() - rows.created_at.to_numpy(), np.nan
    )
    table["end_stretch"] = np.nan
    if not tasks.empty:
        tasks = tasks.sort_values(["job", "seq"])
        previous = tasks.groupby("job").finished_at.shift()
        tasks["gap"] = tasks.queued_at - previous  # NaN for a job's first task
        last = tasks.groupby("job").finished_at.max()
        ended = rows.ended_at.to_numpy()[last.index]
        table.loc[last.index, "end_stretch"] = ended - last.to_numpy()
        tasks = tasks[
            ["job", "seq", "num_qubits", "queued_at", "started_at", "finished_at", "held", "gap"]
        ]
    failed = table[~table.status.isin(["DONE", "DROPPED"])]
    if len(failed):
        raise RuntimeError(
            f"{len(failed)} twin job(s) ended {', '.join(sorted(set(failed.status)))}; "
            f"see the jobs in {data_dir}"
        )
    return Measured(
        config=config,
        calibration=calibration,
        interarrival=interarrival,
        jobs=table,
        tasks=tasks,
        wall_seconds=time.perf_counter() - started,
        data_dir=data_dir,
        traces_dir=traces_dir,
    )
