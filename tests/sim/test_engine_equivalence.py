"""The compiled engine against the reference one: same events, picks and results."""

from __future__ import annotations

import numpy as np
import pytest

from qlambda.sim import Scenario, resolve_source
from qlambda.sim.fast import simulate_fast
from qlambda.sim.model import HOUR
from qlambda.sim.reference import simulate_reference
from qlambda.sim.runner import make_workload
from qlambda.sim.workload import Streams

SHORT = dict(duration=10 * HOUR, warmup=2 * HOUR, reps=1)


def both(scenario: Scenario, seed: int):
    source = resolve_source(scenario)
    [point] = list(scenario.points())
    work, _ = make_workload(scenario, source, point.interarrival, seed)
    outcomes = []
    for engine in (simulate_reference, simulate_fast):
        outcomes.append(engine(point.platform, work, Streams.from_seed(seed).policy))
    return outcomes


def assert_same(reference, fast) -> None:
    assert fast.events == reference.events
    np.testing.assert_array_equal(fast.completed_jobs, reference.completed_jobs)
    np.testing.assert_allclose(fast.completion_times, reference.completion_times, rtol=1e-9)
    for name in (
        "arrived",
        "accepted",
        "dropped",
        "arrived_total",
        "accepted_total",
        "completed_total",
        "in_flight",
    ):
        assert getattr(fast, name) == getattr(reference, name), name
    assert fast.classical_area == pytest.approx(reference.classical_area, rel=1e-9)
    assert fast.quantum_area == pytest.approx(reference.quantum_area, rel=1e-9)


@pytest.mark.parametrize("policy", ["fifo", "lifo", "random", "weighted", "priority"])
def test_small_scenario_matches_for_every_policy(policy):
    scenario = Scenario(policies=policy, interarrival=300.0, **SHORT)
    reference, fast = both(scenario, seed=11)
    assert reference.dropped > 0, "the case should exercise admission control"
    assert_same(reference, fast)


@pytest.mark.parametrize("policy", ["fifo", "random", "weighted"])
def test_reference_compat_matches(policy):
    scenario = Scenario(policies=policy, interarrival=300.0, reference_compat=True, **SHORT)
    assert_same(*both(scenario, seed=5))


def test_scarce_classical_workers_match():
    # S=1e7 makes processor sharing the bottleneck, with several workers
    scenario = Scenario(
        C=3,
        S=1e7,
        Q=2,
        qubits=(4, 8, 12),
        priorities=1.0,
        policies="random",
        interarrival=450.0,
        **SHORT,
    )
    reference, fast = both(scenario, seed=3)
    assert reference.avg_classical_tasks > 3, "the case should share the workers"
    assert_same(reference, fast)


def test_per_iteration_redraws_match():
    scenario = Scenario(policies="weighted", redraw_per_iteration=True, **SHORT)
    assert_same(*both(scenario, seed=8))
