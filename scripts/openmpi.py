"""Makes sure Open MPI (``mpirun``) and mpi4py work here, for the MPI tasks' tests.

Installs Debian's ``openmpi-bin`` and ``libopenmpi-dev`` with apt-get when ``mpirun``
is missing (needs root). mpi4py itself is a pinned dependency in pyproject.toml (its
binary wheel loads the system's MPI library when it starts: nothing is compiled). The
check runs two ranks that talk to each other, as ``root`` too (``--allow-run-as-root``).

    python scripts/openmpi.py    # prints mpirun's path and the MPI library, or why not
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # debian.py
from debian import apt_install

PACKAGES = ("openmpi-bin", "libopenmpi-dev")
PROBE = (
    "from mpi4py import MPI; c = MPI.COMM_WORLD; "
    "total = c.allreduce(c.Get_rank() + 1); "
    "c.Get_rank() == 0 and print(total, MPI.Get_library_version().splitlines()[0])"
)


def ensure_installed() -> str:
    """The path of a working ``mpirun``, installing Debian's Open MPI if needed."""
    found = shutil.which("mpirun")
    if found is None:
        if os.geteuid() != 0:
            raise RuntimeError(
                "Open MPI is not installed and installing it needs root: "
                f"apt-get install {' '.join(PACKAGES)}"
            )
        apt_install(PACKAGES, recommends=False)
        found = shutil.which("mpirun")
        if found is None:
            raise RuntimeError("apt-get installed Open MPI but no mpirun was found")
    return found


def check(mpirun: str) -> str:
    """Two mpi4py ranks sum their numbers; returns what rank 0 printed."""
    try:
        import mpi4py  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "mpi4py is missing: it is a dependency of qlambda's dev extra (pip install -e '.[dev]')"
        ) from exc
    probe = subprocess.run(
        [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = probe.stdout.strip()
    if probe.returncode != 0 or not said.startswith("3 "):
        raise RuntimeError(f"mpirun of two mpi4py ranks failed: {(probe.stderr or said).strip()}")
    return said[2:]


def main() -> int:
    try:
        mpirun = ensure_installed()
        print(f"openmpi: {mpirun} ({check(mpirun)})")
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"openmpi: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
