"""The twin end to end: the embedded platform under a Poisson stream, and the simulator told
the same configuration (or a wrong one).

One platform run (FIFO, 2 QPU slots, offered load 0.8, 80 jobs of the VQE shape,
about 40 ms of emulated QPU time per task). The tolerances are those the model
achieves at this small scale on a shared machine (a run of 80 jobs is one noisy
sample: the README's figures come from 300-job runs): the median job time overall
and per priority within 15 %, the overall p95 within 15 %, the distribution within a
Kolmogorov-Smirnov distance of 0.2, and job by job (FIFO draws nothing, so the
simulator replays the same jobs in the same order) half the jobs within 10 % of
their measured time. A simulator told the wrong policy (LIFO) or the wrong number of
QPUs (1) misses them.
"""

from __future__ import annotations

import pytest

from qlambda.twin.compare import ModelChoice, verdict
from qlambda.twin.platform_run import TwinConfig, run_platform

pytestmark = pytest.mark.slow

MEDIAN_TOLERANCE = 0.15
P95_TOLERANCE = 0.15
KS_TOLERANCE = 0.2
JOB_TOLERANCE = 0.10


def agrees(measured, found, simulated) -> bool:
    table = found.table.set_index("group")
    medians = table.loc[["all", "prio 1", "prio 2", "prio 4"], "median_error"].abs()
    mine = measured.jobs.job_time.to_numpy()
    theirs = simulated.jobs.set_index("job").job_time
    per_job = (theirs / mine[theirs.index] - 1).abs()
    return bool(
        medians.max() <= MEDIAN_TOLERANCE
        and abs(table.loc["all", "p95_error"]) <= P95_TOLERANCE
        and table.loc["all", "ks"] <= KS_TOLERANCE
        and per_job.median() <= JOB_TOLERANCE
    )


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    config = TwinConfig(policy="fifo", load=0.8, jobs=80, qpus=2, workers=2, seed=3)
    return run_platform(config, tmp_path_factory.mktemp("twin"))


def test_the_platform_run_is_recorded_whole(measured):
    jobs = measured.jobs
    assert len(jobs) == 80 and set(jobs.status) == {"DONE"}
    assert (jobs.job_time > 0).all()
    done_tasks = measured.tasks.groupby("job").size()
    assert (done_tasks == jobs.iterations).all()  # every quantum task of every job
    assert measured.traces_dir is not None
    for name in ("pre", "cost_time", "post", "num_iterations", "exec_time", "arrivals"):
        assert (measured.traces_dir / f"{name}.csv").is_file()
    # what the model was calibrated with: the emulated QPU time (tens of ms) and a
    # platform overhead of milliseconds, not more
    assert all(0.02 < s < 0.1 for s in measured.calibration.qpu_seconds.values())
    assert 0 < measured.calibration.overhead.iteration < 0.02


def test_the_simulator_told_the_platform_s_configuration_agrees(measured):
    found, simulated = verdict(measured)
    assert simulated.platform.policy == "fifo" and simulated.platform.Q == 2
    assert agrees(measured, found, simulated), found.table.to_string()
    assert abs(found.sim_utilisation - found.utilisation) < 0.05


@pytest.mark.parametrize("wrong", [ModelChoice(policy="lifo"), ModelChoice(qpus=1)])
def test_a_simulator_told_a_wrong_configuration_disagrees(measured, wrong):
    found, simulated = verdict(measured, wrong)
    assert not agrees(measured, found, simulated), found.table.to_string()
