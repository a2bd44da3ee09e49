"""Kind ``aer``: an ideal Qiskit Aer simulator, no device behind it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from qlambda.core import ConfigurationError
from qlambda.quantum.backends.kind import BackendKind

if TYPE_CHECKING:
    from qlambda.quantum.backends.kind import Device
    from qlambda.quantum.config import BackendConfig

DEFAULT_AER_QUBITS = 28
"""Width limit of an ideal Aer backend when none is given: a 28-qubit statevector takes 4 GiB."""


class AerKind(BackendKind):
    """Exact values, several tasks at once (``concurrency``), any width up to
    ``num_qubits``; the calls' circuits are transpiled only for gates Aer lacks."""

    name = "aer"
    exact = True

    def validate(self, config: BackendConfig) -> BackendConfig:
        self.check_settings(config)
        if config.device is not None:
            raise ConfigurationError(
                f"backend {config.name!r}: 'device' applies only to kinds with a device such as "
                "'fake'; an ideal 'aer' backend has none"
            )
        return dataclasses.replace(config, num_qubits=config.num_qubits or DEFAULT_AER_QUBITS)

    def open(self, config: BackendConfig) -> Device:
        from qlambda.quantum.runtime import BackendRuntime

        return BackendRuntime(config)
