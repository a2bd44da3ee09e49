"""The structure a user gives a circuit on purpose reaches the device gate for gate.

By default a fake device's executor only lays a circuit out, routes it and translates it
into the device's gates: mitiq's unitary folding (G G^-1 G) survives, so a user's own ZNE
measures amplified noise. A call may ask for Qiskit's preset optimisation instead.
"""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.request import make_request

SCALE_FACTORS = (1, 3, 5)


def ghz3() -> QuantumCircuit:
    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    return circuit


def deep_ghz3() -> QuantumCircuit:
    """GHZ-3 after six CX pairs that undo each other: 14 CX, so that noise shows."""
    circuit = QuantumCircuit(3)
    circuit.h(0)
    for _ in range(3):
        circuit.cx(0, 1)
        circuit.cx(1, 2)
        circuit.cx(1, 2)
        circuit.cx(0, 1)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    return circuit


def folded(scale: int, circuit: QuantumCircuit | None = None) -> QuantumCircuit:
    """mitiq's global folding, as ``zne.execute_with_zne`` hands circuits to an executor."""
    from mitiq.zne.scaling import fold_global

    return fold_global(circuit or ghz3(), scale)


def two_qubit_gates(circuit: QuantumCircuit) -> int:
    return sum(1 for item in circuit.data if item.operation.num_qubits == 2)


def test_folded_circuits_keep_every_gate_on_a_device(kolkata_runtime):
    counts = []
    for scale in SCALE_FACTORS:
        request = make_request("estimator", [(folded(scale), "IZZ")])
        (pub,) = kolkata_runtime.prepare(request).pubs
        counts.append(two_qubit_gates(pub.circuit))
    assert counts[0] >= 2
    assert counts == [counts[0] * scale for scale in SCALE_FACTORS]


def test_folded_circuits_give_clearly_different_noisy_values(kolkata_submit):
    """What a user's own ZNE extrapolates from: values that fall with the scale factor."""
    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=1 / 128)
    pubs = [(folded(scale, deep_ghz3()), "IZZ") for scale in SCALE_FACTORS]
    values = [float(pub.data.evs) for pub in estimator.run(pubs).result()]
    # standard errors below 0.006 at 16384 shots; each fold adds 28 noisy CX
    assert values[0] - 0.03 > values[1] > values[2] + 0.03, values


def test_a_circuit_in_the_device_s_gates_keeps_them():
    """Written in FakeKolkataV2's gates (cx, rz, sx), narrower than the device: laid out
    and routed, its inverse pairs kept."""
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.runtime import BackendRuntime

    runtime = BackendRuntime(BackendConfig(name="k", kind="fake", device="FakeKolkataV2"))
    circuit = QuantumCircuit(2)
    circuit.sx(0)
    for _ in range(3):
        circuit.cx(0, 1)
        circuit.cx(0, 1)
    circuit.rz(0.5, 1)
    circuit.rz(-0.5, 1)
    circuit.measure_all()
    (pub,) = runtime.prepare(make_request("sampler", [circuit])).pubs
    ops = pub.circuit.count_ops()
    assert ops["cx"] == 6 and ops["rz"] == 2 and ops["sx"] == 1


def test_a_call_may_ask_for_qiskit_s_optimisation(kolkata_runtime, kolkata_submit):
    counts = []
    for scale in SCALE_FACTORS:
        request = make_request("estimator", [(folded(scale), "IZZ")], optimization_level=2)
        (pub,) = kolkata_runtime.prepare(request).pubs
        counts.append(two_qubit_gates(pub.circuit))
    assert counts == [counts[0]] * 3  # level 2 cancels the folds, as Qiskit's transpile does
    estimator = PlatformEstimatorV2(kolkata_submit, optimization_level=1)
    assert estimator.run([(folded(3), "IZZ")]).result()[0].data.evs > 0.5


@pytest.mark.parametrize("level", [4, -1, 1.5, "2", True])
def test_an_optimization_level_qiskit_lacks_is_refused(level, kolkata_submit):
    message = r"optimization_level must be one of 0, 1, 2, 3 .*or None .*got"
    with pytest.raises(ValueError, match=message):
        PlatformEstimatorV2(kolkata_submit, optimization_level=level)
    with pytest.raises(ValueError, match=message):
        PlatformSamplerV2(kolkata_submit, optimization_level=level)
    with pytest.raises(ValueError, match=message):
        make_request("sampler", [ghz3().measure_all(inplace=False)], optimization_level=level)


def test_the_platform_s_own_zne_still_folds(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=1 / 128, options=["zne"])
    result = estimator.run([(deep_ghz3(), "IZZ")]).result()[0]
    values = result.metadata["outcomes"][0]["zne"]["values"]
    assert values[0] - 0.03 > values[1] > values[2] + 0.03, values
    assert float(result.data.evs) > values[0]  # extrapolated above the unfolded value
