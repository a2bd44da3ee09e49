"""Replications: one seed, one sweep point, one engine run; many of them over the cores.

``run(scenario)`` is the Python entry point. It resolves the workload source
once (traces, normalised to target means, or distributions), then runs every
(point, seed) pair, in parallel worker processes when ``jobs > 1``, and
gathers tidy pandas tables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qlambda.core import ConfigurationError
from qlambda.core.arrays import AnyArray
from qlambda.sim.model import Outcome, Platform
from qlambda.sim.scenario import IBM_TARGETS, Point, Scenario
from qlambda.sim.traces import (
    IBM_ESTIMATES_FILE,
    TraceSet,
    default_traces_dir,
    load_traces,
    normalise_quantum,
    read_target_means,
)
from qlambda.sim.workload import (
    OPS_PER_TRACE_SECOND,
    Streams,
    SyntheticWorkload,
    Workload,
    draw_workload,
)

ENGINES = ("fast", "reference")
POINT_COLUMNS = ["policy", "seed", "C", "Q", "S", "interarrival"]

# One replication: its row of the replications table, and its completed jobs' columns.
Replication = tuple[dict[str, Any], dict[str, AnyArray]]


@dataclass(frozen=True)
class WorkloadSource:
    """Where jobs come from: a (normalised) trace set, or distributions."""

    traces: TraceSet | None
    synthetic: SyntheticWorkload | None

    def mean_work(self, qubits: tuple[int, ...]) -> tuple[float, float]:
        """(QPU seconds, classical operations) a job brings on average.

        A job draws its size uniformly from ``qubits``, then its iteration count and
        its per-iteration times independently, so each mean is a product of means.
        """
        if self.synthetic is not None:
            w = self.synthetic
            quantum = w.iterations.mean * w.quantum.mean
            classical = w.pre.mean + w.iterations.mean * w.classical.mean + w.post.mean
            return quantum, classical * OPS_PER_TRACE_SECOND
        assert self.traces is not None
        t = self.traces
        quantum = np.mean([t.iterations[q].mean() * t.quantum[q].mean() for q in qubits])
        classical = np.mean(
            [
                t.pre[q].mean() + t.iterations[q].mean() * t.classical[q].mean() + t.post[q].mean()
                for q in qubits
            ]
        )
        return float(quantum), float(classical) * OPS_PER_TRACE_SECOND


def target_means_path(scenario: Scenario) -> Path:
    if scenario.target_means != IBM_TARGETS:
        return Path(str(scenario.target_means))
    bases = [Path(scenario.traces)] if scenario.traces else []
    bases.append(default_traces_dir())
    for base in bases:
        if (base / IBM_ESTIMATES_FILE).is_file():
            return base / IBM_ESTIMATES_FILE
    raise ConfigurationError(
        f"target means 'ibm' need {IBM_ESTIMATES_FILE} in the trace directory; "
        "set target_means to a file or to none"
    )


def resolve_source(scenario: Scenario) -> WorkloadSource:
    if scenario.synthetic is not None:
        return WorkloadSource(None, scenario.synthetic)
    traces = load_traces(scenario.traces)
    if scenario.target_means is not None:
        means = read_target_means(target_means_path(scenario))
        traces = normalise_quantum(traces, scenario.qubits, means, scenario.allow_unscaled)
    traces.require(scenario.qubits)
    return WorkloadSource(traces, None)


def make_workload(
    scenario: Scenario, source: WorkloadSource, interarrival: float, seed: int
) -> tuple[Workload, Streams]:
    streams = Streams.from_seed(seed)
    workload = draw_workload(
        streams,
        interarrival=interarrival,
        horizon=float(scenario.duration),
        qubits=scenario.qubits,
        priorities=scenario.priorities,
        traces=source.traces,
        synthetic=source.synthetic,
        per_iteration=scenario.redraw_per_iteration,
        arrivals=scenario.arrivals,
    )
    return workload, streams


def engine_function(engine: str) -> Callable[..., Outcome]:
    if engine == "fast":
        from qlambda.sim.fast import simulate_fast

        return simulate_fast
    if engine == "reference":
        from qlambda.sim.reference import simulate_reference

        return simulate_reference
    raise ConfigurationError(f"unknown engine {engine!r}; accepted: {', '.join(ENGINES)}")


def replicate(
    scenario: Scenario, source: WorkloadSource, point: Point, seed: int, engine: str = "fast"
) -> Replication:
    """One replication: its row of the replications table and its completed jobs."""
    started = time.perf_counter()
    workload, streams = make_workload(scenario, source, point.interarrival, seed)
    outcome = engine_function(engine)(point.platform, workload, streams.policy)
    wall = time.perf_counter() - started
    return replication_row(point, seed, outcome, wall), job_columns(workload, outcome)


def _point_values(platform: Platform, interarrival: float, seed: int) -> dict[str, Any]:
    return {
        "policy": platform.policy,
        "seed": seed,
        "C": platform.C,
        "Q": platform.Q,
        "S": platform.S,
        "interarrival": interarrival,
    }


def replication_row(point: Point, seed: int, out: Outcome, wall: float) -> dict[str, Any]:
    p = point.platform
    return {
        **_point_values(p, point.interarrival, seed),
        "C_max": p.c_max,
        "Q_max": p.q_max,
        "duration": p.duration,
        "warmup": p.warmup,
        "reference_compat": p.reference_compat,
        "drop_probability": out.drop_probability,
        "avg_classical_tasks": out.avg_classical_tasks,
        "avg_quantum_tasks": out.avg_quantum_tasks,
        "accepted_per_hour": out.accepted_per_hour,
        "arrived": out.arrived,
        "accepted": out.accepted,
        "dropped": out.dropped,
        "completed": out.completed,
        "arrived_total": out.arrived_total,
        "accepted_total": out.accepted_total,
        "dropped_total": out.dropped_total,
        "completed_total": out.completed_total,
        "in_flight": out.in_flight,
        "events": out.events,
        "wall_seconds": wall,
    }


def job_columns(workload: Workload, out: Outcome) -> dict[str, AnyArray]:
    jobs = out.completed_jobs
    arrival = workload.arrival[jobs]
    return {
        "job": jobs,
        "num_qubits": workload.qubits[jobs],
        "priority": workload.priority[jobs],
        "iterations": workload.iterations[jobs],
        "arrival": arrival,
        "completion": out.completion_times,
        "job_time": out.completion_times - arrival,
    }


@dataclass
class SimResult:
    """Tables of a run: one row per replication, one row per completed job."""

    scenario: Scenario
    replications: pd.DataFrame
    jobs: pd.DataFrame
    # what an average job brings: (QPU seconds, classical operations)
    mean_work: tuple[float, float] | None = None

    def save(self, directory: str | Path, fmt: str = "csv") -> list[Path]:
        """Write ``replications`` and ``jobs`` as CSV or Parquet; returns the paths."""
        if fmt not in ("csv", "parquet"):
            raise ConfigurationError(f"unknown format {fmt!r}; accepted: csv, parquet")
        base = Path(directory)
        base.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, table in (("replications", self.replications), ("jobs", self.jobs)):
            path = base / f"{name}.{fmt}"
            if fmt == "csv":
                table.to_csv(path, index=False)
            else:
                try:
                    table.to_parquet(path, index=False)
                except ImportError as error:
                    raise ConfigurationError(
                        f"Parquet output needs pyarrow or fastparquet ({error}); use csv"
                    ) from None
            paths.append(path)
        return paths

    def summary(self) -> pd.DataFrame:
        """Per sweep point: means with 95% half-widths over replications, job-time quantiles,
        and the offered load (work arriving per second over capacity; 1 or more: the
        queues grow for as long as admission control lets them)."""
        keys = ["policy", "C", "Q", "S", "interarrival"]
        reps = self.replications.groupby(keys, sort=False)
        table = reps.agg(
            reps=("seed", "size"),
            drop_probability=("drop_probability", "mean"),
            avg_classical_tasks=("avg_classical_tasks", "mean"),
            avg_quantum_tasks=("avg_quantum_tasks", "mean"),
            accepted_per_hour=("accepted_per_hour", "mean"),
            events=("events", "mean"),
        )
        spread = reps["drop_probability"].std(ddof=1).fillna(0.0)
        table.insert(2, "drop_ci95", 1.96 * spread / np.sqrt(table["reps"]))
        if len(self.jobs):
            times = self.jobs.groupby(keys, sort=False)["job_time"]
            table["job_time_median"] = times.median()
            table["job_time_p95"] = times.quantile(0.95)
        table = table.reset_index()
        if self.mean_work is not None:
            quantum, classical = self.mean_work
            table["qpu_load"] = quantum / (table["interarrival"] * table["Q"])
            table["cpu_load"] = classical / (table["interarrival"] * table["C"] * table["S"])
        return table


_WORKER_STATE: dict[str, Any] = {}


def _init_worker(scenario: Scenario, source: WorkloadSource, engine: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    _WORKER_STATE.update(scenario=scenario, source=source, engine=engine)


def _work(point: Point, seed: int) -> Replication:
    state = _WORKER_STATE
    return replicate(state["scenario"], state["source"], point, seed, state["engine"])


def run(
    scenario: Scenario,
    reps: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    engine: str = "fast",
    progress: bool | None = None,
) -> SimResult:
    """Run every sweep point of ``scenario`` for ``reps`` seeds (defaults: the scenario's).

    ``jobs`` worker processes (default: every core; 1 runs in this process).
    The same seed gives the same workload to every policy and sweep point.
    ``progress``: a progress bar on stderr; by default only when stderr is a
    terminal (or a notebook), so logs and pipes stay clean.
    """
    changes = {k: v for k, v in (("reps", reps), ("seed", seed)) if v is not None}
    scenario = scenario.replace(**changes) if changes else scenario
    engine_function(engine)  # reject an unknown engine before any work
    source = resolve_source(scenario)
    tasks = [
        (point, scenario.seed + r) for point in scenario.points() for r in range(scenario.reps)
    ]
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigurationError(f"jobs must be >= 1, got {workers}")
    results: list[Replication | None] = [None] * len(tasks)
    with _progress(progress, len(tasks), scenario.name) as advance:
        if workers == 1 or len(tasks) == 1:
            for i, (point, s) in enumerate(tasks):
                results[i] = replicate(scenario, source, point, s, engine)
                advance()
        else:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(tasks)),
                initializer=_init_worker,
                initargs=(scenario, source, engine),
            ) as pool:
                futures = {pool.submit(_work, p, s): i for i, (p, s) in enumerate(tasks)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    advance()
    done = [result for result in results if result is not None]  # every one, by now
    return _gather(scenario, done, source.mean_work(scenario.qubits))


def _gather(
    scenario: Scenario,
    results: Sequence[Replication],
    mean_work: tuple[float, float] | None = None,
) -> SimResult:
    rows = [row for row, _ in results]
    frames = []
    for row, columns in results:
        frame = pd.DataFrame(columns)
        for i, key in enumerate(POINT_COLUMNS):
            frame.insert(i, key, row[key])
        frames.append(frame)
    jobs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return SimResult(scenario, pd.DataFrame(rows), jobs, mean_work)


class _progress:
    """A rich progress bar on stderr when enabled (``None``: when stderr is a terminal)."""

    def __init__(self, enabled: bool | None, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self.bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        if self.enabled is False:
            return lambda: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        if self.enabled is None and not (console.is_terminal or console.is_jupyter):
            return lambda: None
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.bar.start()
        task = self.bar.add_task(f"simulating {self.label}", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
