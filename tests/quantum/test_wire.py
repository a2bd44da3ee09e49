"""Circuits on the wire: encoded once, re-encoded when changed, decoded once per process."""

from __future__ import annotations

import pickle

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum import wire
from qlambda.quantum.request import make_request


def ansatz() -> QuantumCircuit:
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    return circuit


def test_a_request_round_trips_with_the_same_circuit_and_values():
    circuit = ansatz()
    request = make_request("estimator", [(circuit, SparsePauliOp("ZZ"), [0.3])], precision=0.0)
    copy = pickle.loads(pickle.dumps(request))
    assert copy.pubs[0].circuit == circuit
    assert copy.pubs[0].parameter_values.as_array().tolist() == [0.3]
    assert copy.pubs[0].observables.tolist() == request.pubs[0].observables.tolist()


def test_an_unchanged_circuit_is_not_encoded_again_but_a_changed_one_is():
    circuit = ansatz()
    first = wire.encode_circuit(circuit)
    assert wire.encode_circuit(circuit) == first
    circuit.h(1)  # the user changes the same object between two calls
    changed = wire.encode_circuit(circuit)
    assert changed[0] != first[0]
    assert wire.decode_circuit(*changed) == circuit


def test_decoding_the_same_content_twice_gives_the_same_object():
    key, blob, fmt = wire.encode_circuit(ansatz())
    decoded = wire.decode_circuit(key, blob, fmt)
    assert wire.decode_circuit(key, blob, fmt) is decoded
    assert wire.content_key(decoded) == key
    assert wire.content_key(ansatz()) is None  # a user's circuit has no wire identity
