"""SLURM pilots on a real single-node SLURM (scripts/slurm.py): the placeholder job, its
agent, tasks, cancel, a job killed by the scheduler, walltime and drain."""

from __future__ import annotations

import os
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pytest

from qlambda.core.errors import ConfigurationError, PilotEndedError, WorkerDiedError
from qlambda.engine.slurm import batch
from qlambda.pilot import PilotDescription, PilotManager

pytestmark = pytest.mark.slurm


def where(x):
    return x * x, os.environ.get("SLURM_JOB_ID"), os.getpid()


def hold(marker, seconds):
    Path(marker).touch()
    time.sleep(seconds)
    return "finished"


def square(x):
    return x * x


def with_context(ctx):
    return ctx.task_name


def wait_for(condition, timeout=60.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def job_line(cluster, job_id, fields):
    return cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", fields).stdout.strip()


def test_the_pilot_is_a_placeholder_job_whose_agent_runs_its_tasks(slurm_cluster):
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="slurm", cores=1, walltime="7m"))
        job_id = pilot.engine.stats()["job_id"]
        # the batch system's own view: our name, one core, the walltime rounded to minutes
        assert job_line(slurm_cluster, job_id, "%j|%C|%l") == f"qlambda-{pilot.id}|1|7:00"
        assert pilot.wait_ready(60)
        results = [f.result(60) for f in [pilot.submit(where, i) for i in range(20)]]
        assert [r[0] for r in results] == [i * i for i in range(20)]
        # inside the allocation, on the agent's warm workers (not one process per task)
        assert {r[1] for r in results} == {job_id}
        assert len({r[2] for r in results}) == 1
        kinds = [e.kind for e in pilot.events()]
        assert kinds[:3] == ["SUBMITTED", "RUNNING", "READY"]
        ready = next(e for e in pilot.events() if e.kind == "READY")
        assert ready.data["job_id"] == job_id and ready.data["setup_seconds"] > 0
        assert ready.data["engine"] == "local" and ready.data["cpus"] == 1


def test_cancel_runs_scancel_and_stops_the_running_task(slurm_cluster, tmp_path):
    pilot = PilotManager().create_pilot(PilotDescription(engine="slurm", walltime="5m"))
    job_id = pilot.engine.stats()["job_id"]
    assert pilot.wait_ready(60)
    one = pilot.submit(hold, str(tmp_path / "one"), 120)
    wait_for((tmp_path / "one").exists, what="the first task's start")
    assert pilot.cancel_task(one)  # stopped in the agent; the pilot goes on
    with pytest.raises(CancelledError):
        one.result(30)
    assert pilot.submit(square, 4).result(60) == 16
    running = pilot.submit(hold, str(tmp_path / "started"), 120)
    waiting = pilot.submit(square, 3)  # one core: it waits behind
    wait_for((tmp_path / "started").exists, what="the task's start")
    pilot.cancel()
    with pytest.raises(CancelledError):
        running.result(10)
    assert waiting.cancelled()
    wait_for(
        lambda: job_line(slurm_cluster, job_id, "%T") in ("CANCELLED", ""),
        what="the job's end",
    )
    assert pilot.events()[-1].kind == "ENDED"


def test_a_job_the_scheduler_kills_fails_its_running_task_and_others_take_the_rest(
    slurm_cluster, tmp_path
):
    with PilotManager() as manager:
        doomed = manager.create_pilot(PilotDescription(engine="slurm", walltime="5m"))
        assert doomed.wait_ready(60)
        running = manager.submit(hold, str(tmp_path / "started"), 120)
        waiting = [manager.submit(square, i) for i in range(4)]  # queued behind it there
        wait_for((tmp_path / "started").exists, what="the task's start")
        assert doomed.engine.stats()["queued"] == 4
        manager.create_pilot(PilotDescription(engine="local", cores=1))
        job_id = doomed.engine.stats()["job_id"]
        slurm_cluster.run("scancel", job_id)  # from outside, as an administrator would
        with pytest.raises(WorkerDiedError, match=rf"batch job {job_id} ended: CANCELLED"):
            running.result(30)
        assert [f.result(60) for f in waiting] == [0, 1, 4, 9]
        ended = doomed.events()[-1]
        assert ended.kind == "ENDED" and ended.data["state"] == "CANCELLED"
        # an ended pilot takes nothing new; alone it says why
        with pytest.raises(PilotEndedError, match="CANCELLED"):
            doomed.submit(square, 1).result(5)


