"""Parameter-shift gradients from a plan kept per tape structure equal PennyLane's own.

The plan stands for ``param_shift`` on every later tape of its structure, so a tape that
differs in anything the gradient depends on (which parameters are trainable, which
observable is measured and where) must get its own plan, and what no plan can stand for
(a variance) must still be differentiated by ``param_shift``.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp

from qlambda.quantum.primitives import PlatformEstimatorV2
from qlambda.quantum.sdk import pennylane_shifts
from qlambda.quantum.sdk.pennylane_circuits import tape_program
from qlambda.quantum.sdk.pennylane_shifts import shift_plan


def pair(submit, wires, body):
    """The same QNode on the platform device and on default.qubit, both parameter shift."""
    ours = qml.device("qlambda.platform", wires=wires, estimator=PlatformEstimatorV2(submit))
    theirs = qml.device("default.qubit", wires=wires)
    return (qml.qnode(dev, diff_method="parameter-shift")(body) for dev in (ours, theirs))


def rotations(measure):
    def body(x, y):
        qml.RX(x, wires=0)
        qml.CRY(y, wires=[0, 1])
        qml.Rot(x, 0.3, y, wires=1)
        return measure()

    return body


def test_a_plan_gives_param_shift_s_gradients_step_after_step(aer_submit):
    ours, theirs = pair(aer_submit, 2, rotations(lambda: qml.expval(qml.X(1) + 0.5 * qml.Z(0))))
    before = len(pennylane_shifts._plans)
    for step in range(3):
        x = pnp.array(0.2 + step, requires_grad=True)
        y = pnp.array(-0.7 * step, requires_grad=True)
        assert np.allclose(qml.grad(ours)(x, y), qml.grad(theirs)(x, y), atol=1e-6)
    assert len(pennylane_shifts._plans) == before + 1  # one structure, one plan
    assert len(aer_submit.requests) == 3  # each step one request: the tape and its shifts


def test_other_trainable_parameters_get_their_own_plan(aer_submit):
    ours, theirs = pair(aer_submit, 2, rotations(lambda: qml.expval(qml.Z(1))))
    for x_trained, y_trained in ((True, True), (True, False), (False, True), (True, True)):
        x = pnp.array(0.4, requires_grad=x_trained)
        y = pnp.array(1.3, requires_grad=y_trained)
        argnums = [k for k, trained in enumerate((x_trained, y_trained)) if trained]
        got = qml.grad(ours, argnums=argnums)(x, y)
        want = qml.grad(theirs, argnums=argnums)(x, y)
        assert np.allclose(got, want, atol=1e-6), (x_trained, y_trained)


def test_another_observable_on_the_same_gates_gets_its_own_plan(aer_submit):
    """Measured on wire 0, the gate on wire 1 has no gradient (PennyLane shifts nothing for
    it); measured on wire 1 it has one: a plan kept for the first would lose it."""

    def body(x, y, wire):
        qml.RX(x, wires=0)
        qml.RY(y, wires=1)
        return qml.expval(qml.Z(wire))

    ours, theirs = pair(aer_submit, 2, body)
    x, y = pnp.array(0.5, requires_grad=True), pnp.array(0.9, requires_grad=True)
    for wire in (0, 1, 0):
        got = qml.grad(ours, argnums=[0, 1])(x, y, wire)
        want = qml.grad(theirs, argnums=[0, 1])(x, y, wire)
        assert np.allclose(got, want, atol=1e-6), wire
    assert not np.isclose(qml.grad(ours, argnums=[0, 1])(x, y, 1)[1], 0.0)


def test_several_measurements_and_a_variance(aer_submit):
    for measure in (
        lambda: (qml.expval(qml.Z(0)), qml.expval(qml.X(1) @ qml.Z(0))),
        lambda: (qml.var(qml.X(1)), qml.expval(qml.Z(0))),  # a variance: no plan
    ):
        ours, theirs = pair(aer_submit, 2, rotations(measure))
        x, y = pnp.array(0.8, requires_grad=True), pnp.array(0.1, requires_grad=True)
        got = qml.jacobian(lambda x, y, f=ours: qml.math.stack(f(x, y)))(x, y)
        want = qml.jacobian(lambda x, y, f=theirs: qml.math.stack(f(x, y)))(x, y)
        assert np.allclose(got, want, atol=1e-6)


def test_a_plan_is_what_param_shift_builds():
    """The plan's rows are the shifted tapes' values, bit for bit."""
    tape = qml.tape.QuantumScript(
        [
            qml.RX(np.float64(0.37), 0),
            qml.CRZ(np.float64(1.9), [0, 1]),
            qml.IsingXX(np.float64(-0.61), [0, 1]),
        ],
        [qml.expval(qml.Z(0) @ qml.Y(1))],
        trainable_params=[0, 1, 2],
    )
    program = tape_program(tape.operations, [0, 1])
    plan = shift_plan(tape, program, "a test's own key")
    assert plan is not None
    shifted, _ = qml.gradients.param_shift(tape)
    rows = plan.rows(program.values(tape.operations))
    assert len(rows) == len(shifted)
    for row, other in zip(rows, shifted, strict=True):
        assert row.tobytes() == program.values(other.operations).tobytes()
