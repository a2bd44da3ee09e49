"""The ideal simulator's estimator gives Aer EstimatorV2's values and instruments once.

Small circuits are estimated in numpy (to 1e-10 of Aer's values); ``aer_only`` sends
every PUB to Aer, whose values are Aer EstimatorV2's bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2

from qlambda.quantum import compiled_estimator
from qlambda.quantum.compiled_estimator import CompiledEstimator
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime


def ansatz(width: int = 3) -> QuantumCircuit:
    theta = ParameterVector("theta", 2 * width)
    circuit = QuantumCircuit(width)
    for qubit in range(width):
        circuit.ry(theta[qubit], qubit)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    for qubit in range(width):
        circuit.rz(theta[width + qubit], qubit)
        circuit.rx(0.3, qubit)
    return circuit


HAMILTONIAN = SparsePauliOp(["ZZI", "IZZ", "XIY", "III"], coeffs=[1.0, 0.5, -0.3, 0.25])


def pub_cases() -> list[tuple]:
    rng = np.random.default_rng(7)
    circuit = ansatz()
    plain = QuantumCircuit(2)
    plain.h(0)
    plain.cx(0, 1)
    return [
        (circuit, HAMILTONIAN, rng.random(6)),  # one parameter set
        (circuit, HAMILTONIAN, rng.random((4, 6))),  # a batch of parameter sets
        (circuit, [[HAMILTONIAN], ["XXX"]], rng.random((3, 6))),  # broadcast (2,1) x (3,)
        (plain, ["ZZ", "XX", "YY", "IZ"]),  # no parameters, several observables
    ]


@pytest.fixture
def aer_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_estimator, "faster_than_aer", lambda work: False)


@pytest.mark.parametrize("path", ["numpy", "aer"])
@pytest.mark.parametrize("case", range(4))
def test_same_exact_values_as_aer_estimator(
    case: int, path: str, request: pytest.FixtureRequest
) -> None:
    if path == "aer":
        request.getfixturevalue("aer_only")
    pub = pub_cases()[case]
    expected = AerEstimatorV2().run([pub], precision=0.0).result()[0]
    got = CompiledEstimator(AerSimulator()).run([pub], precision=0.0).result()[0]
    assert got.data.evs.shape == expected.data.evs.shape
    if path == "aer":
        np.testing.assert_array_equal(got.data.evs, expected.data.evs)
    else:
        assert got.metadata["simulator_metadata"]["simulator"] == "numpy"
        np.testing.assert_allclose(got.data.evs, expected.data.evs, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(got.data.stds, expected.data.stds)
    assert got.metadata["target_precision"] == 0.0


def test_noise_of_a_precision_is_independent_per_call_and_seeded() -> None:
    pub = pub_cases()[1]  # 4 parameter sets
    exact = AerEstimatorV2().run([pub]).result()[0].data.evs
    precision = 0.05

    def estimates(seed: int) -> np.ndarray:
        compiled = CompiledEstimator(AerSimulator(), {"seed_simulator": seed})
        runs = [compiled.run([pub], precision=precision).result()[0] for _ in range(50)]
        assert all(np.all(run.data.stds == precision) for run in runs)
        return np.array([run.data.evs for run in runs])

    first = estimates(3)
    np.testing.assert_array_equal(first, estimates(3))  # reproducible from the seed
    errors = first - exact  # noise around the exact value (numpy's, to 1e-12 Aer's)
    assert np.all(np.abs(errors.mean(axis=0)) < 4 * precision / np.sqrt(50))
    assert errors.std() == pytest.approx(precision, rel=0.2)
    assert not np.allclose(first[0], first[1])  # each call its own draw


def test_instruments_a_circuit_once_per_set_of_terms() -> None:
    compiled = CompiledEstimator(AerSimulator())
    circuit = ansatz()
    for values in np.random.default_rng(1).random((5, 6)):
        compiled.run([(circuit, HAMILTONIAN, values)]).result()
    assert (compiled.misses, compiled.hits) == (1, 4)
    compiled.run([(circuit, "ZZZ", np.zeros(6))]).result()  # other terms: instrumented anew
    assert compiled.misses == 2
    changed = circuit.copy()
    changed.h(0)  # another circuit, even if built from the same one
    first = compiled.run([(changed, HAMILTONIAN, np.zeros(6))]).result()[0].data.evs
    assert compiled.misses == 3
    expected = AerEstimatorV2().run([(changed, HAMILTONIAN, np.zeros(6))]).result()[0].data.evs
    np.testing.assert_allclose(first, expected, rtol=0, atol=1e-10)


def test_ideal_runtime_estimates_with_it(aer_only: None) -> None:
    runtime = BackendRuntime(BackendConfig(name="ideal", kind="aer", num_qubits=8, seed=3))
    circuit = ansatz()
    values = np.random.default_rng(2).random(6)
    for _ in range(3):
        request = make_request("estimator", [(circuit, HAMILTONIAN, values)], precision=0.0)
        evs = runtime.execute(request).result[0].data.evs
    assert runtime._estimator.hits == 2
    expected = AerEstimatorV2().run([(circuit, HAMILTONIAN, values)]).result()[0].data.evs
    np.testing.assert_array_equal(evs, expected)
