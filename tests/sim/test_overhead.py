"""The platform-overhead option of the model: per-task time added as classical work."""

from __future__ import annotations

import numpy as np
import pytest

from qlambda.core import ConfigurationError
from qlambda.sim.fast import simulate_fast
from qlambda.sim.model import Overhead
from qlambda.sim.reference import simulate_reference

ENGINES = [simulate_reference, simulate_fast]


def only_completion(outcome) -> float:
    [time] = outcome.completion_times
    return float(time)


@pytest.mark.parametrize("engine", ENGINES)
def test_overhead_adds_to_each_classical_task_of_a_lone_job(engine, workload_of, platform_of):
    # pre 5 s, 3 x (classical 1 s, quantum 2 s), post 2 s; overheads 0.5 / 0.25 / 0.75 s
    work = workload_of([10.0], [5.0], [3], [1.0], [2.0], [2.0])
    overhead = Overhead(start=0.5, iteration=0.25, end=0.75)
    plain = engine(platform_of(), work, np.random.default_rng(0))
    with_it = engine(platform_of(overhead=overhead), work, np.random.default_rng(0))
    assert only_completion(plain) == pytest.approx(10 + 5 + 3 * (1 + 2) + 2)
    assert only_completion(with_it) == pytest.approx(only_completion(plain) + 0.5 + 3 * 0.25 + 0.75)


@pytest.mark.parametrize("engine", ENGINES)
def test_overhead_is_classical_work_shared_by_processor_sharing(engine, workload_of, platform_of):
    # two jobs arriving together on one worker, no work but the start overhead of 1 s:
    # shared, both preparations end at 2 s (a pure delay would end them at 1 s)
    work = workload_of([0.0, 0.0], [0.0, 0.0], [1, 1], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    out = engine(platform_of(Q=2, overhead=Overhead(start=1.0)), work, np.random.default_rng(0))
    np.testing.assert_allclose(sorted(out.completion_times), [3.0, 3.0])


@pytest.mark.parametrize("engine", ENGINES)
def test_overhead_applies_to_per_iteration_redraws(engine, workload_of, platform_of):
    work = workload_of([0.0], [0.0], [2], [0.0], [1.0], [0.0])
    per_iteration = type(work)(
        **{
            **work.__dict__,
            "iter_offset": np.array([0, 2]),
            "iter_classical_ops": np.array([1e9, 2e9]),  # 1 s and 2 s at 1e9 ops/s
            "iter_quantum_time": np.array([3.0, 4.0]),
        }
    )
    out = engine(
        platform_of(overhead=Overhead(iteration=0.5)), per_iteration, np.random.default_rng(0)
    )
    assert only_completion(out) == pytest.approx(1 + 3 + 2 + 4 + 2 * 0.5)


def test_engines_agree_with_overhead_under_contention(workload_of, platform_of):
    rng = np.random.default_rng(5)
    n = 40
    work = workload_of(
        np.sort(rng.uniform(0, 50, n)),
        rng.uniform(0, 2, n),
        rng.integers(1, 5, n),
        rng.uniform(0, 0.5, n),
        rng.uniform(0.5, 3, n),
        rng.uniform(0, 1, n),
        priority=rng.choice([1.0, 2.0, 4.0], n),
    )
    config = platform_of(C=2, Q=2, q_max=3, policy="weighted", overhead=Overhead(0.3, 0.1, 0.2))
    reference = simulate_reference(config, work, np.random.default_rng(9))
    fast = simulate_fast(config, work, np.random.default_rng(9))
    np.testing.assert_array_equal(fast.completed_jobs, reference.completed_jobs)
    np.testing.assert_allclose(fast.completion_times, reference.completion_times, rtol=1e-9)
    assert fast.dropped_total == reference.dropped_total


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan"), "1"])
def test_bad_overhead_is_refused(bad):
    with pytest.raises(ConfigurationError, match="overhead start must be a finite number"):
        Overhead(start=bad)
