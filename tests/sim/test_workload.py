"""Workload draws: Poisson arrivals, per-size sampling, per-iteration redraws, synthetic."""

from __future__ import annotations

import numpy as np
import pytest

from qlambda.core import ConfigurationError
from qlambda.sim import Distribution, SyntheticWorkload, draw_workload, load_traces
from qlambda.sim.workload import OPS_PER_TRACE_SECOND, Streams, poisson_arrivals


def test_poisson_arrivals_have_the_requested_mean_gap():
    arrivals = poisson_arrivals(np.random.default_rng(0), 10.0, 1e6)
    gaps = np.diff(arrivals)
    assert gaps.mean() == pytest.approx(10.0, rel=0.02)
    assert gaps.std() == pytest.approx(10.0, rel=0.03)  # exponential: std = mean
    assert arrivals.max() < 1e6


def test_jobs_draw_from_rows_of_their_own_size():
    traces = load_traces()
    work = draw_workload(
        Streams.from_seed(1),
        interarrival=60,
        horizon=86400,
        qubits=[4, 10],
        priorities=[1, 2, 4],
        traces=traces,
    )
    assert set(work.qubits) == {4, 10} and set(work.priority) == {1.0, 2.0, 4.0}
    for j in range(work.size):
        q = int(work.qubits[j])
        assert work.iterations[j] in traces.iterations[q]
        assert np.isclose(traces.pre[q], work.pre_ops[j] / OPS_PER_TRACE_SECOND).any()
        assert work.quantum_time[j] in traces.quantum[q]
    # one value per job, reused by every iteration
    assert work.classical_ops_of(0, 0) == work.classical_ops_of(0, 5)


def test_per_iteration_redraws_vary_within_a_job():
    work = draw_workload(
        Streams.from_seed(2),
        interarrival=600,
        horizon=86400,
        qubits=[4],
        priorities=[1],
        traces=load_traces(),
        per_iteration=True,
    )
    assert work.per_iteration
    assert len(work.iter_quantum_time) == work.iterations.sum()
    first = [work.quantum_time_of(0, k) for k in range(int(work.iterations[0]))]
    assert len(set(first)) > 1


def test_synthetic_workload_parses_and_draws():
    spec = SyntheticWorkload.parse(
        "pre=const:2,classical=uniform:1:3,quantum=exp:4,post=const:0,iterations=const:7"
    )
    work = draw_workload(
        Streams.from_seed(3),
        interarrival=10,
        horizon=1e5,
        qubits=[4],
        priorities=[1],
        synthetic=spec,
    )
    assert (work.iterations == 7).all() and (work.pre_ops == 2 * OPS_PER_TRACE_SECOND).all()
    assert work.quantum_time.mean() == pytest.approx(4, rel=0.05)
    assert work.classical_ops.min() >= 1 * OPS_PER_TRACE_SECOND


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gauss:1", "cannot read distribution"),
        ("uniform:3:1", "low <= high"),
        ("exp", "cannot read distribution"),
    ],
)
def test_bad_distributions(text, message):
    with pytest.raises(ConfigurationError, match=message):
        Distribution.parse(text)


def test_synthetic_spec_must_be_complete():
    with pytest.raises(ConfigurationError, match="lacks classical, quantum, post"):
        SyntheticWorkload.parse("pre=const:1,iterations=const:1")
    with pytest.raises(ConfigurationError, match="KEY=DIST"):
        SyntheticWorkload.parse("pre=const:1,speed=const:1")
