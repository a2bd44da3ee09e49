"""``launch``: one MPI task, from the worker that runs it (see ``qlambda.engine.mpi``)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import qlambda
from qlambda.core.errors import TaskFailedError
from qlambda.engine.protocol import ErrorInfo

# Open MPI refuses root without it; ranks beyond the cores share them (a test machine, a
# node given fewer cores than ranks) instead of failing
MPIRUN_FLAGS = ("--allow-run-as-root", "--oversubscribe")
OUTPUT_TAIL = 4000


class MPIError(TaskFailedError):
    """The MPI job failed outside the function: mpirun missing, a rank crashed, ..."""


def mpirun_path() -> str:
    found = shutil.which("mpirun")
    if found is None:
        raise MPIError(
            "an MPI task needs mpirun on the worker's PATH, and there is none: install "
            "Open MPI (Debian: apt-get install openmpi-bin; see scripts/openmpi.py)"
        )
    return found


def launch(function: bytes, arguments: bytes, ranks: int) -> Any:
    """Run the pickled call on ``ranks`` MPI ranks; rank 0's value, or the failing rank's
    error."""
    command = [mpirun_path(), *MPIRUN_FLAGS, "-n", str(ranks)]
    with tempfile.TemporaryDirectory(prefix="qlambda-mpi-") as directory:
        Path(directory, "call.pkl").write_bytes(pickle.dumps((function, arguments)))
        source = str(Path(qlambda.__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": source + (f":{path}" if path else "")}
        done = subprocess.run(
            [*command, sys.executable, "-m", "qlambda.engine.mpi.rank", directory],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        outcome = _outcome(directory, ranks)
    if outcome is None:
        said = (done.stderr + done.stdout).strip()[-OUTPUT_TAIL:]
        raise MPIError(
            f"the MPI job of {ranks} ranks ended (mpirun exit code {done.returncode}) "
            f"without a result from rank 0: {said or 'no output'}"
        )
    ok, value = outcome
    if ok:
        return value
    from qlambda.engine.local.engine import remote_error

    raise remote_error(value)


def _outcome(directory: str, ranks: int) -> tuple[bool, Any] | None:
    """Rank 0's (True, value) or (False, ErrorInfo); else the first failing rank's error."""
    for rank in range(ranks):
        path = Path(directory, f"rank{rank}.pkl")
        if not path.exists():
            continue
        with contextlib.suppress(Exception):
            ok, value = pickle.loads(path.read_bytes())
            if rank == 0 or not ok:
                if not ok and not isinstance(value, ErrorInfo):
                    return None
                return ok, value
    return None


def _die_with_parent() -> None:
    """mpirun (and so its ranks) ends with the worker that started it, even on SIGKILL
    (a task's time limit kills its worker)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
