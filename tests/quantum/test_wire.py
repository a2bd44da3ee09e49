"""Circuits on the wire: encoded once, re-encoded when changed, decoded once per process,
keyed by the content received, never by what a sender says."""

from __future__ import annotations

import io
import struct

import pytest
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Instruction, Parameter
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum import wire
from qlambda.quantum.codec import RequestLimits, decode_request, encode_request
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
    copy = decode_request(encode_request(request), RequestLimits())
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
    assert wire.decode_circuit(changed[1]) == circuit


def test_decoding_the_same_content_twice_gives_the_same_object():
    key, blob = wire.encode_circuit(ansatz())
    decoded = wire.decode_circuit(blob)
    assert wire.decode_circuit(bytes(blob)) is decoded
    assert wire.content_key(decoded) == key == wire.content_hash(blob)
    assert wire.content_key(ansatz()) is None  # a user's circuit has no wire identity


def qpy_bytes(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def test_the_cache_key_is_the_content_so_other_bytes_never_hit_another_circuit():
    flips = QuantumCircuit(1, 1)
    flips.x(0)
    flips.measure(0, 0)
    stays = QuantumCircuit(1, 1)
    stays.measure(0, 0)
    decoded = wire.decode_circuit(qpy_bytes(flips))
    other = wire.decode_circuit(qpy_bytes(stays))  # no key to forge: it is computed here
    assert decoded == flips and other == stays and other is not decoded


def with_header(blob: bytes, **fields: int) -> bytes:
    """QPY bytes with fields of the circuit header changed (offsets of this Qiskit's QPY)."""
    names = ["name", "phase_type", "phase_size", "qubits", "clbits", "metadata", "registers"]
    names += ["instructions", "vars"]
    start = 28
    layout = struct.Struct("!H1cHIIQIQI")
    values = list(layout.unpack_from(blob, start))
    for name, value in fields.items():
        values[names.index(name)] = value
    return blob[:start] + layout.pack(*values) + blob[start + layout.size :]


def test_declared_widths_are_refused_before_the_bytes_are_parsed():
    blob = qpy_bytes(ansatz())
    assert wire.decode_circuit(with_header(blob, qubits=2), max_qubits=2).num_qubits == 2
    with pytest.raises(wire.CircuitEncodingError, match="4000000000 qubits; at most 28"):
        wire.decode_circuit(with_header(blob, qubits=4_000_000_000), max_qubits=28)
    with pytest.raises(wire.CircuitEncodingError, match="classical bits; at most 100"):
        wire.decode_circuit(with_header(blob, clbits=4_000_000_000), max_clbits=100)
    with pytest.raises(wire.CircuitEncodingError, match="not QPY"):
        wire.decode_circuit(b"X" * 100)
    with pytest.raises(wire.CircuitEncodingError, match="too short"):
        wire.decode_circuit(b"QISKIT")
    with pytest.raises(wire.CircuitEncodingError, match="QPY version 5"):
        wire.decode_circuit(blob[:6] + bytes([5]) + blob[7:])
    with pytest.raises(wire.CircuitEncodingError, match="not a readable QPY circuit"):
        wire.decode_circuit(with_header(blob, instructions=2**40))


def test_a_circuit_qpy_cannot_express_is_refused_saying_why():
    circuit = QuantumCircuit(1)
    circuit.append(Instruction("mine", 1, 0, [{"a": 1}]), [0])  # a parameter QPY cannot hold
    with pytest.raises(wire.CircuitEncodingError, match=r"circuits cross as QPY.*type_key"):
        wire.encode_circuit(circuit)
