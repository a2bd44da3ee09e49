"""Where Aer simulates a backend's circuits: on the CPU, or with Aer's GPU method.

Aer says which devices it can use (``AerSimulator().available_devices()``): "GPU" is
there only with a GPU build of Aer (``qiskit-aer-gpu``) on a machine with a CUDA GPU.
A backend asks for ``simulator_device = "GPU"``; a pilot whose description has
``gpus`` gets it for its simulated QPUs.
"""

from __future__ import annotations

from functools import cache

from qlambda.core.errors import ConfigurationError

DEVICES = ("CPU", "GPU")


@cache
def aer_devices() -> tuple[str, ...]:
    """The devices this machine's Aer can simulate on, e.g. ("CPU",) or ("CPU", "GPU")."""
    from qiskit_aer import AerSimulator

    return tuple(AerSimulator().available_devices())


def gpu_available() -> bool:
    return "GPU" in aer_devices()


def check_simulator_device(device: object, label: str) -> None:
    """Refuse a device Aer does not know, or a GPU where Aer finds none."""
    if device not in DEVICES:
        raise ConfigurationError(
            f"{label}: simulator_device must be one of {', '.join(map(repr, DEVICES))}, "
            f"got {device!r}"
        )
    if device == "GPU" and not gpu_available():
        raise ConfigurationError(f"{label}: {no_gpu_reason()}")


def no_gpu_reason() -> str:
    return (
        "simulator_device 'GPU' needs a GPU that Aer can use, and there is none here "
        f"(Aer's available devices: {', '.join(aer_devices())}); install qiskit-aer-gpu "
        "on a machine with a CUDA GPU, or simulate on the CPU"
    )
