"""The simulator against queueing theory, with the model reduced to textbook queues.

- Quantum side: jobs of one quantum task (no classical work), exponential
  durations, Q QPUs, no admission limit: an M/M/c queue, whose mean wait is
  given by the Erlang C formula whatever the (work-conserving) policy.
- Classical side: jobs of one preparation task of exponential size on C=1
  worker: M/M/1 with processor sharing, E[T] = E[S]/(1-rho), and, the mark of
  PS, E[T | S=x] = x/(1-rho).

Estimates are means over replications, compared within a confidence interval.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qlambda.sim import Scenario, SyntheticWorkload, run
from qlambda.sim.fast import simulate_fast
from qlambda.sim.runner import make_workload, resolve_source
from qlambda.sim.workload import OPS_PER_TRACE_SECOND


def erlang_c_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    offered = arrival_rate / service_rate
    rho = offered / servers
    tail = offered**servers / math.factorial(servers) / (1 - rho)
    head = sum(offered**k / math.factorial(k) for k in range(servers))
    waiting_probability = tail / (head + tail)
    return waiting_probability / (servers * service_rate - arrival_rate)


def mean_and_halfwidth(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), 3.0 * float(values.std(ddof=1)) / math.sqrt(len(values))


@pytest.mark.parametrize(("servers", "policy"), [(1, "fifo"), (2, "random"), (3, "lifo")])
def test_quantum_side_is_mmc(servers, policy):
    service_mean, rho = 1.0, 0.75
    interarrival = service_mean / (servers * rho)
    workload = SyntheticWorkload.parse(
        f"pre=const:0,classical=const:0,quantum=exp:{service_mean},post=const:0,iterations=const:1"
    )
    scenario = Scenario(
        synthetic=workload,
        Q=servers,
        policies=policy,
        interarrival=interarrival,
        C_max=None,
        Q_max=None,
        duration=12_000.0,
        warmup=1_000.0,
        priorities=1.0,
        reps=24,
    )
    result = run(scenario, jobs=1)
    per_rep = result.jobs.groupby("seed")["job_time"].mean().to_numpy()
    mean, half = mean_and_halfwidth(per_rep)
    expected = erlang_c_wait(servers, 1 / interarrival, 1 / service_mean) + service_mean
    assert abs(mean - expected) < half + 0.01 * expected, (mean, half, expected)
    # the time-averaged number of quantum tasks is Little's L = lambda * E[T]
    quantum_tasks, q_half = mean_and_halfwidth(result.replications["avg_quantum_tasks"])
    assert abs(quantum_tasks - expected / interarrival) < q_half + 0.02 * quantum_tasks


def test_classical_side_is_m_m_1_processor_sharing():
    size_mean, rho = 1.0, 0.6
    interarrival = size_mean / rho
    scenario = Scenario(
        synthetic=SyntheticWorkload.parse(
            f"pre=exp:{size_mean},classical=const:0,quantum=const:0,post=const:0,iterations=const:0"
        ),
        C=1,
        S=1e9,
        interarrival=interarrival,
        C_max=None,
        Q_max=None,
        duration=15_000.0,
        warmup=1_000.0,
        priorities=1.0,
        policies="fifo",
        reps=24,
    )
    source = resolve_source(scenario)
    [point] = list(scenario.points())
    means, slopes = [], []
    for seed in range(scenario.reps):
        work, streams = make_workload(scenario, source, interarrival, seed)
        out = simulate_fast(point.platform, work, streams.policy)
        sizes = work.pre_ops[out.completed_jobs] / OPS_PER_TRACE_SECOND
        times = out.completion_times - work.arrival[out.completed_jobs]
        means.append(times.mean())
        slopes.append(float(sizes @ times / (sizes @ sizes)))
    mean, half = mean_and_halfwidth(np.asarray(means))
    expected = size_mean / (1 - rho)
    assert abs(mean - expected) < half + 0.01 * expected, (mean, half, expected)
    # under PS a job's expected sojourn is proportional to its own size (FCFS is not)
    slope, slope_half = mean_and_halfwidth(np.asarray(slopes))
    assert abs(slope - 1 / (1 - rho)) < slope_half + 0.03 / (1 - rho), (slope, slope_half)
