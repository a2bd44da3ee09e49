"""The twin's simulation side on hand-built measurements: no platform needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlambda.core import ConfigurationError
from qlambda.sim.model import Overhead
from qlambda.twin.compare import ModelChoice, simulate, verdict, workload_of
from qlambda.twin.platform_run import Calibration, Measured, TwinConfig, plan_jobs
from qlambda.twin.report import format_verdict


def measured(policy: str = "fifo", qpus: int = 1) -> Measured:
    """Three jobs on one QPU: arrivals 0, 0.1, 0.2 s; 2, 1 and 2 iterations of 1 s; no
    classical work; job 1 was dropped."""
    jobs = pd.DataFrame(
        {
            "arrival": [0.0, 0.1, 0.2],
            "qubits": [4, 6, 4],
            "priority": [1.0, 2.0, 4.0],
            "iterations": [2, 1, 2],
            "pre_seconds": [0.0, 0.0, 0.0],
            "iteration_seconds": [0.0, 0.0, 0.0],
            "post_seconds": [0.0, 0.0, 0.0],
            "status": ["DONE", "DROPPED", "DONE"],
            "job_time": [2.5, np.nan, 4.0],
            "end_stretch": [0.0, np.nan, 0.0],
        }
    )
    tasks = pd.DataFrame(
        {
            "job": [0, 0, 2, 2],
            "seq": [1, 2, 3, 4],
            "num_qubits": [4, 4, 4, 4],
            "queued_at": [0.0, 1.0, 0.2, 3.0],
            "started_at": [0.0, 1.0, 2.0, 3.0],
            "finished_at": [1.0, 2.5, 3.0, 4.2],
            "held": [1.0, 1.5, 1.0, 1.2],
            "gap": [np.nan, 0.0, np.nan, 0.0],
        }
    )
    calibration = Calibration(speed=1e6, qpu_seconds={4: 1.1, 6: 0.7}, overhead=Overhead())
    config = TwinConfig(policy=policy, qpus=qpus, jobs=3, q_max=1)
    return Measured(config, calibration, 0.1, jobs, tasks, 1.0, Path("."))


def test_recorded_quantum_times_go_to_their_job_and_iteration():
    work = workload_of(measured(), recorded=True)
    np.testing.assert_array_equal(work.iter_offset, [0, 2, 3, 5])
    # job 0: its own 1.0 and 1.5 s; job 1 (dropped, 6 qubits): its size's median; job 2: own
    np.testing.assert_allclose(work.iter_quantum_time, [1.0, 1.5, 0.7, 1.0, 1.2])
    medians = workload_of(measured(), recorded=False)
    assert not medians.per_iteration
    np.testing.assert_allclose(medians.quantum_time, [1.1, 0.7, 1.1])


def test_simulation_replays_the_recorded_jobs_with_the_platform_admission():
    found = simulate(measured())
    # job 1 arrives at 0.1 with nothing pending (job 0 holds the QPU): admitted; job 2 at
    # 0.2 finds job 1's task pending, Q_max=1: dropped. FIFO: job 1's task (0.7 s, its
    # size's median) runs 1.0..1.7, then job 0's second one (its recorded 1.5 s)
    times = dict(zip(found.jobs.priority, found.jobs.job_time, strict=True))
    assert times == pytest.approx({1.0: 3.2, 2.0: 1.6})
    assert found.drop_probability == pytest.approx(1 / 3)
    assert found.reps == 1  # FIFO draws nothing: one run says it all
    assert simulate(measured("weighted"), reps=5).reps == 5


def test_wrong_configuration_is_what_the_simulator_is_told():
    choice = ModelChoice(policy="lifo", qpus=2, workers=3, overhead=False)
    found = simulate(measured(), choice)
    assert (found.platform.policy, found.platform.Q, found.platform.C) == ("lifo", 2, 3)
    assert found.platform.overhead == Overhead()


def test_verdict_table_reads_at_80_columns():
    data = measured()
    result, _ = verdict(data)
    text = format_verdict(data, result)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert result.table.set_index("group").loc["all", "jobs"] == 2


def test_plan_is_the_seed_s_and_bad_configurations_are_refused():
    one = plan_jobs(TwinConfig(jobs=20, seed=3))
    assert one == plan_jobs(TwinConfig(jobs=20, seed=3, policy="lifo", load=0.3))
    assert one != plan_jobs(TwinConfig(jobs=20, seed=4))
    assert {p.qubits for p in one} <= {4, 6, 8}
    with pytest.raises(ConfigurationError, match="unknown policy"):
        TwinConfig(policy="sjf")
    with pytest.raises(ConfigurationError, match="sizes must be among"):
        TwinConfig(sizes=(5,))


def test_recorded_classical_stretches_replace_planned_work_and_overheads():
    data = measured()
    data.tasks.loc[1, "gap"] = 0.25  # job 0 waited 0.25 s between its two tasks
    data.jobs.loc[0, "end_stretch"] = 0.5
    data.calibration = Calibration(1e6, {4: 1.1, 6: 0.7}, Overhead(0.01, 0.02, 0.03))
    work = workload_of(data, recorded=True, overhead=True)
    # job 0: first iteration planned (0) + the iteration overhead; second its record
    np.testing.assert_allclose(work.iter_classical_ops[:2], [0.02e6, 0.25e6])
    # post: the recorded stretch for jobs that ran, planned + end overhead otherwise
    np.testing.assert_allclose(work.post_ops, [0.5e6, 0.03e6, 0.0])
    start_only = simulate(data).platform.overhead
    assert start_only == Overhead(start=0.01)  # the rest is in the recorded tasks
    assert simulate(data, ModelChoice(recorded=False)).platform.overhead == Overhead(
        0.01, 0.02, 0.03
    )
