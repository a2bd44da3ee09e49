"""Estimators on circuits that already measure: Qiskit's values on every backend.

Qiskit's BackendEstimatorV2 runs a circuit as written, measurements included: a final
measurement dephases its qubit (Z terms keep their value, X and Y terms on it vanish), a
mid-circuit one is sampled with the rest. Exact values of a mid-circuit measurement do
not exist (Qiskit's StatevectorEstimator refuses them): the platform says so.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.primitives import BackendEstimatorV2
from qiskit_aer import AerSimulator

from qlambda.quantum.primitives import PlatformEstimatorV2

OBSERVABLES = ["ZZ", "XX", "ZI", "IX", "YY"]
EXPECTED = [1.0, 0.0, 0.0, 0.0, 0.0]  # Bell state, both qubits measured at the end


def measured_bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def half_measured() -> QuantumCircuit:
    """Only qubit 0 measured at the end: XX vanishes, not XI (X on the unmeasured qubit 1)."""
    circuit = QuantumCircuit(2, 1)
    circuit.h(1)
    circuit.h(0)
    circuit.measure(0, 0)
    return circuit


def mid_circuit() -> QuantumCircuit:
    """H, a measurement, then the measured qubit controls a CX: ZZ = 1, ZI = 0."""
    circuit = QuantumCircuit(2, 1)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.cx(0, 1)
    return circuit


def reference(circuit: QuantumCircuit, observables: list[str], shots: int = 20000) -> np.ndarray:
    estimator = BackendEstimatorV2(backend=AerSimulator(seed_simulator=1))
    job = estimator.run([(circuit, observables)], precision=1 / np.sqrt(shots))
    return job.result()[0].data.evs


def test_final_measurements_dephase_their_qubits_only():
    from qlambda.quantum.estimator_measurements import dephase, split_measurements

    split = split_measurements(measured_bell())
    assert split.dephased == {0, 1} and not split.mid_circuit
    assert "measure" not in split.circuit.count_ops()
    assert dephase({"ZZ": 1.0, "XZ": 2.0, "IY": 3.0, "II": 4.0}, split.dephased) == {
        "ZZ": 1.0,
        "II": 4.0,
    }
    assert split_measurements(mid_circuit()).mid_circuit
    plain = QuantumCircuit(1)
    assert split_measurements(plain).circuit is plain


def test_an_ideal_simulator_gives_qiskit_s_values_exactly(aer_submit):
    for circuit in (measured_bell(), half_measured()):
        ours = PlatformEstimatorV2(aer_submit).run([(circuit, OBSERVABLES)]).result()[0].data
        assert np.array_equal(ours.stds, np.zeros(len(OBSERVABLES)))
        assert np.allclose(ours.evs, reference(circuit, OBSERVABLES), atol=0.04)
    evs = PlatformEstimatorV2(aer_submit).run([(measured_bell(), OBSERVABLES)]).result()
    assert np.allclose(evs[0].data.evs, EXPECTED, atol=1e-12)
    evs = PlatformEstimatorV2(aer_submit).run([(half_measured(), ["XI", "XX", "ZI"])]).result()
    assert np.allclose(evs[0].data.evs, [1.0, 0.0, 0.0], atol=1e-12)


def test_a_register_named_meas_of_the_user_s_is_no_clash(aer_submit):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.add_register(ClassicalRegister(2, "meas"))
    circuit.measure([0, 1], [0, 1])
    # with shots (precision > 0) and an execution option: the shot-based measurement path
    estimator = PlatformEstimatorV2(aer_submit, default_precision=1 / 128, options=["readout"])
    evs = estimator.run([(circuit, ["ZZ", "XX"])]).result()[0].data.evs
    assert evs == pytest.approx([1.0, 0.0], abs=0.05)


@pytest.mark.parametrize(
    "options",
    [None, ["readout"], ["readout", "zne"], [{"zne": {"folding": "global"}}]],
    ids=["plain", "readout", "readout+zne", "zne-global"],
)
def test_a_noisy_device_takes_measured_circuits(kolkata_submit, options):
    estimator = PlatformEstimatorV2(kolkata_submit, options=options)
    result = estimator.run([(measured_bell(), ["ZZ", "XX"])]).result()[0]
    zz, xx = result.data.evs
    assert 0.75 < zz < 1.1  # noisy, mitigated or not
    assert xx == 0.0  # dephased by the measurement, exactly as its expectation is 0


def test_mid_circuit_measurements_have_no_exact_value(aer_submit):
    with pytest.raises(ValueError, match=r"mid-circuit.*precision > 0") as raised:
        PlatformEstimatorV2(aer_submit).run([(mid_circuit(), "ZZ")]).result()
    assert type(raised.value).__name__ == "MidCircuitMeasurementError"


def test_mid_circuit_measurements_are_sampled_as_qiskit_samples_them(aer_submit, kolkata_submit):
    observables = ["ZZ", "ZI", "IZ", "XI"]
    expected = reference(mid_circuit(), observables)
    assert expected == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=0.04)
    ideal = PlatformEstimatorV2(aer_submit, default_precision=1 / 128)
    evs = ideal.run([(mid_circuit(), observables)]).result()[0].data.evs
    assert np.allclose(evs, expected, atol=0.05)
    noisy = PlatformEstimatorV2(kolkata_submit).run([(mid_circuit(), observables)]).result()
    zz, zi, iz, xi = noisy[0].data.evs
    assert 0.75 < zz < 1.05 and abs(zi) < 0.1 and abs(iz) < 0.1 and abs(xi) < 0.1


def test_zne_says_it_cannot_fold_a_mid_circuit_measurement(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit, options=["zne"])
    with pytest.raises(ValueError, match=r"'zne' cannot fold.*measurements all come last"):
        estimator.run([(mid_circuit(), "ZZ")]).result()
