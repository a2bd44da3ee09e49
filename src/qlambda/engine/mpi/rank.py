"""One MPI rank of an MPI task: ``mpirun ... python -m qlambda.engine.mpi.rank DIRECTORY``.

Every rank calls the function; rank 0 writes its value, and a rank that raises writes
its error and aborts the job (the others would otherwise wait for it forever).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import cloudpickle


def main(argv: list[str]) -> int:
    from mpi4py import MPI

    directory = Path(argv[0])
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    function, arguments = pickle.loads(Path(directory, "call.pkl").read_bytes())
    outcome: tuple[bool, Any]
    try:
        fn = pickle.loads(function)
        args, kwargs = pickle.loads(arguments)
        outcome = (True, fn(*args, **kwargs))
    except BaseException as exc:
        from qlambda.engine.local.userfault import error_info

        outcome = (False, error_info(exc))
    if rank == 0 or not outcome[0]:
        try:
            data = cloudpickle.dumps(outcome)
        except Exception as exc:
            from qlambda.engine.local.userfault import error_info

            error = TypeError(f"rank {rank}'s value cannot be sent back: {exc}")
            data = cloudpickle.dumps((False, error_info(error)))
        partial = Path(directory, f".rank{rank}.pkl")
        partial.write_bytes(data)
        partial.rename(Path(directory, f"rank{rank}.pkl"))
    if not outcome[0]:
        comm.Abort(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
