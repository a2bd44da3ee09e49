"""Qiskit code written for SamplerV2/EstimatorV2 runs unchanged on the platform primitives."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2, StatevectorEstimator
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp

from qlambda.core import CircuitTooWideError
from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2


def bell(measure: bool = True) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    if measure:
        circuit.measure_all()
    return circuit


def ansatz() -> QuantumCircuit:
    theta = ParameterVector("theta", 3)
    circuit = QuantumCircuit(3)
    for qubit in range(3):
        circuit.ry(theta[qubit], qubit)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    return circuit


def zz_energy(estimator: BaseEstimatorV2, values: np.ndarray) -> np.ndarray:
    """Plain Qiskit code: written against the interface, not against qlambda."""
    hamiltonian = SparsePauliOp(["ZZI", "IZZ", "XII"], coeffs=[1.0, 0.5, -0.3])
    return estimator.run([(ansatz(), hamiltonian, values)]).result()[0].data.evs


def test_bell_sampling_is_half_00_half_11(aer_submit):
    sampler = PlatformSamplerV2(aer_submit)
    assert isinstance(sampler, BaseSamplerV2)
    counts = sampler.run([bell()]).result()[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 1024
    assert 400 < counts["00"] < 624


def test_results_are_keyed_by_the_users_register_name(aer_submit):
    qr, cr = QuantumRegister(2), ClassicalRegister(2, "readout")
    circuit = QuantumCircuit(qr, cr)
    circuit.x(0)
    circuit.measure(qr, cr)
    result = PlatformSamplerV2(aer_submit).run([circuit], shots=50).result()
    assert result[0].data.readout.get_counts() == {"01": 50}


def test_shots_come_from_run_then_pub_then_default(aer_submit):
    sampler = PlatformSamplerV2(aer_submit, default_shots=77)
    result = sampler.run([bell(), (bell(), None, 33)]).result()
    assert [pub.data.meas.num_shots for pub in result] == [77, 33]
    assert sampler.run([bell()], shots=12).result()[0].data.meas.num_shots == 12


def test_estimator_zz_on_bell_is_one_when_exact(aer_submit):
    estimator = PlatformEstimatorV2(aer_submit, default_precision=0)
    assert isinstance(estimator, BaseEstimatorV2)
    result = estimator.run([(bell(measure=False), SparsePauliOp("ZZ"))]).result()
    assert result[0].data.evs == pytest.approx(1.0, abs=1e-9)


def test_an_ideal_simulator_is_exact_unless_a_precision_is_asked_for(aer_submit):
    """As Qiskit's StatevectorEstimator and Aer's EstimatorV2: exact by default."""
    observables = ["ZZ", "XX", "ZI"]
    data = PlatformEstimatorV2(aer_submit).run([(bell(measure=False), observables)]).result()
    assert np.array_equal(data[0].data.stds, [0.0, 0.0, 0.0])
    assert np.allclose(data[0].data.evs, [1.0, 1.0, 0.0], atol=1e-12)
    assert data[0].metadata["target_precision"] == 0.0
    noisy = PlatformEstimatorV2(aer_submit).run(
        [(bell(measure=False), observables)], precision=0.015625
    )
    data = noisy.result()[0].data
    assert np.allclose(data.stds, 0.015625)
    assert np.allclose(data.evs, [1.0, 1.0, 0.0], atol=6 * 0.015625)
    assert not np.allclose(data.evs, [1.0, 1.0, 0.0], atol=1e-12)


def test_same_answers_as_a_reference_estimator(aer_submit):
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, size=(4, 3))
    ours = zz_energy(PlatformEstimatorV2(aer_submit, default_precision=0), values)
    reference = zz_energy(StatevectorEstimator(), values)
    assert ours.shape == (4,)
    assert np.allclose(ours, reference, atol=1e-9)


def test_broadcasting_parameters_against_observables(aer_submit):
    values = np.linspace(0, np.pi, 4 * 3).reshape(4, 3)
    observables = [["ZII"], ["IZI"], ["IIZ"]]  # shape (3, 1) broadcasts with (4,)
    result = (
        PlatformEstimatorV2(aer_submit, default_precision=0)
        .run([(ansatz(), observables, values)])
        .result()
    )
    reference = StatevectorEstimator().run([(ansatz(), observables, values)]).result()
    assert result[0].data.evs.shape == (3, 4)
    assert np.allclose(result[0].data.evs, reference[0].data.evs, atol=1e-9)


def test_sampler_parameter_sweep_has_one_bit_array_per_value(aer_submit):
    angle = Parameter("angle")
    circuit = QuantumCircuit(1)
    circuit.ry(angle, 0)
    circuit.measure_all()
    angles = np.array([[0.0], [np.pi]])[:, None, :].repeat(3, axis=1)  # shape (2, 3, 1)
    data = PlatformSamplerV2(aer_submit).run([(circuit, angles, 64)]).result()[0].data
    assert data.meas.shape == (2, 3)
    ones = data.meas.bitcount().sum(axis=-1)  # ones per parameter value, over 64 shots
    assert np.all(ones[0] == 0) and np.all(ones[1] == 64)


def test_several_pubs_make_one_request(aer_submit):
    estimator = PlatformEstimatorV2(aer_submit, default_precision=0)
    pubs = [(bell(measure=False), "ZZ"), (ansatz(), "ZZI", [0.1, 0.2, 0.3])]
    result = estimator.run(pubs).result()
    assert len(aer_submit.requests) == 1
    assert len(aer_submit.requests[0].pubs) == 2
    assert len(result) == 2
    assert aer_submit.requests[0].num_qubits == 3


def test_backend_name_travels_in_the_request(aer_submit):
    PlatformSamplerV2(aer_submit, backend="aer").run([bell()]).result()
    assert aer_submit.requests[0].backend == "aer"
    assert aer_submit.requests[0].primitive == "sampler"


def test_job_reports_status_and_errors(aer_submit):
    job = PlatformSamplerV2(aer_submit).run([bell()])
    job.result()
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()

    wide = QuantumCircuit(29)
    wide.h(range(29))
    wide.measure_all()
    failing = PlatformSamplerV2(aer_submit).run([wide])
    with pytest.raises(CircuitTooWideError, match="circuit needs 29 qubits; backend 'aer' has 28"):
        failing.result()
    assert failing.status() is JobStatus.ERROR and not failing.done()


def test_bad_pubs_fail_in_the_callers_run(aer_submit):
    sampler = PlatformSamplerV2(aer_submit)
    with pytest.raises(TypeError, match="list of PUBs"):
        sampler.run(bell())
    with pytest.raises(ValueError):
        sampler.run([(ansatz(), [0.1])])  # three parameters, one value
    with pytest.raises(ValueError, match="at least one PUB"):
        sampler.run([])
    with pytest.raises(ValueError, match="positive integer"):
        PlatformSamplerV2(aer_submit, default_shots=0)
    with pytest.raises(ValueError, match=">= 0"):
        PlatformEstimatorV2(aer_submit, default_precision=-1.0)
    assert aer_submit.requests == []


def test_gates_the_simulator_lacks_are_decomposed(aer_submit, aer_runtime):
    inner = QuantumCircuit(2, name="entangle")
    inner.h(0)
    inner.cx(0, 1)
    circuit = QuantumCircuit(2)
    circuit.append(inner.to_gate(), [0, 1])
    circuit.measure_all()
    counts = PlatformSamplerV2(aer_submit).run([circuit]).result()[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"}
    (prepared,) = aer_runtime.prepare(aer_submit.requests[0]).pubs
    assert "entangle" not in prepared.circuit.count_ops()


def test_a_future_of_the_executor_outcome_also_works(aer_runtime, pool, aer_submit):
    sampler = PlatformSamplerV2(lambda request: pool.submit(aer_runtime.execute, request))
    job = sampler.run([bell()], shots=64)
    assert job.result()[0].data.meas.num_shots == 64
    metrics = job.metrics()
    assert metrics["busy_seconds"] >= metrics["simulated_seconds"] > 0
    assert metrics["emulated_seconds"] is None
    assert PlatformSamplerV2(aer_submit).run([bell()]).metrics() == {}  # plain results
