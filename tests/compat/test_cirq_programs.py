"""Cirq programs written as Cirq's documentation writes them, run on ``cirq.Simulator``
and, with the one documented change (``cirq.Simulator()`` -> ``ctx.cirq_sampler("aer")``),
inside a qlambda job. Samples agree within statistical error, states and expectation
values to float precision; a sweep and a ``simulate()`` are one quantum task each."""

from __future__ import annotations

import math

import cirq
import numpy as np
import pytest
import sympy

import qlambda
from qlambda.core.events import EventKind

REPETITIONS = 4000


# -- the programs (each takes the simulator it runs on) -------------------------------


def bell_histogram(simulator) -> dict[int, int]:
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q0), cirq.CNOT(q0, q1), cirq.measure(q0, q1, key="result"))
    result = simulator.run(circuit, repetitions=REPETITIONS)
    return dict(result.histogram(key="result"))


def rabi_sweep(simulator) -> list[tuple[float, float]]:
    """Cirq's parameter-sweep example: a qubit rotated by X**t, measured, for 5 values."""
    qubit = cirq.GridQubit(0, 0)
    t = sympy.Symbol("t")
    circuit = cirq.Circuit(cirq.X(qubit) ** t, cirq.measure(qubit, key="m"))
    sweep = cirq.Linspace(key="t", start=0.0, stop=1.0, length=5)
    results = simulator.run_sweep(circuit, params=sweep, repetitions=REPETITIONS)
    return [(r.params["t"], float(r.measurements["m"].mean())) for r in results]


def ansatz() -> tuple[cirq.Circuit, list[cirq.Qid]]:
    a, b = sympy.symbols("alpha beta")
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        cirq.H.on_each(*q),
        cirq.CZ(q[0], q[1]) ** a,
        cirq.rx(b).on(q[2]),
        cirq.ISWAP(q[1], q[2]) ** 0.5,
        cirq.PhasedXPowGate(phase_exponent=a, exponent=0.3).on(q[0]),
        cirq.ZZ(q[0], q[2]) ** b,
        cirq.XPowGate(exponent=0.4, global_shift=0.25).on(q[1]),
    )
    return circuit, q


def final_states(simulator) -> list[np.ndarray]:
    circuit, _ = ansatz()
    resolvers = [{"alpha": 0.3, "beta": 1.2}, {"alpha": -0.7, "beta": 2.5}]
    return [simulator.simulate(circuit, param_resolver=r).final_state_vector for r in resolvers]


def expectations(simulator) -> list[list[complex]]:
    circuit, q = ansatz()
    observables = [cirq.Z(q[0]) * cirq.Z(q[1]), 0.5 * cirq.X(q[2]) - cirq.Y(q[0])]
    sweep = cirq.Points("alpha", [0.1, 0.9]) * cirq.Points("beta", [0.4, -1.3])
    return simulator.simulate_expectation_values_sweep(circuit, observables, sweep)


def from_basis_states(simulator) -> list[np.ndarray]:
    circuit, q = ansatz()
    resolver = {"alpha": 0.3, "beta": 1.2}
    order = [q[2], q[0], q[1]]  # the integer's bits follow the qubit order
    return [
        simulator.simulate(
            circuit, resolver, qubit_order=order, initial_state=5
        ).final_state_vector,
        simulator.simulate(circuit, resolver, initial_state=6).final_state_vector,
        np.array(
            simulator.simulate_expectation_values(
                circuit, [cirq.Z(q[0]), cirq.X(q[1]) * cirq.Z(q[2])], resolver, initial_state=3
            )
        ),
    ]


PROGRAMS = {
    "bell": bell_histogram,
    "sweep": rabi_sweep,
    "states": final_states,
    "expectations": expectations,
    "basis": from_basis_states,
}


def on_platform(ctx, name):
    result = PROGRAMS[name](ctx.cirq_sampler("aer"))  # the one changed line
    if name in ("states", "basis"):
        return [[[complex(v).real, complex(v).imag] for v in state] for state in result]
    if name == "expectations":
        return [[[v.real, v.imag] for v in row] for row in result]
    return result


