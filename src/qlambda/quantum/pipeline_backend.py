"""The executor's side of execution options: the backend facts steps read, and the one
batched sampler call their executions end in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qlambda.quantum.pipeline.base import BackendView, Execution, Outcome
from qlambda.quantum.pipeline.measure import measure_batch
from qlambda.quantum.pipeline.runner import run_request
from qlambda.quantum.request import QuantumRequest

if TYPE_CHECKING:
    from qlambda.quantum.runtime import BackendRuntime


def device_readout_errors(device: Any) -> dict[int, tuple[float, float]]:
    """Per qubit ``(p(1|0), p(0|1))`` from a device's calibration (its properties), falling
    back to the symmetric ``measure`` error of its target."""
    errors: dict[int, tuple[float, float]] = {}
    properties = device.properties() if hasattr(device, "properties") else None
    for qubit in range(device.num_qubits):
        if properties is not None:
            fields = properties.qubit_property(qubit)
            if "prob_meas1_prep0" in fields and "prob_meas0_prep1" in fields:
                errors[qubit] = (
                    float(fields["prob_meas1_prep0"][0]),
                    float(fields["prob_meas0_prep1"][0]),
                )
                continue
        measure = device.target["measure"].get((qubit,)) if "measure" in device.target else None
        if measure is not None and measure.error is not None:
            errors[qubit] = (float(measure.error), float(measure.error))
    return errors


def _rebase_for(target: Any) -> Any:
    """Translate into the device's instruction set without any optimisation."""
    from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import BasisTranslator

    manager = PassManager(
        [BasisTranslator(SessionEquivalenceLibrary, list(target.operation_names), target=target)]
    )
    return manager.run


class PipelineBackend:
    """Runs a prepared request with execution options on one runtime's simulator.

    Each call draws a fresh simulator seed from a generator seeded with the backend's
    ``seed``: runs are reproducible from the start of an executor, yet repeated runs of a
    circuit are independent samples (what mitigation over repeats needs).
    """

    def __init__(self, runtime: BackendRuntime) -> None:
        self.runtime = runtime
        config = runtime.config
        if config.kind == "fake":
            device = runtime.device
            readout = device_readout_errors(device)
            rebase = _rebase_for(device.target)
        else:
            readout = {}
            rebase = _identity
        self.view = BackendView(
            name=config.name,
            kind=config.kind,
            num_qubits=runtime.device_qubits or config.num_qubits,
            readout_errors=readout,
            rebase=rebase,
            seed=config.seed,
        )
        self._seeds = np.random.default_rng(config.seed)
        self._calls = 0
        self._circuits = 0

    def recalibrated(self, calibration: Any) -> None:
        """Readout mitigation follows the calibration the simulator now has."""
        import dataclasses

        errors = {q: (e, e) for q, (e, _) in _symmetric(calibration).items()}
        self.view = dataclasses.replace(self.view, readout_errors=errors)

    def run(self, prepared: QuantumRequest) -> PrimitiveResult:
        """The request's result; its metadata says how many simulator calls and circuits
        the steps cost (one call, whatever the number of circuits)."""
        self._calls, self._circuits = 0, 0
        result = run_request(prepared, prepared.options, self.view, self.measure)
        result.metadata.update(simulator_calls=self._calls, circuits=self._circuits)
        return result

    def measure(self, executions: list[Execution]) -> list[Outcome]:
        return measure_batch(executions, self.view, self._run_batch)

    def _run_batch(self, batch: list[tuple[QuantumCircuit, int]]) -> list[dict]:
        runtime = self.runtime
        seed = None if self.view.seed is None else int(self._seeds.integers(2**31))
        sampler = AerSamplerV2.from_backend(runtime.simulator, seed=seed)
        self._calls += 1
        self._circuits += len(batch)
        pubs = [SamplerPub.coerce((circuit, None, shots)) for circuit, shots in batch]
        with runtime._exclusive:
            if runtime.noise is not None:
                circuits = (circuit for circuit, _ in batch)
                runtime.simulator.set_options(noise_model=runtime.noise.for_circuits(circuits))
            result = sampler._run(pubs)
        return [dict(pub.data.items()) for pub in result]


def _symmetric(calibration: Any) -> dict[int, tuple[float, float]]:
    """The readout error the simulator models per qubit (Aer builds a symmetric one from
    the target's measure error, which :func:`apply_calibration` sets)."""
    return {
        index: (q.readout_error, q.readout_error)
        for index, q in enumerate(calibration.qubits)
        if q.readout_error is not None
    }


def _identity(circuit: QuantumCircuit) -> QuantumCircuit:
    return circuit
