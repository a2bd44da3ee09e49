"""Tightly coupled tasks: a function run by every rank of an MPI job (mpi4py, Open MPI).

``Pilot.submit(fn, resources={"mpi_ranks": 4})`` runs ``launch`` as the task on one of
the pilot's workers; ``launch`` starts ``mpirun`` with that many ranks of
``qlambda.engine.mpi.rank``, each of which calls ``fn`` (which talks to the others
through ``mpi4py.MPI.COMM_WORLD``). The task's result is rank 0's return value; if a
rank raises, the task raises that rank's error.
"""

from qlambda.engine.mpi.launch import MPIError, launch, mpirun_path

__all__ = ["MPIError", "launch", "mpirun_path"]
