"""What the PennyLane device keeps between executions never outlives what it was derived from.

A measurement's observables are converted once per kind (expval, var), Pauli form (words
and coefficients) and device wires; an observable with other coefficients, another kind
of measurement of it, or a device with its wires in another order must each get the
answer ``default.qubit`` gives, never one kept for something else.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformStateVectors
from qlambda.quantum.sdk.pennylane_device import QlambdaDevice


def device(submit, wires) -> QlambdaDevice:
    return QlambdaDevice(
        wires=wires,
        estimator=PlatformEstimatorV2(submit),
        states=PlatformStateVectors(submit),
        exact=True,
    )


def qnode(dev, measure, diff_method="parameter-shift"):
    @qml.qnode(dev, diff_method=diff_method)
    def circuit(x):
        qml.RX(x[0], wires=0)
        qml.RY(x[1], wires=1)
        qml.CNOT(wires=[0, 1])
        return measure()

    return circuit


@pytest.fixture
def x():
    return pnp.array([0.4, -1.1], requires_grad=True)


def test_other_coefficients_are_converted_again(aer_submit, x):
    for c in (0.5, -2.0, 0.5):  # equal structure, other Pauli form, then the first again
        observable = qml.Hamiltonian([c, 1.0], [qml.Z(0) @ qml.Z(1), qml.X(1)])
        ours = qnode(device(aer_submit, 2), lambda o=observable: qml.expval(o))
        theirs = qnode(qml.device("default.qubit", wires=2), lambda o=observable: qml.expval(o))
        assert np.isclose(ours(x), theirs(x), atol=1e-6)
        assert np.allclose(qml.grad(ours)(x), qml.grad(theirs)(x), atol=1e-6)


def test_expval_and_var_of_one_observable_are_kept_apart(aer_submit, x):
    observable = 0.5 * qml.X(0) + qml.Z(1)
    for measure in (qml.expval, qml.var, qml.expval):
        ours = qnode(device(aer_submit, 2), lambda m=measure: m(observable))
        theirs = qnode(qml.device("default.qubit", wires=2), lambda m=measure: m(observable))
        assert np.isclose(ours(x), theirs(x), atol=1e-6)


def test_the_device_s_wire_order_is_part_of_the_conversion(aer_submit, x):
    """The same observable on devices whose wire i is another wire each time."""
    observable = qml.Z(0) @ qml.X(1) + 0.3 * qml.Y(0)
    for wires in ([0, 1], [1, 0], [1, 0, 2], [2, 0, 1]):
        ours = qnode(device(aer_submit, wires), lambda: qml.expval(observable))
        theirs = qnode(qml.device("default.qubit", wires=wires), lambda: qml.expval(observable))
        assert np.isclose(ours(x), theirs(x), atol=1e-6), wires


def test_an_unchanged_observable_is_sent_as_the_same_array(aer_submit, x):
    circuit = qnode(device(aer_submit, 2), lambda: qml.expval(qml.Z(0) @ qml.Z(1)))
    for _ in range(2):
        qml.grad(circuit)(x)  # one request per step: the tape and its shifted tapes
    first, second = (request.pubs[0].observables for request in aer_submit.requests)
    assert first is second  # a new measurement object each step, converted once
