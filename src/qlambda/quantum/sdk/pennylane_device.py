"""``qlambda.platform``: a PennyLane device whose executions are platform quantum tasks.

```python
def energy(ctx, theta):
    dev = ctx.pennylane_device(wires=2, backend="kolkata", options=["readout"])

    @qml.qnode(dev)
    def circuit(x):
        qml.RY(x, 0); qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

    return circuit(theta)
```

Each batch of tapes PennyLane hands the device (a QNode call, or all the shifted tapes of
a parameter-shift gradient) becomes ONE estimator request. Measurements: expectation
values of observables with a Pauli representation (Pauli words, their sums and products).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.measurements import ExpectationMP
from pennylane.tape import QuantumScript
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.sdk.circuits import from_qasm


class QlambdaDevice(Device):
    """``estimator``: a platform EstimatorV2 (``ctx.estimator(...)``)."""

    name = "qlambda.platform"

    def __init__(self, wires: Any = None, shots: Any = None, *, estimator: Any = None) -> None:
        super().__init__(wires=wires, shots=shots)
        if estimator is None:
            raise ValueError(
                "the qlambda.platform device needs estimator=ctx.estimator(...) "
                "(or use ctx.pennylane_device(wires=..., backend=...))"
            )
        self._estimator = estimator

    def _wires_of(self, tape: QuantumScript) -> Any:
        return self.wires if self.wires is not None else tape.wires

    def _circuit(self, tape: QuantumScript, wires: Any) -> QuantumCircuit:
        body = QuantumScript(tape.operations)
        program = qml.to_openqasm(body, wires=wires, rotations=False, measure_all=False)
        circuit = from_qasm(program)
        circuit.remove_final_measurements()
        return circuit

    def _observable(self, measurement: Any, wires: Any) -> SparsePauliOp:
        if not isinstance(measurement, ExpectationMP) or measurement.obs is None:
            raise ValueError(
                f"the qlambda.platform device measures expectation values (qml.expval) of "
                f"Pauli observables; got {measurement}"
            )
        sentence = measurement.obs.pauli_rep
        if sentence is None:
            raise ValueError(
                f"observable {measurement.obs} has no Pauli form; accepted: Pauli words "
                f"(qml.X/Y/Z, products), their linear combinations"
            )
        terms = []
        for word, coeff in sentence.items():
            letters = "".join(word[w] for w in word)
            indices = [wires.index(w) for w in word]
            terms.append((letters, indices, complex(coeff)))
        if not terms:
            terms.append(("", [], 0.0))
        return SparsePauliOp.from_sparse_list(terms, num_qubits=len(wires)).simplify()

    def execute(
        self,
        circuits: QuantumScript | Sequence[QuantumScript],
        execution_config: ExecutionConfig | None = None,
    ) -> Any:
        single = isinstance(circuits, QuantumScript)
        tapes = [circuits] if single else list(circuits)
        pubs = []
        for tape in tapes:
            wires = self._wires_of(tape)
            observables = [self._observable(m, wires) for m in tape.measurements]
            shots = tape.shots.total_shots if tape.shots else None
            precision = 1 / math.sqrt(shots) if shots else None
            pubs.append((self._circuit(tape, wires), observables, None, precision))
        result = self._estimator.run(pubs).result()
        answers = []
        for tape, pub in zip(tapes, result, strict=True):
            values = [float(v) for v in pub.data.evs]
            answers.append(values[0] if len(tape.measurements) == 1 else tuple(values))
        return answers[0] if single else tuple(answers)