def test_a_task_that_cannot_finish_before_the_walltime_is_not_started(slurm_cluster):
    pilot = PilotManager().create_pilot(PilotDescription(engine="slurm", walltime="1m"))
    try:
        assert pilot.wait_ready(60)
        too_long = pilot.submit(square, 2, resources={"timeout": "2m"})
        with pytest.raises(PilotEndedError, match=r"may run 120 s .* walltime left"):
            too_long.result(10)
        assert pilot.submit(square, 2, resources={"timeout": "10s"}).result(30) == 4
        with pytest.raises(ValueError, match=r"ctx parameter.* use a Ray or Dask pilot"):
            pilot.submit(with_context)
    finally:
        pilot.cancel()


@pytest.mark.slow
def test_a_pilot_drains_near_its_walltime_and_the_walltime_ends_its_tasks(slurm_cluster):
    pilot = PilotManager().create_pilot(PilotDescription(engine="slurm", walltime="1m"))
    try:
        assert pilot.wait_ready(60)
        endless = pilot.submit(time.sleep, 600)
        queued = pilot.submit(square, 5)  # one core, held by the endless task
        with pytest.raises(PilotEndedError, match="drains"):
            queued.result(90)
        assert "DRAINING" in [e.kind for e in pilot.events()]
        with pytest.raises(PilotEndedError, match=r"drains|ended"):
            pilot.submit(square, 6).result(5)
        with pytest.raises(WorkerDiedError, match="TIMEOUT: its walltime ran out"):
            endless.result(120)
    finally:
        pilot.cancel()


def test_what_slurm_refuses_is_reported_with_its_reason(slurm_cluster):
    manager = PilotManager()
    # this cluster has no GPU (no gres): --gpus reaches sbatch, which says so
    with pytest.raises(ConfigurationError, match=r"SLURM refused .*(gres|GRES)"):
        manager.create_pilot(PilotDescription(engine="slurm", gpus=1))
    with pytest.raises(ConfigurationError, match=r"SLURM refused .*[Pp]artition"):
        manager.create_pilot(PilotDescription(engine="slurm", queue="nonexistent"))


@pytest.mark.slow
@pytest.mark.parametrize("inner", ["ray", "dask"])
def test_the_agent_starts_ray_or_dask_inside_the_allocation(slurm_cluster, inner):
    description = PilotDescription(engine="slurm", cores=2, walltime="5m", agent_engine=inner)
    with PilotManager() as manager:
        pilot = manager.create_pilot(description)
        assert pilot.wait_ready(120)
        job_id = pilot.engine.stats()["job_id"]
        results = [f.result(60) for f in [pilot.submit(where, i) for i in range(10)]]
        assert [r[0] for r in results] == [i * i for i in range(10)]
        assert {r[1] for r in results} == {job_id}  # the engine's workers are the job's
        ready = next(e for e in pilot.events() if e.kind == "READY")
        assert ready.data["engine"] == inner and ready.data["cpus"] == 2


def test_batch_descriptions_are_checked():
    with pytest.raises(ConfigurationError, match="need engine='slurm'"):
        PilotDescription(engine="local", walltime="1h")
    with pytest.raises(ConfigurationError, match="cannot read walltime 'soon'"):
        PilotDescription(engine="slurm", walltime="soon")
    with pytest.raises(ConfigurationError, match="nodes must be a positive integer"):
        PilotDescription(engine="slurm", nodes=0)
    with pytest.raises(ConfigurationError, match="local pool runs on one node"):
        PilotDescription(engine="slurm", nodes=2, agent_engine="local")
    with pytest.raises(ConfigurationError, match="unknown agent_engine 'spark'"):
        PilotDescription(engine="slurm", agent_engine="spark")
    with pytest.raises(ConfigurationError, match="own allocation"):
        PilotDescription(engine="slurm", address="auto")


def test_the_batch_commands_output_is_read_robustly():
    assert batch.parse_job_id("42\n") == "42"
    assert batch.parse_job_id("42;cluster\n") == "42"
    assert batch.parse_job_id("site banner\nSubmitted batch job 7 on cluster c1\n") == "7"
    with pytest.raises(batch.BatchError, match="no job id"):
        batch.parse_job_id("sbatch: queued\n")
    assert batch.parse_duration("59") == 59 * 60  # minutes
    assert batch.parse_duration("4:05") == 245
    assert batch.parse_duration("1:00:01") == 3601
    assert batch.parse_duration("2-03:00:00") == 2 * 86400 + 3 * 3600
    assert batch.parse_duration("1-02") == 86400 + 7200
    assert batch.parse_duration("UNLIMITED") is None
    state = batch.parse_state("12|TIMEOUT|TimeLimit|0:00|vm\n", "12")
    assert state is not None and not state.active
    assert state.describe() == "TIMEOUT: its walltime ran out; SLURM's reason: TimeLimit"
    assert batch.parse_state("13|RUNNING|None|0:00|vm\n", "12") is None
    assert batch.format_walltime(30) == "0-00:01:00"
    assert batch.format_walltime(90061) == "1-01:02:00"
