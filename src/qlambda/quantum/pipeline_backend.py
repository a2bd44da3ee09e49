"""The executor's side of execution options: the backend facts steps read, and the one
batched sampler call their executions end in (on an ideal simulator, executions asking
for exact values are computed exactly instead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import PrimitiveResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qlambda.quantum.noise import active_qubits
from qlambda.quantum.pipeline.base import BackendView, Execution, Outcome
from qlambda.quantum.pipeline.measure import measure_batch
from qlambda.quantum.pipeline.runner import run_request
from qlambda.quantum.request import QuantumRequest
from qlambda.quantum.sampling import (
    DENSITY_MATRIX_MAX_QUBITS,
    FinalMeasurements,
    draw_shots,
    final_measurements,
)

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
        if runtime.device is not None:
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
        self._drawn = 0  # circuits whose shots were drawn from probabilities

    def recalibrated(self, calibration: Any) -> None:
        """Readout mitigation follows the calibration the simulator now has."""
        import dataclasses

        errors = {q: (e, e) for q, (e, _) in _symmetric(calibration).items()}
        self.view = dataclasses.replace(self.view, readout_errors=errors)

    def run(self, prepared: QuantumRequest) -> PrimitiveResult:
        """The request's result; its metadata says how many simulator calls and circuits
        the steps cost (one call, whatever the number of circuits), and for how many of
        them the shots were drawn from exact probabilities."""
        self._calls, self._circuits, self._drawn = 0, 0, 0
        result = run_request(prepared, prepared.options, self.view, self.measure)
        result.metadata.update(
            simulator_calls=self._calls, circuits=self._circuits, drawn=self._drawn
        )
        return result

    def measure(self, executions: Sequence[Execution]) -> list[Outcome]:
        exact = [e.observable is not None and e.shots == 0 for e in executions]
        if not any(exact):
            return measure_batch(executions, self.view, self._run_batch)
        sampled = [e for e, is_exact in zip(executions, exact, strict=True) if not is_exact]
        measured = iter(measure_batch(sampled, self.view, self._run_batch) if sampled else [])
        values = iter(
            self._exact([e for e, is_exact in zip(executions, exact, strict=True) if is_exact])
        )
        return [next(values) if is_exact else next(measured) for is_exact in exact]

    def _exact(self, executions: list[Execution]) -> list[Outcome]:
        """Exact expectation values on the ideal simulator, all circuits in one Aer run (a
        noisy device refuses precision 0 before anything runs)."""
        estimator = self.runtime._estimator
        plans = []
        for execution in executions:
            observable = execution.observable  # an exact execution has one (see measure)
            terms = dict(zip(observable.paulis.to_labels(), observable.coeffs, strict=True))  # type: ignore[union-attr]
            saving, saved = estimator.instrumented(execution.circuit, frozenset(terms))
            plans.append((saving, saved, terms))
        self._calls += 1
        self._circuits += len(plans)
        result = self.runtime.simulator.run(
            [saving for saving, _, _ in plans], **estimator.run_options
        ).result()
        outcomes = []
        for index, (_, saved, terms) in enumerate(plans):
            data = result.data(index)
            value = sum(
                float(np.real(coeff)) * float(data[label])
                for label, coeff in terms.items()
                if label in saved  # the others are dephased by a final measurement
            )
            outcomes.append(Outcome(value=float(value), std=0.0))
        return outcomes

    def _run_batch(self, batch: list[tuple[QuantumCircuit, int]]) -> list[dict[str, Any]]:
        """Per circuit, its registers' shots: drawn from exact probabilities where that is
        the same distribution (see :mod:`qlambda.quantum.sampling`), else sampled by Aer."""
        runtime = self.runtime
        seed = None if self.view.seed is None else int(self._seeds.integers(2**31))
        self._circuits += len(batch)
        shapes = [self._shape(circuit) for circuit, _ in batch]
        splits = [
            self._exact_split(shape, shots) for shape, (_, shots) in zip(shapes, batch, strict=True)
        ]
        drawn = [(index, split) for index, split in enumerate(splits) if split is not None]
        self._drawn += len(drawn)
        sampled = [index for index, split in enumerate(splits) if split is None]
        registers: list[dict[str, Any]] = [{} for _ in batch]
        result: Any = None  # Aer's result for the drawn ones
        self._calls += bool(drawn) + bool(sampled)  # Aer runs: drawn ones, sampled ones
        with runtime._exclusive:
            if runtime.noise is not None:
                active = frozenset().union(*(qubits for qubits, _ in shapes))
                runtime.simulator.set_options(noise_model=runtime.noise.for_qubits(active))
            if drawn:
                saving = [split.saving_probabilities for _, split in drawn]
                result = runtime.simulator.run(
                    saving, shots=1, method="density_matrix", seed_simulator=seed
                ).result()
            if sampled:
                sampler = AerSamplerV2.from_backend(runtime.simulator, seed=seed)
                pubs = [SamplerPub.coerce((batch[i][0], None, batch[i][1])) for i in sampled]
                for index, pub in zip(sampled, sampler._run(pubs), strict=True):
                    registers[index] = dict(pub.data.items())
        if drawn:
            rng = np.random.default_rng(seed)
            readout = runtime.noise.readout if runtime.noise is not None else {}
            for position, (index, split) in enumerate(drawn):
                saved = result.data(position).get("probabilities", np.ones(1))
                registers[index] = draw_shots(split, saved, batch[index][1], readout, rng)
        return registers

    def _shape(self, circuit: QuantumCircuit) -> tuple[frozenset[int], FinalMeasurements | None]:
        """The qubits ``circuit`` uses and its final measurements (None: not all final),
        worked out once per circuit content."""
        from qlambda.quantum.transpilation import circuit_token

        shape: tuple[frozenset[int], FinalMeasurements | None] = self.view.memo.get(
            ("shape", circuit_token(circuit)),
            lambda: (active_qubits([circuit]), final_measurements(circuit)),
        )
        return shape

    def _exact_split(
        self, shape: tuple[frozenset[int], FinalMeasurements | None], shots: int
    ) -> FinalMeasurements | None:
        """The final measurements when the shots can be drawn from probabilities: a noisy
        device whose readout errors are classical flips, all measurements last, and few
        enough qubits that Aer itself would simulate a density matrix (2^n < shots)."""
        noise = self.runtime.noise
        qubits, split = shape
        if noise is None or not noise.classical_readout or split is None:
            return None
        if len(qubits) > DENSITY_MATRIX_MAX_QUBITS or 2 ** len(qubits) >= shots:
            return None
        return split


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
