"""Simulate what the platform was given, and hold the simulation against what it measured.

The simulator receives the same jobs (the recorded arrival times, each job's size,
priority, iterations and classical work) and the same configuration (C workers,
Q QPUs, the policy, the admission limits, S and the QPU time per task from the
calibration, and the platform's overhead unless asked not to). Policies that draw
at random (``random``, ``weighted``) are simulated with several seeds, pooled: the
platform's own draws are one more sample of the same distribution.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from qlambda.core.arrays import FloatArray, IntArray
from qlambda.sim.fast import simulate_fast
from qlambda.sim.model import Overhead, Platform
from qlambda.sim.workload import Workload
from qlambda.twin.platform_run import Measured

# Agreement the twin aims at: relative error of medians and p95, drop probability
# difference in points.
MEDIAN_TOLERANCE = 0.10
P95_TOLERANCE = 0.10
DROP_TOLERANCE = 0.02


@dataclass(frozen=True)
class ModelChoice:
    """What the simulator is told, where it may differ from the platform (to test that
    a wrong configuration is caught): the policy, C, Q, and whether to add overheads."""

    policy: str | None = None  # None: the platform's
    workers: int | None = None
    qpus: int | None = None
    overhead: bool = True
    recorded: bool = True  # each task as long as it was; False: planned work, size means


def workload_of(measured: Measured, recorded: bool = True, overhead: bool = True) -> Workload:
    """The measured jobs as the simulator's arrays (classical work in operations at S).

    ``recorded``: each task is given what the platform recorded for it: a quantum task
    how long it held its QPU slot, a classical iteration how long it took from the
    previous answer to the next request, the post-processing from the last answer to
    the job's end (so the platform's overhead is where it happened, bursts included).
    What has no record (a job's first iteration, every task of a dropped job) gets its
    planned work plus, with ``overhead``, the calibrated mean overhead, and its size's
    mean QPU time. Not ``recorded``: every job its planned work and every quantum task
    its size's mean (overheads then come from ``platform_of``).
    """
    jobs = measured.jobs.reset_index(drop=True)
    speed = measured.calibration.speed
    held = measured.calibration.qpu_seconds
    extra = measured.calibration.overhead if overhead else Overhead()
    qubits = jobs.qubits.to_numpy(np.int64)
    iterations = jobs.iterations.to_numpy(np.int64)
    mean = np.array([held[int(q)] for q in qubits], dtype=np.float64)
    iteration_ops = jobs.iteration_seconds.to_numpy(np.float64) * speed
    post_ops = jobs.post_seconds.to_numpy(np.float64) * speed
    offset: IntArray = np.empty(0, np.int64)
    per_classical: FloatArray = np.empty(0)
    per_quantum: FloatArray = np.empty(0)
    if recorded:
        offset = np.concatenate(([0], np.cumsum(iterations))).astype(np.int64)
        per_quantum = np.repeat(mean, iterations)
        per_classical = np.repeat(iteration_ops + extra.iteration * speed, iterations)
        post_ops = post_ops + extra.end * speed
        tasks = measured.tasks
        if not tasks.empty:
            order = tasks.sort_values(["job", "seq"])
            owner = order.job.to_numpy()
            rank = order.groupby("job").cumcount().to_numpy()
            slot = offset[owner] + rank
            keep = rank < iterations[owner]
            per_quantum[slot[keep]] = order.held.to_numpy()[keep]
            gaps = keep & (rank > 0)
            per_classical[slot[gaps]] = order.gap.to_numpy()[gaps] * speed
        ran = jobs.status.to_numpy() == "DONE"
        post_ops[ran] = jobs.end_stretch.to_numpy(np.float64)[ran] * speed
    return Workload(
        arrival=jobs.arrival.to_numpy(np.float64),
        qubits=qubits,
        priority=jobs.priority.to_numpy(np.float64),
        iterations=iterations,
        pre_ops=jobs.pre_seconds.to_numpy(np.float64) * speed,
        classical_ops=iteration_ops,
        quantum_time=mean,
        post_ops=post_ops,
        iter_offset=offset,
        iter_classical_ops=per_classical,
        iter_quantum_time=per_quantum,
    )


def platform_of(measured: Measured, choice: ModelChoice = ModelChoice()) -> Platform:
    """The simulated platform; with recorded tasks only the start overhead is left to
    add (the others are in the recorded tasks, see ``workload_of``)."""
    config = measured.config
    horizon = float(measured.jobs.arrival.max()) if len(measured.jobs) else 0.0
    overhead = Overhead()
    if choice.overhead:
        overhead = measured.calibration.overhead
        if choice.recorded:
            overhead = Overhead(start=overhead.start)
    return Platform(
        C=choice.workers or config.workers,
        S=measured.calibration.speed,
        Q=choice.qpus or config.qpus,
        c_max=config.c_max,
        q_max=config.q_max,
        # long enough for every admitted job to end: nothing is cut off
        duration=10 * horizon + 3600.0,
        warmup=0.0,
        policy=choice.policy or config.policy,
        overhead=overhead,
    )


@dataclass
class Simulated:
    """The simulator's replications of one measured run."""

    platform: Platform
    jobs: pd.DataFrame  # rep, job (index in Measured.jobs), qubits, priority, job_time
    drop_probability: float  # mean over replications
    utilisation: float  # mean over replications
    reps: int


def simulate(measured: Measured, choice: ModelChoice = ModelChoice(), reps: int = 20) -> Simulated:
    workload = workload_of(measured, choice.recorded, choice.overhead)
    platform = platform_of(measured, choice)
    if platform.policy in ("fifo", "lifo", "priority"):
        reps = 1  # no draws: every seed gives the same run
    frames, drops, utilisations = [], [], []
    for rep in range(reps):
        outcome = simulate_fast(platform, workload, np.random.default_rng(rep))
        done = outcome.completed_jobs
        arrival = workload.arrival[done]
        frames.append(
            pd.DataFrame(
                {
                    "rep": rep,
                    "job": done,
                    "qubits": workload.qubits[done],
                    "priority": workload.priority[done],
                    "job_time": outcome.completion_times - arrival,
                }
            )
        )
        drops.append(outcome.dropped_total / outcome.arrived_total if outcome.arrived_total else 0)
        busy = _qpu_seconds(workload, done)
        span = float(outcome.completion_times.max() - workload.arrival.min()) if len(done) else 0
        utilisations.append(busy / (platform.Q * span) if span > 0 else 0.0)
    return Simulated(
        platform=platform,
        jobs=pd.concat(frames, ignore_index=True),
        drop_probability=float(np.mean(drops)),
        utilisation=float(np.mean(utilisations)),
        reps=reps,
    )


def _qpu_seconds(workload: Workload, jobs: IntArray) -> float:
    if not workload.per_iteration:
        return float((workload.iterations[jobs] * workload.quantum_time[jobs]).sum())
    starts, ends = workload.iter_offset[jobs], workload.iter_offset[jobs + 1]
    sums = np.concatenate(([0.0], np.cumsum(workload.iter_quantum_time)))
    return float((sums[ends] - sums[starts]).sum())


def _distance(mine: FloatArray, theirs: FloatArray) -> float:
    """The Kolmogorov-Smirnov distance. Only the statistic is used: the warnings scipy
    gives about the p-value of small or tied samples do not concern it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ks_2samp(mine, theirs).statistic)


def _groups(frame: pd.DataFrame) -> dict[str, pd.Series]:
    groups = {"all": frame.job_time}
    for priority in sorted(frame.priority.unique()):
        groups[f"prio {priority:g}"] = frame[frame.priority == priority].job_time
    for qubits in sorted(frame.qubits.unique()):
        groups[f"{qubits} qubits"] = frame[frame.qubits == qubits].job_time
    return groups


def compare(measured: Measured, simulated: Simulated) -> pd.DataFrame:
    """Per group (all jobs, each priority, each size): job-time medians, p95 and their
    relative errors, and the Kolmogorov-Smirnov distance of the two distributions."""
    done = measured.jobs[measured.jobs.status == "DONE"]
    mine = _groups(done)
    theirs = _groups(simulated.jobs)
    rows = []
    for group, times in mine.items():
        other = theirs.get(group, pd.Series(dtype=float))
        if times.empty or other.empty:
            continue
        median, sim_median = float(times.median()), float(other.median())
        p95, sim_p95 = float(times.quantile(0.95)), float(other.quantile(0.95))
        rows.append(
            {
                "group": group,
                "jobs": len(times),
                "median": median,
                "sim_median": sim_median,
                "median_error": sim_median / median - 1,
                "p95": p95,
                "sim_p95": sim_p95,
                "p95_error": sim_p95 / p95 - 1,
                "ks": _distance(times.to_numpy(), other.to_numpy()),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Verdict:
    """How one measured run and its simulation compare, against the tolerances."""

    label: str
    table: pd.DataFrame
    drop: float
    sim_drop: float
    utilisation: float
    sim_utilisation: float

    @property
    def worst_median(self) -> float:
        return float(self.table.median_error.abs().max())

    @property
    def worst_p95(self) -> float:
        return float(self.table.p95_error.abs().max())

    @property
    def drop_gap(self) -> float:
        return abs(self.sim_drop - self.drop)

    def within(
        self,
        median: float = MEDIAN_TOLERANCE,
        p95: float = P95_TOLERANCE,
        drop: float = DROP_TOLERANCE,
    ) -> bool:
        return self.worst_median <= median and self.worst_p95 <= p95 and self.drop_gap <= drop


def verdict(
    measured: Measured, choice: ModelChoice = ModelChoice(), reps: int = 20
) -> tuple[Verdict, Simulated]:
    simulated = simulate(measured, choice, reps)
    label = measured.config.label
    if choice != ModelChoice():
        label += " vs " + ", ".join(
            f"{f.name}={getattr(choice, f.name)}"
            for f in dataclasses.fields(choice)
            if getattr(choice, f.name) != getattr(ModelChoice(), f.name)
        )
    result = Verdict(
        label=label,
        table=compare(measured, simulated),
        drop=measured.drop_probability,
        sim_drop=simulated.drop_probability,
        utilisation=measured.utilisation,
        sim_utilisation=simulated.utilisation,
    )
    return result, simulated
