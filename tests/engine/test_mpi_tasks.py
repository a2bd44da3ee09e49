"""MPI tasks: a function on every rank of ``mpirun`` (Open MPI, mpi4py), rank 0's result."""

from __future__ import annotations

import os

import pytest
from qiskit import QuantumCircuit

from qlambda.core.errors import ConfigurationError
from qlambda.engine.mpi import MPIError
from qlambda.engine.mpi.aer import aer_mpi_problem, distributed_statevector
from qlambda.pilot import PilotDescription, PilotManager

pytestmark = pytest.mark.mpi


def ring(offset):
    """Each rank sends its number to the next; every rank returns what it saw."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    received = comm.sendrecv(rank, dest=(rank + 1) % size, source=(rank - 1) % size)
    total = comm.allreduce(rank + offset)
    return {"rank": rank, "size": size, "from": received, "total": total, "pid": os.getpid()}


def fails_on(bad_rank):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.Get_rank() == bad_rank:
        raise ValueError(f"rank {bad_rank} cannot go on")
    comm.Barrier()  # the others wait for it: the failing rank must end the job
    return "unreachable"


def job_of_rank_zero():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_size(), os.environ.get("SLURM_JOB_ID")


@pytest.fixture(scope="module")
def pilot():
    with PilotManager() as manager:
        yield manager.create_pilot(PilotDescription(engine="local", cores=2))


def test_a_task_runs_on_mpi_ranks_and_returns_rank_zeros_value(pilot):
    value = pilot.submit(ring, 10, resources={"mpi_ranks": 4}).result(120)
    # rank 0 heard from rank 3; the four ranks summed 0+1+2+3 and 4 * 10
    assert value["rank"] == 0 and value["size"] == 4
    assert value["from"] == 3 and value["total"] == 46
    assert value["pid"] != os.getpid()


def test_a_failing_rank_fails_the_task_with_its_error(pilot):
    with pytest.raises(ValueError, match="rank 2 cannot go on"):
        pilot.submit(fails_on, 2, resources={"mpi_ranks": 3}).result(120)
    with pytest.raises(ValueError, match="mpi_ranks must be a positive whole number"):
        pilot.submit(ring, 0, resources={"mpi_ranks": 0})


def test_without_mpirun_the_launcher_says_what_to_install(monkeypatch):
    from qlambda.engine.mpi.launch import mpirun_path

    assert mpirun_path().endswith("mpirun")
    monkeypatch.setenv("PATH", "/nonexistent")  # a worker whose PATH has no Open MPI
    with pytest.raises(MPIError, match=r"needs mpirun .* openmpi-bin"):
        mpirun_path()


def bell():
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


@pytest.mark.skipif(
    aer_mpi_problem() is None, reason="this Aer was built with MPI: there is no refusal to show"
)
def test_a_distributed_state_vector_is_refused_where_aer_has_no_mpi(pilot):
    future = pilot.submit(distributed_statevector, bell(), resources={"mpi_ranks": 2})
    with pytest.raises(ConfigurationError, match=r"built without MPI .* -DAER_MPI=True"):
        future.result(120)


@pytest.mark.skipif(aer_mpi_problem() is not None, reason=str(aer_mpi_problem()))
def test_a_state_vector_is_distributed_over_the_ranks(pilot):
    counts = pilot.submit(
        distributed_statevector, bell(), shots=1000, resources={"mpi_ranks": 2}
    ).result(300)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000


@pytest.mark.slurm
def test_an_mpi_task_runs_inside_a_slurm_pilots_allocation(slurm_cluster):
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="slurm", walltime="5m"))
        size, job = pilot.submit(job_of_rank_zero, resources={"mpi_ranks": 2}).result(120)
        assert size == 2 and job == pilot.engine.stats()["job_id"]
