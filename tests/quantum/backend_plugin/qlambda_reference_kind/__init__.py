"""A backend kind in a package of its own, as a third party would write it: Qiskit's
reference primitives (``StatevectorSampler``, ``StatevectorEstimator``) as a QPU.

It reaches qlambda only through the ``qlambda.backends`` entry point its distribution
declares (``pyproject.toml`` here; the test writes the ``.dist-info`` pip would).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

from qlambda.core import ConfigurationError
from qlambda.quantum.backends import BackendKind, Device


class ReferenceDevice(Device):
    def __init__(self, config: Any) -> None:
        from qiskit.primitives import StatevectorEstimator, StatevectorSampler

        self.config = config
        self.note = config.settings.get("note", "")
        self._sampler = StatevectorSampler(seed=config.seed)
        self._estimator = StatevectorEstimator(seed=config.seed)

    def execute(self, request: Any, report: Any = None) -> Any:
        from qlambda.quantum.outcome import ExecutionOutcome

        started = time.perf_counter()
        if report is not None:
            report({"vendor_status": "RUNNING", "note": self.note})
        primitive = self._sampler if request.primitive == "sampler" else self._estimator
        pubs = list(request.pubs)
        if request.primitive == "estimator":  # no precision asked for: exact
            pubs = [
                (p.circuit, p.observables, p.parameter_values, p.precision or 0.0) for p in pubs
            ]
        result = primitive.run(pubs).result()
        result.metadata["note"] = self.note
        busy = time.perf_counter() - started
        return ExecutionOutcome(result, busy, busy, None)


class ReferenceKind(BackendKind):
    name = "reference"
    exact = True
    settings: ClassVar = {"note": "text the device adds to every result's metadata"}

    def validate(self, config: Any) -> Any:
        self.check_settings(config)
        note = config.settings.get("note", "")
        if not isinstance(note, str):
            raise ConfigurationError(f"backend {config.name!r}: note must be text, got {note!r}")
        return dataclasses.replace(config, num_qubits=config.num_qubits or 12)

    def open(self, config: Any) -> Device:
        return ReferenceDevice(config)
