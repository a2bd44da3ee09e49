"""The GPUs of this machine, and why there are none when there are none.

Engines that run tasks here (the local pool, a private Ray or Dask instance) can only
promise GPUs the machine has; a cluster's engines (SLURM, a Ray or Dask cluster) are
asked by their schedulers instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from functools import cache


@cache
def machine_gpus() -> tuple[int, str]:
    """(how many GPUs, how that was found or why there are none)."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is not None:
        try:
            listing = subprocess.run(
                [nvidia_smi, "-L"], capture_output=True, text=True, timeout=20
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            return 0, f"nvidia-smi -L failed: {exc}"
        count = sum(1 for line in listing.splitlines() if line.startswith("GPU "))
        if count:
            return count, f"nvidia-smi lists {count}"
    devices = glob.glob("/proc/driver/nvidia/gpus/*")
    if devices:
        return len(devices), f"/proc/driver/nvidia/gpus has {len(devices)}"
    if os.path.exists("/dev/kfd"):
        cards = glob.glob("/dev/dri/renderD*")
        if cards:
            return len(cards), f"an AMD ROCm device (/dev/kfd) with {len(cards)} render nodes"
    return 0, (
        "this machine has no GPU: no NVIDIA driver (nvidia-smi lists none and "
        "/proc/driver/nvidia/gpus is absent) and no AMD ROCm device (/dev/kfd)"
    )


def check_gpus_here(gpus: float, what: str) -> None:
    """Refuse ``gpus`` for ``what`` (an engine running on this machine) beyond the machine's."""
    if not gpus:
        return
    count, how = machine_gpus()
    if gpus > count:
        from qlambda.core.errors import ConfigurationError

        raise ConfigurationError(
            f"gpus={gpus:g}: {what} runs on this machine and {how if not count else how + ' GPUs'}"
            "; GPUs of a cluster are reached with engine='slurm' (--gpus), or a Ray or Dask "
            "cluster whose nodes declare them"
        )
