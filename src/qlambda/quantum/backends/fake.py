"""Kind ``fake``: a noisy Aer simulator of one of qiskit-ibm-runtime's fake IBM devices
(its qubits, coupling map, gate set and calibrated errors); one task at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from qlambda.core import ConfigurationError
from qlambda.quantum.backends.kind import BackendKind

if TYPE_CHECKING:
    from qiskit.transpiler import Target

    from qlambda.quantum.backends.kind import Device
    from qlambda.quantum.calibration import Calibration
    from qlambda.quantum.config import BackendConfig


@cache
def _fake_target(device: str) -> Target:
    from qlambda.quantum.config import make_fake_device

    target: Target = make_fake_device(device).target
    return target


class FakeKind(BackendKind):
    name = "fake"

    def validate(self, config: BackendConfig) -> BackendConfig:
        from qlambda.quantum.config import (
            check_type,
            fake_device_names,
            fake_device_width,
            resolve_fake_device,
        )

        self.check_settings(config)
        label = f"backend {config.name!r}"
        if config.device is None:
            raise ConfigurationError(
                f"{label}: kind 'fake' needs a 'device', e.g. 'FakeTorino'; available: "
                + ", ".join(fake_device_names())
            )
        check_type(label, "device", config.device, str)
        device = resolve_fake_device(config.device)
        width = fake_device_width(device)
        if config.num_qubits is not None and config.num_qubits > width:
            raise ConfigurationError(
                f"{label}: num_qubits {config.num_qubits} exceeds the {width} qubits of {device}; "
                f"accepted: 1 to {width} (a lower value caps the circuit width)"
            )
        return dataclasses.replace(config, device=device, num_qubits=config.num_qubits or width)

    def open(self, config: BackendConfig) -> Device:
        from qlambda.quantum.runtime import BackendRuntime

        return BackendRuntime(config)

    def calibrated(self, config: BackendConfig) -> bool:
        return True

    def calibration(self, config: BackendConfig, taken_at: float) -> Calibration:
        """The calibration file the fake device ships with (read as JSON, no Qiskit)."""
        from qlambda.quantum.calibration import device_calibration

        return device_calibration(config.name, str(config.device), taken_at)

    def target(self, description: Mapping[str, Any]) -> Target:
        return _fake_target(str(description["device"]))
