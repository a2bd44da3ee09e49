"""The caller keeps a loop's observables coerced and packed, and never sends stale ones."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit.library import real_amplitudes
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum import observables_memo
from qlambda.quantum.codec import RequestLimits, decode_request, encode_request
from qlambda.quantum.codec.observables import pack_observables
from qlambda.quantum.request import make_request


def _request(circuit, operator, values):
    return make_request("estimator", [(circuit, operator, values)], precision=0.0)


def _decoded_terms(request) -> dict[str, complex]:
    (pub,) = decode_request(encode_request(request), RequestLimits()).pubs
    return dict(pub.observables.ravel()[0])


def test_the_same_operator_is_coerced_and_packed_once() -> None:
    circuit = real_amplitudes(2, reps=1)
    operator = SparsePauliOp(["ZZ", "XI"], [1.0, 0.5])
    first = _request(circuit, operator, np.zeros(circuit.num_parameters))
    second = _request(circuit, operator, np.ones(circuit.num_parameters))
    assert first.pubs[0].observables is second.pubs[0].observables
    packed, key = observables_memo.packed(second.pubs[0].observables, pack_observables)
    assert packed == pack_observables(second.pubs[0].observables)
    again = observables_memo.packed(second.pubs[0].observables, pack_observables)
    assert again[0] is packed and again[1] == key


def test_an_operator_changed_in_place_is_sent_as_it_is_now() -> None:
    circuit = real_amplitudes(2, reps=1)
    operator = SparsePauliOp(["ZZ", "XI"], [1.0, 0.5])
    values = np.zeros(circuit.num_parameters)
    assert _decoded_terms(_request(circuit, operator, values)) == {"ZZ": 1.0, "XI": 0.5}
    operator.coeffs[1] = -2.0  # coefficients changed where they are
    assert _decoded_terms(_request(circuit, operator, values)) == {"ZZ": 1.0, "XI": -2.0}
    operator.paulis.z[0] = [False, False]  # and a Pauli: ZZ becomes II
    assert _decoded_terms(_request(circuit, operator, values)) == {"II": 1.0, "XI": -2.0}


def test_a_new_operator_in_a_dead_ones_place_is_coerced_afresh() -> None:
    circuit = real_amplitudes(2, reps=1)
    values = np.zeros(circuit.num_parameters)
    for coefficient in (1.0, 2.0, 3.0):  # each operator is freed, its id may be reused
        terms = _decoded_terms(_request(circuit, SparsePauliOp(["ZI"], [coefficient]), values))
        assert terms == {"ZI": coefficient}


def test_operators_with_symbolic_coefficients_are_left_to_qiskit() -> None:
    from qiskit.circuit import Parameter

    operator = SparsePauliOp(["ZZ"], np.array([Parameter("a")], dtype=object))
    assert observables_memo.coerced(operator) is operator


def test_a_loop_pub_is_not_walked_again_and_checked_as_qiskit_checks_it(monkeypatch) -> None:
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit.primitives.containers.observables_array import ObservablesArray

    circuit = real_amplitudes(2, reps=1)
    operator = SparsePauliOp(["ZZ", "XI"], [1.0, 0.5])
    values = np.linspace(0, 1, circuit.num_parameters)
    _request(circuit, operator, values)  # the operator is coerced (and validated) once

    def walked(self, *args, **kwargs):
        raise AssertionError("the observables were walked again")

    with monkeypatch.context() as patch:
        patch.setattr(ObservablesArray, "__array__", walked)
        (pub,) = make_request("estimator", [(circuit, operator, values, 0.25)]).pubs
    expected = EstimatorPub.coerce((circuit, operator, values, 0.25))
    assert pub.precision == 0.25 and pub.shape == expected.shape
    assert np.array_equal(pub.parameter_values.as_array(circuit.parameters), values)
    # what Qiskit refuses is refused with Qiskit's message
    with pytest.raises(ValueError, match="inconsistent with last dimension"):
        _request(circuit, operator, values[:-1])
    with pytest.raises(ValueError, match="precision must be non-negative"):
        make_request("estimator", [(circuit, operator, values, -1.0)])
    with pytest.raises(ValueError, match="number of qubits"):
        _request(real_amplitudes(3, reps=1), operator, np.zeros(6))
    # and a PUB of several parameter sets keeps its shape
    (pub,) = _request(circuit, operator, np.zeros((5, circuit.num_parameters))).pubs
    assert pub.shape == (5,)
