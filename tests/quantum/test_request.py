"""Quantum requests: what they carry, what they cost a device, and how they cross processes."""

from __future__ import annotations

import pickle

import networkx as nx
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import efficient_su2, qaoa_ansatz
from qiskit.quantum_info import SparseObservable, SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

from qlambda.core import CircuitTooWideError
from qlambda.quantum.config import BackendConfig, make_fake_device
from qlambda.quantum.request import (
    DEFAULT_PRECISION,
    DEFAULT_SHOTS,
    QuantumRequest,
    check_fits,
    estimate_qpu_seconds,
    make_request,
    pub_executions,
)
from qlambda.quantum.runtime import BackendRuntime, ExecutionOutcome

AER = BackendConfig(name="aer", kind="aer", num_qubits=28)


def measured(circuit: QuantumCircuit) -> QuantumCircuit:
    circuit = circuit.copy()
    circuit.measure_all()
    return circuit


def layered(depth: int) -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    for _ in range(depth):
        circuit.cx(0, 1)
    return measured(circuit)


def qaoa_request(precision: float | None = None) -> QuantumRequest:
    """An 8-node MaxCut QAOA evaluation, as one iteration of a variational loop sends it."""
    graph = nx.random_regular_graph(3, 8, seed=1)
    cost = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, j], 1.0) for i, j in graph.edges], num_qubits=8
    )
    pub = (qaoa_ansatz(cost, reps=1), cost, [0.4, 0.8])
    return make_request("estimator", [pub], precision=precision)


def test_defaults_match_qiskit_primitives():
    sampler = make_request("sampler", [layered(1)])
    estimator = make_request("estimator", [(layered(1).remove_final_measurements(False), "ZZ")])
    assert sampler.pubs[0].shots == DEFAULT_SHOTS == 1024
    # no precision asked for: the backend's (exact on an ideal simulator, 1/64 on a device)
    assert estimator.pubs[0].precision is None and DEFAULT_PRECISION == 1 / 64
    assert sampler.shots is None and estimator.precision is None


def test_requests_reject_mixed_up_options():
    with pytest.raises(
        ValueError, match="unknown primitive 'sample'; accepted: sampler, estimator"
    ):
        make_request("sample", [layered(1)])
    with pytest.raises(ValueError, match="takes shots, not precision"):
        make_request("sampler", [layered(1)], precision=0.1)
    with pytest.raises(ValueError, match="takes precision, not shots"):
        make_request("estimator", [(layered(1), "ZZ")], shots=10)
    for shots in (0, 1.5, "100", True):
        with pytest.raises(ValueError, match="shots must be a positive integer"):
            make_request("sampler", [layered(1)], shots=shots)
    with pytest.raises(ValueError, match="precision must be a finite number >= 0"):
        make_request("estimator", [(layered(1), "ZZ")], precision="0.1")
    with pytest.raises(ValueError, match="precision must be a finite number >= 0"):
        make_request("estimator", [(layered(1), "ZZ")], precision=float("nan"))


def test_width_is_the_widest_circuit_and_checked_against_the_backend():
    request = make_request("sampler", [layered(1), measured(QuantumCircuit(20))])
    assert request.num_qubits == 20
    check_fits(request, AER)
    small = BackendConfig(name="aer_small", kind="aer", num_qubits=16)
    with pytest.raises(CircuitTooWideError, match="circuit needs 20 qubits; backend 'aer_small'"):
        check_fits(request, small)


def test_estimate_grows_with_shots_and_depth():
    def estimate(circuit: QuantumCircuit, shots: int) -> float:
        return estimate_qpu_seconds(make_request("sampler", [circuit], shots=shots), AER)

    assert estimate(layered(5), 100) < estimate(layered(5), 4000)
    assert estimate(layered(5), 1000) < estimate(layered(50), 1000)
    assert estimate(layered(1), 1) >= AER.overhead_seconds


def test_estimate_counts_bindings_and_measurement_bases():
    circuit = efficient_su2(2, reps=1)
    values = np.zeros((3, 1, circuit.num_parameters))  # bindings (3, 1) x observables (2,)
    one_basis = make_request("estimator", [(circuit, ["ZZ", "ZI"], values)])
    two_bases = make_request("estimator", [(circuit, ["ZZ", "XX"], values)])
    assert pub_executions(one_basis.pubs[0]) == 3
    assert pub_executions(two_bases.pubs[0]) == 6
    assert estimate_qpu_seconds(one_basis, AER) < estimate_qpu_seconds(two_bases, AER)


def test_projector_observables_are_measured_in_their_pauli_basis():
    circuit = QuantumCircuit(2)
    z_and_x = SparseObservable.from_list([("0+", 1.0), ("ZX", 0.5)])  # one basis: Z on 1, X on 0
    y_too = SparseObservable.from_list([("0+", 1.0), ("YX", 0.5)])
    assert pub_executions(make_request("estimator", [(circuit, z_and_x)]).pubs[0]) == 1
    assert pub_executions(make_request("estimator", [(circuit, y_too)]).pubs[0]) == 2


def test_precision_becomes_shots_like_ibm_runtime():
    circuit = layered(3)
    sampler = make_request("sampler", [circuit], shots=4096)
    estimator = make_request("estimator", [(circuit, "ZZ")], precision=1 / 64)
    assert estimate_qpu_seconds(sampler, AER) == pytest.approx(estimate_qpu_seconds(estimator, AER))
    finer = make_request("estimator", [(circuit, "ZZ")], precision=1 / 128)
    assert estimate_qpu_seconds(finer, AER) > estimate_qpu_seconds(estimator, AER)


@pytest.mark.parametrize("width", [4, 12, 24])
def test_defaults_give_ibm_like_times_for_efficient_su2(width: int):
    """IBM's published estimates for transpiled EfficientSU2 with 4096 shots: 3.7-5.3 s."""
    device = make_fake_device("FakeSherbrooke")
    pass_manager = generate_preset_pass_manager(optimization_level=2, backend=device)
    isa = pass_manager.run(measured(efficient_su2(width)))
    values = np.zeros(isa.num_parameters)
    request = make_request("sampler", [(isa, values)], shots=4096)
    assert 3.3 < estimate_qpu_seconds(request, AER) < 5.5


def test_requests_and_outcomes_survive_pickling():
    request = qaoa_request()
    copy = pickle.loads(pickle.dumps(request))
    assert copy.num_qubits == 8 and copy.primitive == "estimator"
    runtime = BackendRuntime(BackendConfig(name="aer", kind="aer"))
    exact = qaoa_request(precision=0)
    exact_copy = pickle.loads(pickle.dumps(exact))
    original = runtime.execute(exact).result[0].data.evs
    outcome = pickle.loads(pickle.dumps(runtime.execute(exact_copy)))
    assert isinstance(outcome, ExecutionOutcome)
    assert outcome.result[0].data.evs == pytest.approx(original, abs=1e-12)
    assert outcome.busy_seconds >= outcome.simulated_seconds > 0


def test_a_qaoa_request_pickles_small():
    size = len(pickle.dumps(qaoa_request()))
    assert size < 16_000, f"an 8-node QAOA request pickles to {size} bytes"
