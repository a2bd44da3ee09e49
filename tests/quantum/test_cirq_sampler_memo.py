"""What the Cirq sampler keeps between calls never outlives what it was derived from.

The observables' conversion is kept by content, the circuit's by its frozen copy: an
observable or a circuit changed in place, or another qubit order, must give Cirq's own
answer for what they hold now, never the answer kept for what they held before.
"""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

from qlambda.quantum.primitives import (
    PlatformEstimatorV2,
    PlatformSamplerV2,
    PlatformStateVectors,
)
from qlambda.quantum.sdk.cirq_sampler import PlatformCirqSampler

T = sympy.Symbol("t")
Q = cirq.LineQubit.range(3)


@pytest.fixture
def sampler(aer_submit):
    return PlatformCirqSampler(
        PlatformSamplerV2(aer_submit),
        PlatformEstimatorV2(aer_submit),
        PlatformStateVectors(aer_submit),
    )


def circuit() -> cirq.Circuit:
    return cirq.Circuit(cirq.H(Q[0]), cirq.CNOT(Q[0], Q[1]), cirq.rx(T).on(Q[2]))


def expected(program, observables, params, qubit_order=cirq.QubitOrder.DEFAULT):
    return cirq.Simulator().simulate_expectation_values(
        program, observables, params, qubit_order=qubit_order
    )


def test_a_pauli_sum_changed_in_place_is_converted_again(sampler):
    program = circuit()
    observable = cirq.X(Q[2]) + 0.5 * cirq.Z(Q[0])
    before = sampler.simulate_expectation_values(program, [observable], {"t": 0.4})
    assert np.allclose(before, expected(program, [observable], {"t": 0.4}), atol=1e-6)
    observable += 2.0 * cirq.Z(Q[2])  # the same object, another operator
    after = sampler.simulate_expectation_values(program, [observable], {"t": 0.4})
    assert np.allclose(after, expected(program, [observable], {"t": 0.4}), atol=1e-6)
    assert not np.allclose(after, before, atol=1e-3)
    observable *= -1.0
    again = sampler.simulate_expectation_values(program, [observable], {"t": 0.4})
    assert np.allclose(again, [-after[0]], atol=1e-6)


def test_a_circuit_changed_in_place_gets_its_own_observables(sampler):
    program = circuit()
    observables = [cirq.Z(Q[0]) * cirq.Z(Q[1]), cirq.X(Q[2])]
    first = sampler.simulate_expectation_values(program, observables, {"t": 0.3})
    program.append(cirq.X(Q[1]))  # flips <Z0 Z1>
    second = sampler.simulate_expectation_values(program, observables, {"t": 0.3})
    assert np.allclose(second, expected(program, observables, {"t": 0.3}), atol=1e-6)
    assert np.isclose(second[0], -first[0], atol=1e-6)
    program.append(cirq.H(cirq.LineQubit(5)))  # a qubit more: another register width
    third = sampler.simulate_expectation_values(program, observables, {"t": 0.3})
    assert np.allclose(third, expected(program, observables, {"t": 0.3}), atol=1e-6)


def test_each_qubit_order_gets_its_own_conversion(sampler):
    program = circuit()
    observables = [cirq.Z(Q[1]), cirq.X(Q[2]) * cirq.Z(Q[0])]
    for order in (cirq.QubitOrder.DEFAULT, list(reversed(Q)), [Q[1], Q[0], Q[2]]):
        got = sampler.simulate_expectation_values(
            program, observables, {"t": 1.1}, qubit_order=order
        )
        assert np.allclose(got, expected(program, observables, {"t": 1.1}, order), atol=1e-6)


def test_unchanged_observables_are_sent_as_the_same_array(sampler, aer_submit):
    program = circuit()
    observables = [cirq.Z(Q[0]) * cirq.Z(Q[1]), cirq.X(Q[2]) + 0.5 * cirq.Z(Q[0])]
    for value in (0.1, 0.2):
        sampler.simulate_expectation_values(program, observables, {"t": value})
    first, second = (request.pubs[0].observables for request in aer_submit.requests)
    assert first is second  # converted once, not per call
    equal = [cirq.Z(Q[0]) * cirq.Z(Q[1]), cirq.X(Q[2]) + 0.5 * cirq.Z(Q[0])]
    sampler.simulate_expectation_values(program, equal, {"t": 0.3})  # equal content
    assert aer_submit.requests[-1].pubs[0].observables is first


