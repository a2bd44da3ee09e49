"""The model's rules on hand-built workloads whose outcome follows from the rules alone.

Each case runs on both engines: the readable reference and the compiled one.
"""

from __future__ import annotations

import numpy as np
import pytest

from qlambda.sim.fast import simulate_fast
from qlambda.sim.reference import simulate_reference

ENGINES = [simulate_reference, simulate_fast]


def completion(outcome, job: int) -> float:
    index = list(outcome.completed_jobs).index(job)
    return float(outcome.completion_times[index])


@pytest.mark.parametrize("engine", ENGINES)
def test_tasks_run_strictly_in_sequence(engine, workload_of, platform_of):
    # pre 5 s, then 2 x (classical 1 s, quantum 3 s), then post 2 s, alone in the system
    work = workload_of([10.0], [5.0], [2], [1.0], [3.0], [2.0])
    out = engine(platform_of(), work, np.random.default_rng(0))
    assert completion(out, 0) == pytest.approx(10 + 5 + 2 * (1 + 3) + 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_processor_sharing_splits_one_worker_evenly(engine, workload_of, platform_of):
    # two preparation tasks of 4 s and 6 s start together on C=1: both run at half speed
    # until the first ends at 8 s, then the second runs alone and ends at 10 s
    work = workload_of([0.0, 0.0], [4.0, 6.0], [0, 0], [0, 0], [0, 0], [0, 0])
    out = engine(platform_of(duration=20.0), work, np.random.default_rng(0))
    assert completion(out, 0) == pytest.approx(8.0)
    assert completion(out, 1) == pytest.approx(10.0)
    # 2 tasks for 8 s, 1 task for 2 s, closed at t=20
    assert out.avg_classical_tasks == pytest.approx((2 * 8 + 2) / 20)


@pytest.mark.parametrize("engine", ENGINES)
def test_processor_sharing_is_full_speed_up_to_c_tasks(engine, workload_of, platform_of):
    # C=2 workers: two tasks each get a whole worker; a third arriving makes it 2/3 each
    work = workload_of([0.0, 0.0, 1.0], [4.0, 4.0, 4.0], [0] * 3, [0] * 3, [0] * 3, [0] * 3)
    out = engine(platform_of(C=2, duration=50.0), work, np.random.default_rng(0))
    # after t=1 each has 3 s of work left served at 2/3 speed: the first two end at 1 + 4.5
    assert completion(out, 0) == pytest.approx(5.5)
    assert completion(out, 1) == pytest.approx(5.5)
    # the third did 3 s of its 4 s by then; alone on a worker it ends 1 s later
    assert completion(out, 2) == pytest.approx(6.5)


def _queue_order(engine, policy, workload_of, platform_of, compat=False):
    # job 0 holds the single QPU for 10 s; jobs 1..4 queue their quantum task meanwhile
    arrivals = [0.0, 1.0, 2.0, 3.0, 4.0]
    work = workload_of(arrivals, [0.0] * 5, [1] * 5, [0.0] * 5, [10.0] * 5, [0.0] * 5)
    out = engine(
        platform_of(policy=policy, duration=100.0, reference_compat=compat),
        work,
        np.random.default_rng(0),
    )
    return list(out.completed_jobs)


@pytest.mark.parametrize("engine", ENGINES)
def test_fifo_serves_oldest_and_lifo_newest(engine, workload_of, platform_of):
    assert _queue_order(engine, "fifo", workload_of, platform_of) == [0, 1, 2, 3, 4]
    assert _queue_order(engine, "lifo", workload_of, platform_of) == [0, 4, 3, 2, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_compat_fifo_swap_remove_breaks_arrival_order(engine, workload_of, platform_of):
    # pending [1, 2, 3, 4]: slot 0 (job 1) goes first and swap-remove moves the newest
    # into slot 0, [4, 2, 3]; then job 4 goes and job 3 takes its slot, [3, 2]
    order = _queue_order(engine, "fifo", workload_of, platform_of, compat=True)
    assert order == [0, 1, 4, 3, 2]


@pytest.mark.parametrize("engine", ENGINES)
def test_admission_counts_active_classical_and_pending_quantum(engine, workload_of, platform_of):
    # C_max=2: a third job arriving while two preparations run is dropped
    work = workload_of([0.0, 0.5, 1.0, 30.0], [10.0] * 4, [0] * 4, [0] * 4, [0] * 4, [0] * 4)
    out = engine(platform_of(c_max=2, duration=100.0), work, np.random.default_rng(0))
    assert (out.arrived, out.accepted, out.dropped) == (4, 3, 1)
    assert sorted(out.completed_jobs) == [0, 1, 3]
    # Q_max=1: jobs 1 and 2 queue behind job 0's quantum task; job 3 finds 2 pending
    work = workload_of([0.0, 0.1, 0.2, 1.0], [0.0] * 4, [1] * 4, [0.0] * 4, [10.0] * 4, [0.0] * 4)
    out = engine(platform_of(q_max=2, duration=100.0), work, np.random.default_rng(0))
    assert out.dropped == 1 and 3 not in out.completed_jobs


@pytest.mark.parametrize("engine", ENGINES)
def test_warmup_hides_early_jobs_and_drops(engine, workload_of, platform_of):
    work = workload_of([0.0, 1.0, 60.0, 61.0], [20.0] * 4, [0] * 4, [0] * 4, [0] * 4, [0] * 4)
    base = dict(c_max=1, duration=200.0, warmup=50.0)
    out = engine(platform_of(**base), work, np.random.default_rng(0))
    # job 1 is dropped before the warm-up ends, job 3 after: only job 3 counts
    assert (out.arrived, out.dropped, out.dropped_total) == (2, 1, 2)
    assert out.drop_probability == pytest.approx(1 / 2)
    # job 0 completes at 20 s, inside the warm-up: not observed
    assert list(out.completed_jobs) == [2]
    compat = engine(platform_of(reference_compat=True, **base), work, np.random.default_rng(0))
    assert compat.drop_probability == pytest.approx(2 / 4)
    # time averages cover [50, 200] only: one task during [60, 80]
    assert out.avg_classical_tasks == pytest.approx(20 / 150)
