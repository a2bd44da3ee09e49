"""Noisy simulators of IBM devices: automatic transpilation, its cache, and noisy answers."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qlambda.core import CircuitTooWideError
from qlambda.quantum.config import BackendConfig, make_fake_device
from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


def ring_ansatz(width: int) -> QuantumCircuit:
    theta = ParameterVector("theta", width)
    circuit = QuantumCircuit(width)
    for qubit in range(width):
        circuit.ry(theta[qubit], qubit)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    return circuit


def test_bell_counts_are_noisy_but_mostly_correlated(kolkata_submit):
    counts = PlatformSamplerV2(kolkata_submit).run([bell()], shots=4096).result()[0].data.meas
    counts = counts.get_counts()
    wrong = counts.get("01", 0) + counts.get("10", 0)
    assert 0 < wrong < 0.15 * 4096  # a noisy device flips some, not most
    assert counts["00"] > 1500 and counts["11"] > 1500


def test_bell_zz_is_close_to_one(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit)
    evs = estimator.run([(bell(measure=False), SparsePauliOp("ZZ"))]).result()[0].data.evs
    assert 0.7 < float(evs) < 1.0


def test_logical_circuits_are_transpiled_and_observables_laid_out(kolkata_runtime):
    request = make_request("estimator", [(bell(measure=False), "ZZ")], precision=0.02)
    (pub,) = kolkata_runtime.prepare(request).pubs
    assert pub.circuit.num_qubits == 27
    assert set(pub.circuit.count_ops()) <= set(make_fake_device("FakeKolkataV2").operation_names)
    (observable,) = pub.observables.ravel()
    physical = pub.circuit.layout.final_index_layout()
    (label,) = observable
    assert len(label) == 27
    assert {27 - 1 - i for i, p in enumerate(label) if p == "Z"} == set(physical)


def test_isa_circuits_run_as_given(kolkata_runtime):
    device = make_fake_device("FakeKolkataV2")
    isa = generate_preset_pass_manager(optimization_level=1, backend=device).run(bell())
    request = make_request("sampler", [isa], shots=100)
    (pub,) = kolkata_runtime.prepare(request).pubs
    assert pub is request.pubs[0]


def test_a_variational_loop_transpiles_once(kolkata_runtime, pool: ThreadPoolExecutor):
    """Requests cross processes pickled; the cache must still recognise the circuit."""

    def submit_pickled(request):
        copy = pickle.loads(pickle.dumps(request))
        return pool.submit(lambda: kolkata_runtime.execute(copy).result)

    estimator = PlatformEstimatorV2(submit_pickled)
    circuit = ring_ansatz(4)
    hamiltonian = SparsePauliOp(["ZZII", "IZZI", "IIZZ"])
    misses, hits = kolkata_runtime.transpiler.misses, kolkata_runtime.transpiler.hits
    rng = np.random.default_rng(5)
    for _ in range(4):
        estimator.run([(circuit, hamiltonian, rng.uniform(0, np.pi, 4))]).result()
    assert kolkata_runtime.transpiler.misses == misses + 1
    assert kolkata_runtime.transpiler.hits == hits + 3


def test_a_different_circuit_is_not_mistaken_for_a_cached_one(kolkata_runtime):
    first = make_request("estimator", [(ring_ansatz(3), "ZZI", [0.1, 0.2, 0.3])])
    other = ring_ansatz(3)
    other.x(2)
    second = make_request("estimator", [(other, "ZZI", [0.1, 0.2, 0.3])])
    (a,) = kolkata_runtime.prepare(first).pubs
    (b,) = kolkata_runtime.prepare(second).pubs
    assert a.circuit.count_ops() != b.circuit.count_ops()


def test_noisy_estimator_needs_a_positive_precision(kolkata_submit):
    estimator = PlatformEstimatorV2(kolkata_submit, default_precision=0)
    with pytest.raises(ValueError, match=r"precision 0 .* noisy device"):
        estimator.run([(bell(measure=False), "ZZ")]).result()


def test_a_circuit_wider_than_the_device_is_refused(kolkata_submit):
    wide = QuantumCircuit(28)
    wide.measure_all()
    job = PlatformSamplerV2(kolkata_submit).run([wide])
    with pytest.raises(CircuitTooWideError, match="needs 28 qubits; backend 'kolkata' has 27"):
        job.result()


def test_a_133_qubit_device_runs_small_circuits_with_low_error():
    runtime = BackendRuntime(BackendConfig(name="torino", kind="fake", device="torino", seed=3))
    request = make_request("estimator", [(bell(measure=False), ["ZZ", "XX"])], precision=0.02)
    outcome = runtime.execute(request)
    evs = outcome.result[0].data.evs
    assert np.all((evs > 0.7) & (evs < 1.0))
    noise = runtime.simulator.options.noise_model
    assert set(noise.noise_qubits) == set(
        runtime.prepare(request).pubs[0].circuit.layout.final_index_layout()
    )


def test_custom_gates_with_the_same_name_are_told_apart(kolkata_runtime):
    def circuit_with(gate_body: QuantumCircuit) -> QuantumCircuit:
        circuit = QuantumCircuit(1)
        circuit.append(gate_body.to_gate(label="mine"), [0])
        circuit.measure_all()
        return circuit

    flip, keep = QuantumCircuit(1, name="mine"), QuantumCircuit(1, name="mine")
    flip.x(0)
    keep.id(0)
    results = [
        kolkata_runtime.execute(make_request("sampler", [circuit_with(body)], shots=200))
        for body in (flip, keep)
    ]
    ones = [r.result[0].data.meas.bitcount().sum() for r in results]
    assert ones[0] > 150 and ones[1] < 50


def test_a_circuit_transpiled_for_a_bigger_device_counts_its_own_qubits(kolkata_submit):
    torino_isa = generate_preset_pass_manager(
        optimization_level=1, backend=make_fake_device("FakeTorino")
    ).run(bell())
    request = make_request("sampler", [torino_isa])
    assert request.num_qubits == 2  # not the 133 of the device it was laid out on
    ideal = BackendRuntime(BackendConfig(name="small", kind="aer", num_qubits=4))
    assert ideal.execute(request).result[0].data.meas.num_shots == 1024
    job = PlatformSamplerV2(kolkata_submit).run([torino_isa])
    with pytest.raises(CircuitTooWideError, match=r"circuit has 133 qubits .* has 27"):
        job.result()
