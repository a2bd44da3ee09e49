"""A pilot on SLURM: a placeholder batch job whose agent runs the tasks; an MPI task in it.

README: "HPC: SLURM pilots, MPI tasks, GPUs". Run where SLURM's sbatch reaches your
cluster (a login node): python examples/hpc.py
Needs Open MPI's mpirun on the nodes for the MPI task (Debian: openmpi-bin).
"""

import os

from qlambda.pilot import PilotDescription, PilotManager


def where(x: int) -> tuple[int, str | None]:
    """A task: its square, and the batch job it ran in."""
    return x * x, os.environ.get("SLURM_JOB_ID")


def allreduce(value: int) -> tuple[int, int]:
    """Every MPI rank adds its value; rank 0's answer is the task's result."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return comm.Get_size(), comm.allreduce(value + comm.Get_rank())


if __name__ == "__main__":
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="slurm", cores=1, walltime="10m"))
        pilot.wait_ready(600)  # the job may wait in the queue
        ready = next(e for e in pilot.events() if e.kind == "READY")
        print(f"batch job {ready.data['job_id']} ready in {ready.data['setup_seconds']:.1f} s")
        results = list(pilot.map(where, range(10)))
        print("squares:", [square for square, _ in results][:5], "...")
        print("ran in batch job(s):", sorted({job for _, job in results if job}))
        ranks, total = pilot.submit(allreduce, 10, resources={"mpi_ranks": 4}).result(300)
        print(f"MPI task: {ranks} ranks, allreduce = {total}")
    print("after cancel:", [e.kind for e in pilot.events()][-1])
