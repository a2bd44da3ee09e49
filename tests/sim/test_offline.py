"""The offline optimum: exact on tiny instances, never worse than an online policy."""

from __future__ import annotations

import numpy as np
import pytest

from qlambda.core import ConfigurationError
from qlambda.sim.fast import simulate_fast
from qlambda.sim.model import Platform
from qlambda.sim.offline import (
    CLASSICAL,
    QUANTUM,
    Instance,
    Schedule,
    brute_force,
    gaps,
    online_schedule,
    solve_offline,
)
from qlambda.sim.workload import Streams, SyntheticWorkload, draw_workload

ONLINE = ("fifo", "lifo", "random", "weighted", "priority")


def random_instance(seed: int, jobs: int, tasks: int, C: int, Q: int, ties: bool) -> Instance:
    """Alternating classical / quantum tasks; with ``ties``, small integer times (many
    equal starts and ends, where the formulation's tie handling matters)."""
    rng = np.random.default_rng(seed)
    if ties:
        arrival = np.sort(rng.integers(0, 3, jobs)).astype(float)
        durations = rng.integers(1, 4, (jobs, tasks)).astype(float)
    else:
        arrival = np.sort(rng.uniform(0, 4, jobs))
        durations = rng.uniform(0.5, 4, (jobs, tasks))
    return Instance(
        arrival=tuple(float(a) for a in arrival),
        tasks=tuple(
            tuple(
                (CLASSICAL if k % 2 == 0 else QUANTUM, float(durations[j, k])) for k in range(tasks)
            )
            for j in range(jobs)
        ),
        C=C,
        Q=Q,
        priority=tuple(float(p) for p in rng.choice([1.0, 2.0, 4.0], jobs)),
    )


TINY = [
    (seed, jobs, tasks, C, Q, ties)
    for seed, (jobs, tasks, C, Q, ties) in enumerate(
        [
            (3, 3, 1, 1, True),
            (3, 3, 1, 2, True),
            (3, 3, 2, 1, False),
            (4, 2, 2, 2, True),
            (3, 4, 1, 1, False),
            (4, 2, 1, 2, False),
            (3, 4, 2, 2, True),
        ]
    )
]


@pytest.mark.parametrize(("seed", "jobs", "tasks", "C", "Q", "ties"), TINY)
def test_the_solver_matches_brute_force_and_beats_every_online_policy(
    seed: int, jobs: int, tasks: int, C: int, Q: int, ties: bool
) -> None:
    instance = random_instance(seed, jobs, tasks, C, Q, ties)
    optimum = solve_offline(instance)
    assert optimum.status == "optimal"
    optimum.check()
    assert optimum.total_delay == pytest.approx(brute_force(instance), abs=1e-6)
    for policy in ONLINE:
        online = online_schedule(instance, policy, seed)
        online.check()
        assert optimum.total_delay <= online.total_delay + 1e-9


def test_a_clairvoyant_scheduler_runs_the_short_task_first() -> None:
    # one QPU; the long job arrives a moment before the short one
    instance = Instance(
        arrival=(0.0, 0.5),
        tasks=(((QUANTUM, 10.0),), ((QUANTUM, 1.0),)),
        C=1,
        Q=1,
    )
    optimum = solve_offline(instance)
    # wait for the short one: it ends at 1.5 (delay 1), the long one at 11.5
    assert optimum.total_delay == pytest.approx(1.0 + 11.5)
    assert optimum.starts == [[pytest.approx(1.5)], [pytest.approx(0.5)]]
    # every online policy starts the long task at once: 10 + (11 - 0.5)
    report = gaps(instance, ONLINE)
    for policy in ONLINE:
        assert report.online[policy].total_delay == pytest.approx(20.5)
        assert report.gap(policy) == pytest.approx(20.5 / 12.5 - 1)


def test_capacity_is_respected_when_many_tasks_start_together() -> None:
    # four identical jobs at t=0 on two QPUs: two rounds of two
    instance = Instance(arrival=(0.0,) * 4, tasks=(((QUANTUM, 2.0),),) * 4, C=4, Q=2)
    optimum = solve_offline(instance)
    optimum.check()
    assert optimum.total_delay == pytest.approx(2 * (2 + 4))


def test_online_schedules_are_the_simulators_when_workers_never_share() -> None:
    synthetic = SyntheticWorkload.parse(
        "pre=exp:3,classical=exp:0.5,quantum=exp:2,post=exp:1,iterations=uniform:1:3"
    )
    workload = draw_workload(
        Streams.from_seed(3),
        interarrival=2.0,
        horizon=40.0,
        qubits=(4,),
        priorities=(1.0, 2.0, 4.0),
        synthetic=synthetic,
    )
    jobs = workload.size
    instance = Instance.from_workload(workload, 1e9, C=jobs, Q=2, jobs=jobs)
    assert instance.jobs == jobs and jobs >= 10
    for policy in ("fifo", "lifo", "priority"):
        platform = Platform(
            C=jobs, S=1e9, Q=2, c_max=None, q_max=None, duration=1e6, warmup=0.0, policy=policy
        )
        outcome = simulate_fast(platform, workload, Streams.from_seed(3).policy)
        simulated = float(
            (outcome.completion_times - workload.arrival[outcome.completed_jobs]).sum()
        )
        assert online_schedule(instance, policy).total_delay == pytest.approx(simulated, rel=1e-9)


def test_instances_take_the_busiest_stretch_and_cap_iterations() -> None:
    synthetic = SyntheticWorkload.parse(
        "pre=const:1,classical=const:0.5,quantum=const:2,post=const:1,iterations=const:50"
    )
    workload = draw_workload(
        Streams.from_seed(0),
        interarrival=100.0,
        horizon=5000.0,
        qubits=(4,),
        priorities=(1.0,),
        synthetic=synthetic,
    )
    instance = Instance.from_workload(workload, 1e9, C=1, Q=1, jobs=3, max_iterations=2)
    spans = workload.arrival[2:] - workload.arrival[:-2]
    assert instance.arrival[0] == 0.0
    assert instance.arrival[-1] == pytest.approx(spans.min())
    assert [len(t) for t in instance.tasks] == [6, 6, 6]  # pre, 2 x (c, q), post
    assert instance.tasks[0][2] == (QUANTUM, 2.0)


def test_schedule_check_catches_overlaps() -> None:
    instance = Instance(arrival=(0.0, 0.0), tasks=(((QUANTUM, 2.0),),) * 2, C=1, Q=1)
    with pytest.raises(AssertionError, match="2 q tasks run"):
        Schedule([[0.0], [1.0]], instance).check()


def test_bad_instances_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="one task list per arrival"):
        Instance(arrival=(0.0,), tasks=(), C=1, Q=1)
    with pytest.raises(ConfigurationError, match="bad task"):
        Instance(arrival=(0.0,), tasks=((("gpu", 1.0),),), C=1, Q=1)
    with pytest.raises(ConfigurationError, match="tiny instances"):
        brute_force(random_instance(0, 5, 3, 1, 1, False))