def test_measurements_dropped_follow_the_circuit(sampler):
    program = circuit() + cirq.measure(*Q, key="m")
    observables = [cirq.Z(Q[0]) * cirq.Z(Q[1])]
    first = sampler.simulate_expectation_values(
        program, observables, {"t": 0.2}, permit_terminal_measurements=True
    )
    program.insert(0, cirq.X(Q[1]))
    second = sampler.simulate_expectation_values(
        program, observables, {"t": 0.2}, permit_terminal_measurements=True
    )
    assert np.isclose(first[0], 1.0, atol=1e-6)
    assert np.isclose(second[0], -1.0, atol=1e-6)


def test_results_keep_the_values_they_were_run_with(sampler):
    """A dict reused by the caller's loop is not the resolver a result keeps."""
    program = circuit()
    values = {"t": 0.25}
    first = sampler.simulate(program, values)
    values["t"] = 2.0
    second = sampler.simulate(program, values)
    assert first.params == cirq.ParamResolver({"t": 0.25})
    assert second.params == cirq.ParamResolver({"t": 2.0})
    reference = cirq.Simulator().simulate(program, {"t": 0.25})
    assert first.params == reference.params
    assert np.allclose(first.final_state_vector, reference.final_state_vector, atol=1e-6)


def test_parameter_values_given_every_way_resolve_as_cirq_resolves_them(sampler):
    a = sympy.Symbol("a")
    program = cirq.Circuit(cirq.rx(T).on(Q[0]), cirq.ry(a).on(Q[1]))
    ways = [
        {"t": 0.5, "a": 1},
        {T: np.float32(0.5), a: np.int64(1)},
        cirq.ParamResolver({"t": 0.5, "a": "t"}),  # a value naming another parameter
        {"t": sympy.Float(0.5), a: sympy.Rational(1, 3)},
    ]
    for params in ways:
        got = sampler.simulate(program, params).final_state_vector
        want = cirq.Simulator().simulate(program, params).final_state_vector
        assert np.allclose(got, want, atol=1e-6), params
    with pytest.raises(ValueError, match="duplicate keys"):
        sampler.simulate(program, {T: 0.5, "t": 0.5, "a": 1.0})


def test_the_estimator_pub_it_sends_is_valid(sampler, aer_submit):
    """The PUB is built without Qiskit's check: it must pass that check all the same."""
    a = sympy.Symbol("a")
    programs = [
        circuit(),
        cirq.Circuit(cirq.CZ(Q[0], Q[2]) ** a, cirq.XX(Q[1], Q[2]) ** T),
        cirq.Circuit(cirq.H.on_each(*Q)),  # no parameters
    ]
    observables = [cirq.Z(Q[0]), cirq.X(Q[2]) * cirq.Y(Q[1])]
    sweep = cirq.Points("t", [0.1, 0.2]) * cirq.Points("a", [0.3])
    for program in programs:
        got = sampler.simulate_expectation_values_sweep(program, observables, sweep)
        want = cirq.Simulator().simulate_expectation_values_sweep(program, observables, sweep)
        assert np.allclose(got, want, atol=1e-6)
        aer_submit.requests[-1].pubs[0].validate()
    # an observable on a qubit the circuit does not touch (Cirq's simulator refuses it)
    outside = [cirq.X(cirq.LineQubit(4)) * cirq.Z(Q[0])]
    assert np.allclose(sampler.simulate_expectation_values(programs[2], outside), [0.0])
    pub = aer_submit.requests[-1].pubs[0]
    pub.validate()
    assert pub.observables.num_qubits == pub.circuit.num_qubits == 4


def test_a_sweep_over_a_circuit_without_parameters_gives_every_point(sampler):
    program = cirq.Circuit(cirq.H.on_each(*Q), cirq.CZ(Q[0], Q[1]))
    observables = [cirq.X(Q[0]) * cirq.Z(Q[1]), cirq.X(Q[2])]
    sweep = cirq.Points("t", [0.1, 0.2, 0.3])
    got = sampler.simulate_expectation_values_sweep(program, observables, sweep)
    want = cirq.Simulator().simulate_expectation_values_sweep(program, observables, sweep)
    assert len(got) == 3
    assert np.allclose(got, want, atol=1e-6)
