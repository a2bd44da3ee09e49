"""The qlambda.platform device's gradients against default.qubit's, gate by gate, and how
many requests they take."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformStateVectors
from qlambda.quantum.sdk import pennylane_device
from qlambda.quantum.sdk.pennylane_device import QlambdaDevice

GATES = [
    lambda p: qml.RX(p[0], 0),
    lambda p: qml.RY(p[0], 1),
    lambda p: qml.RZ(p[0], 2),
    lambda p: qml.PhaseShift(p[0], 1),
    lambda p: qml.Rot(p[0], p[1], p[2], wires=2),
    lambda p: qml.U3(p[0], p[1], p[2], wires=0),
    lambda p: qml.CRX(p[0], wires=[0, 2]),  # Aer 0.18 ignores bound values of crx/cry/crz/cp
    lambda p: qml.CRY(p[1], wires=[2, 1]),
    lambda p: qml.CRZ(p[2], wires=[1, 0]),
    lambda p: qml.ControlledPhaseShift(p[0], wires=[0, 1]),
    lambda p: qml.IsingXX(p[0], wires=[0, 1]),
    lambda p: qml.IsingYY(p[1], wires=[1, 2]),
    lambda p: qml.IsingZZ(p[2], wires=[0, 2]),
    lambda p: (qml.S(0), qml.T(1), qml.SX(2), qml.adjoint(qml.S(1)), qml.RX(p[0], 1)),
    lambda p: (
        qml.RX(p[1], 2),
        qml.SWAP([0, 2]),
        qml.CZ([1, 2]),
        qml.CY([0, 1]),
        qml.Toffoli([0, 1, 2]),
    ),
    lambda p: (qml.RY(p[1], 0), qml.MultiRZ(p[0], wires=[0, 1, 2])),  # decomposed first
    lambda p: (qml.RY(p[2], 0), qml.GlobalPhase(p[0]), qml.Hadamard(1)),
]
OBSERVABLE = qml.Z(0) @ qml.X(1) + 0.5 * qml.Y(2) - 0.3 * qml.Z(1)


def circuit(gate):
    def body(params):
        qml.RY(0.4, wires=0)
        qml.RX(1.1, wires=1)
        qml.Hadamard(wires=2)
        qml.CNOT(wires=[0, 2])
        gate(params)
        return qml.expval(OBSERVABLE), qml.expval(qml.Z(2))

    return body


@pytest.fixture
def device(aer_submit):
    return QlambdaDevice(
        wires=3,
        estimator=PlatformEstimatorV2(aer_submit),
        states=PlatformStateVectors(aer_submit),
        exact=True,
    )


@pytest.mark.parametrize("diff_method", ["adjoint", "parameter-shift"])
@pytest.mark.parametrize("gate", range(len(GATES)))
def test_a_jacobian_matches_default_qubit_s(device, aer_submit, monkeypatch, gate, diff_method):
    def refuse(*args, **kwargs):
        raise AssertionError("PennyLane's adjoint_jacobian ran: the device's own should")

    monkeypatch.setattr(pennylane_device, "adjoint_jacobian", refuse)
    params = pnp.array([0.7, -1.3, 2.1], requires_grad=True)
    ours = qml.QNode(circuit(GATES[gate]), device, diff_method=diff_method)
    theirs = qml.QNode(circuit(GATES[gate]), qml.device("default.qubit", wires=3))
    jacobian = qml.jacobian(lambda p: qml.math.stack(ours(p)))(params)
    assert np.allclose(jacobian, qml.jacobian(lambda p: qml.math.stack(theirs(p)))(params))
    assert np.allclose(ours(params), theirs(params))
    # the values and the jacobian together: one request; then the plain call: one more
    assert len(aer_submit.requests) == 2
    kind = "statevector" if diff_method == "adjoint" else "estimator"
    assert aer_submit.requests[0].primitive == kind
    if diff_method == "parameter-shift":  # every shifted tape in one PUB of one circuit
        assert len(aer_submit.requests[0].pubs) == 1


def test_best_is_adjoint_on_an_ideal_simulator_and_parameter_shift_with_shots(device):
    def body(x):
        qml.RX(x, wires=0)
        return qml.expval(qml.Z(0))

    analytic = qml.QNode(body, device)
    sampled = qml.QNode(body, device, shots=1000)
    config = qml.devices.ExecutionConfig(gradient_method="best")
    assert (
        device.setup_execution_config(
            config, qml.workflow.construct_tape(analytic)(0.1)
        ).gradient_method
        == "adjoint"
    )
    tape = qml.workflow.construct_tape(sampled)(0.1)
    assert device.setup_execution_config(config, tape).gradient_method == "parameter-shift"


def test_adjoint_of_a_variance_says_to_use_parameter_shift(device):
    @qml.qnode(device, diff_method="adjoint")
    def body(x):
        qml.RX(x, wires=0)
        return qml.var(qml.Z(0))

    with pytest.raises(ValueError, match="diff_method='parameter-shift'"):
        qml.grad(body)(pnp.array(0.3, requires_grad=True))
