"""A state vector distributed over MPI ranks with Aer, where the installed Aer can.

Aer spreads a state vector over MPI processes only when it was built with MPI
(``-DAER_MPI=True``; PyPI's wheels are not). ``aer_mpi_problem`` says whether the
installed one was, by the MPI library its simulator links; ``distributed_statevector``
refuses with that reason instead of running every rank's whole copy. Run it as an MPI
task:

    pilot.submit(distributed_statevector, circuit, shots=1000, resources={"mpi_ranks": 4})
"""

from __future__ import annotations

import glob
import math
import os
import subprocess
from functools import cache
from typing import Any

from qlambda.core.errors import ConfigurationError


@cache
def aer_mpi_problem() -> str | None:
    """Why the installed Aer cannot distribute a state vector over MPI ranks; None if it
    can."""
    import qiskit_aer

    folder = os.path.dirname(qiskit_aer.__file__)
    libraries = glob.glob(os.path.join(folder, "backends", "controller_wrappers*.so"))
    if not libraries:
        return f"qiskit-aer {qiskit_aer.__version__} has no compiled simulator in {folder}"
    try:
        linked = subprocess.run(
            ["ldd", libraries[0]], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot tell whether Aer was built with MPI: ldd failed ({exc})"
    if "libmpi" not in linked:
        return (
            f"qiskit-aer {qiskit_aer.__version__} here was built without MPI (its simulator "
            "links no libmpi), so every rank would hold the whole state vector; a distributed "
            "state vector needs Aer built with -DAER_MPI=True (see Aer's guide 'Running with "
            "multiple-GPUs and/or multiple nodes')"
        )
    return None


def distributed_statevector(
    circuit: Any, shots: int = 1024, seed: int | None = None, device: str = "CPU"
) -> dict[str, int]:
    """Counts of ``circuit``, its state vector spread over the MPI task's ranks (every rank
    calls this; rank 0's counts are the task's result). ``device="GPU"``: each rank's
    chunk on a GPU."""
    problem = aer_mpi_problem()
    if problem is not None:
        raise ConfigurationError(problem)
    from mpi4py import MPI
    from qiskit_aer import AerSimulator

    ranks = MPI.COMM_WORLD.Get_size()
    # each rank holds 2**blocking_qubits amplitudes: the state split over the ranks
    blocking = max(1, circuit.num_qubits - int(math.log2(ranks)))
    simulator = AerSimulator(
        method="statevector", device=device, blocking_enable=True, blocking_qubits=blocking
    )
    result = simulator.run(circuit, shots=shots, seed_simulator=seed).result()
    used = result.metadata.get("num_mpi_processes", 1)
    if used != ranks:
        raise ConfigurationError(
            f"Aer ran on {used} MPI process(es) of the task's {ranks}: it did not distribute "
            "the state vector"
        )
    counts: dict[str, int] = result.get_counts()
    return counts
