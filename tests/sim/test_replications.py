"""Replications on the trace-driven model: determinism, common workload, accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qlambda.sim import Scenario, run
from qlambda.sim.model import HOUR

POLICIES = ("fifo", "lifo", "random", "weighted")


@pytest.fixture(scope="module")
def result():
    scenario = Scenario(policies=POLICIES, duration=36 * HOUR, warmup=6 * HOUR, reps=3, seed=20)
    return run(scenario, jobs=2)


def test_same_seed_same_results_in_another_process_layout(result):
    again = run(result.scenario, jobs=1)
    drop = ["wall_seconds"]
    pd.testing.assert_frame_equal(
        result.replications.drop(columns=drop), again.replications.drop(columns=drop)
    )
    pd.testing.assert_frame_equal(result.jobs, again.jobs)


def test_other_seeds_give_other_results(result):
    other = run(result.scenario.replace(seed=99, policies="weighted", reps=1), jobs=1)
    mine = result.jobs[(result.jobs.policy == "weighted") & (result.jobs.seed == 20)]
    assert not np.array_equal(other.jobs["job_time"], mine["job_time"])


def test_every_policy_sees_the_same_jobs_for_a_seed(result):
    reps = result.replications
    for _, group in reps.groupby("seed"):
        assert group["arrived_total"].nunique() == 1
    jobs = result.jobs
    for seed in jobs.seed.unique():
        per_policy = [
            jobs[(jobs.seed == seed) & (jobs.policy == p)].set_index("job")[
                ["num_qubits", "priority", "iterations", "arrival"]
            ]
            for p in POLICIES
        ]
        for frame in per_policy[1:]:
            common = frame.index.intersection(per_policy[0].index)
            assert len(common) > 0
            pd.testing.assert_frame_equal(frame.loc[common], per_policy[0].loc[common])
    # ...while the policies do schedule them differently
    assert result.jobs.groupby("policy")["job_time"].median().nunique() == len(POLICIES)


def test_jobs_are_conserved(result):
    reps = result.replications
    assert (reps.arrived_total == reps.accepted_total + reps.dropped_total).all()
    assert (reps.accepted_total == reps.completed_total + reps.in_flight).all()
    assert (reps.arrived == reps.accepted + reps.dropped).all()
    assert (reps.completed <= reps.completed_total).all()
    counted = result.jobs.groupby(["policy", "seed"]).size()
    assert (
        counted.to_numpy() == reps.set_index(["policy", "seed"]).loc[counted.index, "completed"]
    ).all()


def test_littles_law_links_time_averages_and_job_times():
    # every active job has exactly one task, classical or quantum, so the two time
    # averages add up to the jobs in the system: L = lambda_accepted * E[job time].
    # FIFO, because LIFO starves jobs past the end of the run, which biases E[job time]
    scenario = Scenario(policies="fifo", duration=5 * 24 * HOUR, warmup=12 * HOUR, reps=4)
    outcome = run(scenario, jobs=2)
    reps = outcome.replications
    in_system = (reps.avg_classical_tasks + reps.avg_quantum_tasks).mean()
    throughput = (reps.accepted / (reps.duration - reps.warmup)).mean()
    mean_time = outcome.jobs["job_time"].mean()
    assert in_system == pytest.approx(throughput * mean_time, rel=0.1)


def test_metrics_are_within_their_ranges(result):
    reps = result.replications
    assert reps.drop_probability.between(0, 1).all()
    assert (reps.avg_classical_tasks >= 0).all()
    # admission keeps active classical + pending quantum bounded by C_max + Q_max (+ Q running)
    assert (reps.avg_classical_tasks + reps.avg_quantum_tasks <= 40 + 40 + 4).all()
    assert (result.jobs.completion >= reps.warmup.iloc[0]).all()
    assert (result.jobs.job_time > 0).all()
    assert reps.accepted_per_hour.equals(reps.accepted / ((reps.duration - reps.warmup) / HOUR))


def test_progress_bar_counts_every_replication(capsys):
    scenario = Scenario(policies=("fifo", "lifo"), duration=6 * HOUR, warmup=HOUR, reps=3)
    result = run(scenario, jobs=2, progress=True)
    assert len(result.replications) == 6
    shown = capsys.readouterr()
    assert "6/6" in shown.err and shown.out == ""  # stdout stays the caller's


PROGRESS_SCRIPT = """
from qlambda.sim import Scenario, run
from qlambda.sim.model import HOUR
scenario = Scenario(policies=("fifo", "lifo"), duration=6 * HOUR, warmup=HOUR, reps=2)
run(scenario, jobs=1{extra})
print("finished")
"""


def _run_script(code: str, terminal: bool) -> str:
    """Run ``code`` in a fresh interpreter, its output on a pseudo-terminal or on pipes."""
    import os
    import pty
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    if not terminal:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_shows_on_a_terminal_by_default_and_not_in_pipes():
    on_terminal = _run_script(PROGRESS_SCRIPT.format(extra=""), terminal=True)
    assert "simulating custom" in on_terminal and "4/4" in on_terminal
    piped = _run_script(PROGRESS_SCRIPT.format(extra=""), terminal=False)
    assert piped == "finished\n"
    asked_not_to = _run_script(PROGRESS_SCRIPT.format(extra=", progress=False"), terminal=True)
    assert "simulating" not in asked_not_to and "finished" in asked_not_to