# -- the platform ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("cirq"),
        workers=1,
        backends=[{"name": "aer", "kind": "aer", "num_qubits": 16, "seed": 5}],
    )
    assert client.wait_ready(180)
    yield client
    client.close()


def run(client, name):
    job = client.run(on_platform, name=name)
    result = job.result(180)
    tasks = [e for e in job.events() if e.kind == EventKind.QPU_QUEUED]
    return result, len(tasks)


def within_shot_noise(p: float, q: float, shots: int) -> bool:
    """Two frequencies of ``shots`` draws each agree within 5 standard errors."""
    mean = (p + q) / 2
    sigma = math.sqrt(max(mean * (1 - mean), 1 / shots) * 2 / shots)
    return abs(p - q) <= 5 * sigma


def test_a_bell_state_s_histogram_matches_cirq_s(client):
    ours, tasks = run(client, "bell")
    theirs = bell_histogram(cirq.Simulator())
    assert set(ours) == {0, 3} == set(theirs)
    assert within_shot_noise(ours[0] / REPETITIONS, theirs[0] / REPETITIONS, REPETITIONS)
    assert tasks == 1


def test_a_parameter_sweep_is_one_quantum_task_with_cirq_s_frequencies(client):
    ours, tasks = run(client, "sweep")
    theirs = rabi_sweep(cirq.Simulator())
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    for (t, p), (_, q) in zip(ours, theirs, strict=True):
        assert within_shot_noise(p, q, REPETITIONS), t
        assert within_shot_noise(p, math.sin(math.pi * t / 2) ** 2, REPETITIONS), t
    assert tasks == 1  # five parameter sets, one request


def test_simulate_gives_cirq_s_final_state_vectors(client):
    ours, tasks = run(client, "states")
    theirs = final_states(cirq.Simulator())
    for mine, reference in zip(ours, theirs, strict=True):
        mine = np.array([complex(*v) for v in mine])
        assert np.allclose(mine, reference, atol=1e-6)  # global phase included
    assert tasks == 2  # one simulate() call, one task


def test_a_basis_initial_state_gives_cirq_s_states_and_expectation_values(client):
    ours, _ = run(client, "basis")
    theirs = from_basis_states(cirq.Simulator())
    for mine, reference in zip(ours, theirs, strict=True):
        assert np.allclose([complex(*v) for v in mine], reference, atol=1e-6)
    from_zero = final_states(cirq.Simulator())[0]
    assert not np.allclose(theirs[0], from_zero, atol=1e-3)  # the start state mattered


@pytest.mark.parametrize(
    ("initial_state", "message"),
    [
        (np.array([0, 1, 0, 0, 0, 0, 0, 0], dtype=complex), "of type ndarray: accepted"),
        (8, "8 is not a basis state of 3 qubits: accepted: 0 to 7"),
        (-1, "not a basis state"),
        (True, "of type bool"),
    ],
)
def test_initial_states_other_than_basis_states_are_refused_saying_what_is_accepted(
    initial_state, message
):
    from qlambda.quantum.in_process import in_process_submit
    from qlambda.quantum.primitives import (
        PlatformEstimatorV2,
        PlatformSamplerV2,
        PlatformStateVectors,
    )
    from qlambda.quantum.sdk.cirq_sampler import PlatformCirqSampler

    submit = in_process_submit()
    sampler = PlatformCirqSampler(
        PlatformSamplerV2(submit), PlatformEstimatorV2(submit), PlatformStateVectors(submit)
    )
    circuit, _ = ansatz()
    with pytest.raises(ValueError, match=message):
        sampler.simulate(circuit, {"alpha": 0.1, "beta": 0.2}, initial_state=initial_state)


def test_expectation_values_of_a_sweep_match_cirq_s_in_one_task(client):
    ours, tasks = run(client, "expectations")
    theirs = expectations(cirq.Simulator())
    assert np.allclose([[complex(*v) for v in row] for row in ours], np.array(theirs), atol=1e-6)
    assert tasks == 1
