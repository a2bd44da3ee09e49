"""Circuits from Qiskit, OpenQASM 2/3, Cirq and PennyLane on real backends."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformSamplerV2
from qlambda.quantum.sdk.circuits import UnsupportedCircuitError, to_qiskit

BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
"""

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


@pytest.mark.parametrize("program", [BELL_QASM2, BELL_QASM3], ids=["qasm2", "qasm3"])
def test_openqasm_strings_run_as_circuits(aer_submit, program):
    result = PlatformSamplerV2(aer_submit).run([program], shots=300).result()
    counts = result[0].data.c.get_counts()
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 300


def test_a_cirq_circuit_runs_in_the_estimator_with_qiskit_observables(aer_submit):
    import cirq

    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.X(q[0]), cirq.H(q[1]))
    evs = PlatformEstimatorV2(aer_submit).run([(circuit, ["IZ", "XI"])]).result()[0].data.evs
    # qubit 0 flipped (Z0 = -1), qubit 1 in |+> (X1 = +1): Cirq's q(0) is Qiskit's qubit 0
    assert np.allclose(evs, [-1.0, 1.0], atol=0.1)


def test_the_cirq_sampler_returns_cirq_results(aer_submit):
    import cirq
    import sympy

    from qlambda.quantum.sdk.cirq_sampler import PlatformCirqSampler

    q = cirq.LineQubit.range(3)
    t = sympy.Symbol("t")
    circuit = cirq.Circuit(cirq.rx(t).on(q[0]), cirq.X(q[2]), cirq.measure(*q, key="m"))
    sampler = PlatformCirqSampler(PlatformSamplerV2(aer_submit))
    results = sampler.run_sweep(circuit, cirq.Points("t", [0.0, np.pi]), repetitions=50)
    assert len(aer_submit.requests) == 1  # the whole sweep is one platform request
    first, second = (r.measurements["m"] for r in results)
    assert first.shape == (50, 3)
    assert (first == [0, 0, 1]).all() and (second == [1, 0, 1]).all()
    assert results[1].params.value_of("t") == pytest.approx(np.pi)


def test_unsupported_circuits_are_refused_saying_what_is_accepted(aer_submit):
    with pytest.raises(UnsupportedCircuitError, match="accepted: a qiskit QuantumCircuit"):
        to_qiskit({"gates": []})
    with pytest.raises(UnsupportedCircuitError, match=r"OPENQASM 2\.0"):
        PlatformSamplerV2(aer_submit).run(["h q[0];"])
    with pytest.raises(TypeError, match="list of PUBs"):
        PlatformSamplerV2(aer_submit).run(BELL_QASM2)


def test_a_parameterised_cirq_circuit_must_be_resolved_first(aer_submit):
    import cirq
    import sympy

    circuit = cirq.Circuit(cirq.rx(sympy.Symbol("a")).on(cirq.LineQubit(0)))
    with pytest.raises(UnsupportedCircuitError, match="resolve_parameters"):
        PlatformEstimatorV2(aer_submit).run([(circuit, "Z")])


def test_qiskit_circuits_pass_unchanged():
    circuit = QuantumCircuit(1)
    assert to_qiskit(circuit) is circuit
