"""The QAOA MaxCut app through the platform, and the traces it leaves."""

from __future__ import annotations

import pandas as pd
import pytest

from qlambda.apps import qaoa_maxcut
from qlambda.core.events import EventKind
from qlambda.platform.traces import TRACE_FILES, export_traces, job_traces
from qlambda.sim.traces import default_traces_dir


@pytest.fixture(scope="module")
def maxcut_jobs(client):
    jobs = [
        client.run(qaoa_maxcut.run, priority=p, nodes=n, maxiter=12, seed=n)
        for n, p in ((4, 1), (6, 2), (6, 4))
    ]
    for job in jobs:
        job.result(300)
    return jobs


def test_qaoa_maxcut_runs_as_a_serverless_job(maxcut_jobs):
    result = maxcut_jobs[0].result(1)
    assert result["nodes"] == 4
    assert result["best_cut"] <= result["optimum"]
    assert result["iterations"] == 12
    kinds = [e.kind for e in maxcut_jobs[0].events()]
    # one quantum task per estimator call, plus the final sampling
    assert kinds.count(EventKind.QPU_FINISHED) == 13
    assert kinds.count(EventKind.CHECKPOINT) == 1


def test_traces_have_the_simulators_files_and_columns(client, maxcut_jobs, tmp_path):
    written = export_traces(client.platform.store, tmp_path)
    assert set(written) == {*TRACE_FILES, "platform"}
    published = default_traces_dir()
    for name in TRACE_FILES:
        mine = pd.read_csv(written[name])
        reference = published / ("v98709f3/" * (name == "exec_time") + f"{name}.csv")
        assert list(mine.columns) == list(pd.read_csv(reference, nrows=1).columns)
    iterations = pd.read_csv(written["num_iterations"])
    ours = iterations[iterations.n_qubits.isin([4, 6])]
    assert sorted(ours.num_iterations) == [13, 13, 13]
    assert len(pd.read_csv(written["exec_time"])) >= 39


def test_trace_times_add_up_to_the_jobs_wall_time(client, maxcut_jobs):
    jobs, tasks = job_traces(client.platform.store)
    row = jobs[jobs.job_id == maxcut_jobs[1].id].iloc[0]
    mine = tasks[tasks.job_id == maxcut_jobs[1].id]
    assert row.num_iterations == len(mine)
    accounted = row.pre + row.cost_time * (row.num_iterations - 1) + row.post
    assert 0 < accounted < row.job_time
    assert (mine.exec_time > 0).all()


def test_the_simulator_replays_the_platforms_traces(client, maxcut_jobs, tmp_path):
    from qlambda.sim import Scenario, run
    from qlambda.sim.traces import load_traces

    export_traces(client.platform.store, tmp_path)
    traces = load_traces(tmp_path)
    assert {4, 6} <= set(traces.iterations)
    scenario = Scenario(
        C=1,
        Q=1,
        interarrival=60,
        qubits=(4, 6),
        priorities=(1,),
        policies="fifo",
        duration=3600,
        warmup=0,
        traces=str(tmp_path),
        target_means=None,
    )
    result = run(scenario, reps=2, seed=1, jobs=1)
    assert len(result.jobs) > 10
    assert set(result.jobs.num_qubits) <= {4, 6}
