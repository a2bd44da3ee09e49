"""A Pilot-Quantum program runs on qlambda's pilots with its import line changed, and
gives what its task functions give when called directly; pilot tasks reach the pilot's
QPUs through its dispatcher."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from tests.compat.migrate import migrate_tree

from qlambda.compat.pilot_quantum import (
    ExecutionEngine,
    PilotAPIException,
    PilotComputeService,
    gpus_on_this_machine,
)

PROGRAMS = Path(__file__).parent / "programs" / "pilot_quantum"


def run_program(tmp_path: Path, engine: str) -> tuple[dict, object]:
    """The migrated program in a fresh interpreter; and its module, for direct calls."""
    folder = tmp_path / "program"
    changed = migrate_tree(PROGRAMS, folder)
    assert changed == [
        "from qlambda.compat.pilot_quantum import ExecutionEngine, PilotComputeService"
    ]
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PILOT_TYPE": engine,
        "PILOT_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(root / "src"),
    }
    script = folder / "circuit_ensemble.py"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    spec = importlib.util.spec_from_file_location("circuit_ensemble", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return json.loads(line.removeprefix("RESULT ")), module


def check_as_called_directly(result: dict, program: object) -> None:
    assert result["squares"] == [program.square(i) for i in range(8)]  # type: ignore[attr-defined]
    direct = [program.ghz_counts(width, 2000) for width in (2, 3, 4)]  # type: ignore[attr-defined]
    assert result["counts"] == direct  # seeded: the same counts, wherever they ran


@pytest.mark.slow
def test_the_program_runs_on_a_dask_pilot_with_its_import_changed(tmp_path):
    result, program = run_program(tmp_path, "dask")
    check_as_called_directly(result, program)
    assert (tmp_path / "home" / "work").is_dir()


@pytest.mark.slow
def test_the_program_runs_on_a_ray_pilot_with_its_import_changed(tmp_path):
    result, program = run_program(tmp_path, "ray")
    check_as_called_directly(result, program)


# ------------------------------------------------------------ the service, in process
@pytest.fixture(scope="module")
def pcs(tmp_path_factory):
    service = PilotComputeService(
        execution_engine=ExecutionEngine.LOCAL,
        working_directory=tmp_path_factory.mktemp("pcs"),
    )
    service.create_pilot(
        {"resource": "local", "name": "main", "number_of_nodes": 1, "cores_per_node": 2}
    )
    yield service
    service.cancel()


def bell_counts(shots, ctx):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    counts = ctx.sampler().run([circuit], shots=shots).result()[0].data.meas.get_counts()
    return ctx.task_name, counts


def keywords(*args, **kwargs):
    return args, kwargs


def grow(megabytes):
    block = bytearray(megabytes * 2**20)
    return len(block)


def test_tasks_with_ctx_run_on_the_pilots_qpus(pcs):
    pilot = pcs.get_pilot("main").pilot
    before = pilot.dispatcher.stats()[0]["completed"]
    tasks = [pcs.submit_task(bell_counts, 2000, task_name=f"bell-{i}") for i in range(2)]
    pcs.wait_tasks(tasks)
    results = pcs.get_results(tasks)
    assert [name for name, _ in results] == ["bell-0", "bell-1"]
    for _, counts in results:
        assert sorted(counts) == ["00", "11"] and sum(counts.values()) == 2000
        assert all(abs(c - 1000) < 5 * math.sqrt(500) for c in counts.values())
    # each task's sampler call was a quantum task of the pilot's own dispatcher
    assert pilot.dispatcher.stats()[0]["completed"] == before + 2


def test_task_name_and_resources_never_reach_the_function(pcs):
    task = pcs.submit_task(
        keywords, 1, resources={"num_cpus": 1, "num_gpus": 0, "memory": None}, task_name="kw"
    )
    assert pcs.get_results([task]) == [((1,), {})]
    assert task.task_name == "kw"
    assert pcs.run(keywords, 2, scale=3) == ((2,), {"scale": 3})


def test_memory_is_bytes_and_enforced(pcs):
    small = pcs.submit_task(grow, 10, resources={"memory": 200 * 2**20})
    assert small.result() == 10 * 2**20
    big = pcs.submit_task(grow, 400, resources={"memory": 200 * 2**20})
    with pytest.raises(Exception, match="memory limit of 200 MB"):
        big.result()


def test_what_cannot_be_honoured_is_refused_saying_why(pcs, tmp_path):
    with pytest.raises(PilotAPIException, match=r"unknown task resource.*accepted: num_cpus"):
        pcs.submit_task(keywords, resources={"num_cpu": 1})
    with pytest.raises(PilotAPIException, match="num_cpus must be a whole number"):
        pcs.submit_task(keywords, resources={"num_cpus": 0.5})
    if not gpus_on_this_machine():
        with pytest.raises(PilotAPIException, match="no GPU"):
            pcs.submit_task(keywords, resources={"num_gpus": 1})
        with pytest.raises(PilotAPIException, match="no GPU"):
            pcs.create_pilot({"gpus_per_node": 1})
    with pytest.raises(PilotAPIException, match="pilot 'nope' not found; pilots: main"):
        pcs.submit_task(keywords, pilot="nope")
    with pytest.raises(PilotAPIException, match=r"unknown pilot description key.*cores"):
        pcs.create_pilot({"cores": 2})
    with pytest.raises(PilotAPIException, match="submits no batch jobs"):
        pcs.create_pilot({"resource": "slurm://perlmutter"})
    with pytest.raises(PilotAPIException, match="contradicts the service's execution engine"):
        pcs.create_pilot({"type": "ray"})
    with pytest.raises(PilotAPIException, match="unknown type 'spark'"):
        PilotComputeService(working_directory=tmp_path).create_pilot({"type": "spark"})
    assert pcs.get_pilots() == ["main"]


def test_a_pilot_ends_when_its_walltime_is_up(tmp_path):
    service = PilotComputeService(working_directory=tmp_path)
    try:
        pilot = service.create_pilot({"walltime": 0.02, "cores_per_node": 1})  # 1.2 s
        assert pilot.get_state() == "RUNNING"
        deadline = time.monotonic() + 30
        while pilot.get_state() == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pilot.get_state() == "CANCELED"
        with pytest.raises(PilotAPIException, match="no pilot to run the task"):
            service.submit_task(keywords, 1)
    finally:
        service.cancel()
