"""PennyLane programs written as PennyLane's tutorials write them, run on
``default.qubit`` and, with the one documented change (the device line:
``ctx.pennylane_device(wires, "aer")``), inside a qlambda job. Analytic results and
gradients agree with ``default.qubit`` to float precision, sampled ones within shot
noise; each gradient evaluation is one quantum task."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

import qlambda
from qlambda.core.events import EventKind

STEPS = 8


def qubit_rotation(device, diff_method="best") -> list[float]:
    """The qubit-rotation tutorial: rotate |0> towards |1> by gradient descent."""

    @qml.qnode(device, diff_method=diff_method)
    def circuit(params):
        qml.RX(params[0], wires=0)
        qml.RY(params[1], wires=0)
        return qml.expval(qml.PauliZ(0))

    optimizer = qml.GradientDescentOptimizer(stepsize=0.4)
    params = pnp.array([0.011, 0.012], requires_grad=True)
    for _ in range(STEPS):
        params = optimizer.step(circuit, params)
    return [float(p) for p in params] + [float(circuit(params))]


def classifier_gradient(device, diff_method="best", shots=None) -> list[float]:
    """The variational-classifier tutorial's circuit: the gradient of its square loss
    over a batch of inputs, with respect to the weights and the bias."""

    @qml.qnode(device, diff_method=diff_method, shots=shots)
    def circuit(weights, x):
        qml.BasisState(x, wires=[0, 1, 2, 3])
        for layer in weights:
            for wire in range(4):
                qml.Rot(*layer[wire], wires=wire)
            for wire in range(4):
                qml.CNOT(wires=[wire, (wire + 1) % 4])
        return qml.expval(qml.PauliZ(0))

    def cost(weights, bias, xs, ys):
        predictions = [circuit(weights, x) + bias for x in xs]
        return sum((y - p) ** 2 for y, p in zip(ys, predictions, strict=True)) / len(ys)

    rng = np.random.default_rng(3)
    weights = pnp.array(rng.normal(size=(2, 4, 3)), requires_grad=True)
    bias = pnp.array(0.1, requires_grad=True)
    xs = np.array([[0, 1, 1, 0], [1, 0, 1, 1]])
    ys = np.array([1.0, -1.0])
    grad_weights, grad_bias = qml.grad(cost, argnums=[0, 1])(weights, bias, xs, ys)
    return [float(g) for g in np.ravel(grad_weights)] + [float(grad_bias)]


def on_platform(ctx, program, diff_method, shots=None):
    wires = 1 if program == "rotation" else 4
    device = ctx.pennylane_device(wires=wires, backend="aer")  # the one changed line
    if program == "rotation":
        return qubit_rotation(device, diff_method)
    return classifier_gradient(device, diff_method, shots)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("pennylane"),
        workers=1,
        backends=[{"name": "aer", "kind": "aer", "num_qubits": 16, "seed": 5}],
    )
    assert client.wait_ready(180)
    yield client
    client.close()


def run(client, program, diff_method, shots=None):
    job = client.run(on_platform, program=program, diff_method=diff_method, shots=shots)
    result = job.result(300)
    tasks = [e for e in job.events() if e.kind == EventKind.QPU_QUEUED]
    return np.array(result), len(tasks)


@pytest.mark.parametrize("diff_method", ["best", "parameter-shift", "adjoint"])
def test_the_qubit_rotation_tutorial_optimises_as_on_default_qubit(client, diff_method):
    ours, tasks = run(client, "rotation", diff_method)
    theirs = qubit_rotation(qml.device("default.qubit", wires=1))
    assert np.allclose(ours, theirs, atol=1e-9)
    assert tasks == STEPS + 1  # each step's gradient (with its value): one task; the end


@pytest.mark.parametrize("diff_method", ["best", "parameter-shift", "adjoint"])
def test_the_classifier_s_gradient_matches_default_qubit(client, diff_method):
    ours, tasks = run(client, "classifier", diff_method)
    theirs = classifier_gradient(qml.device("default.qubit", wires=4))
    assert np.allclose(ours, theirs, atol=1e-9)
    assert tasks == 2  # one per QNode call of the cost (two inputs), its gradient included


def test_a_sampled_gradient_agrees_within_shot_noise(client):
    ours, tasks = run(client, "classifier", "parameter-shift", shots=20_000)
    theirs = classifier_gradient(qml.device("default.qubit", wires=4))
    # each entry: a few expectation values of 20,000 shots, weighted by the loss
    assert np.max(np.abs(ours - theirs)) < 0.1
    assert np.mean(np.abs(ours - theirs)) < 0.03
    assert tasks == 2


def adjoint_with_shots(ctx):
    device = ctx.pennylane_device(wires=1, backend="aer")

    @qml.qnode(device, diff_method="adjoint", shots=100)
    def circuit(x):
        qml.RX(x, wires=0)
        return qml.expval(qml.PauliZ(0))

    return float(qml.grad(circuit)(pnp.array(0.3, requires_grad=True)))


def test_adjoint_with_shots_is_refused_saying_so(client):
    job = client.run(adjoint_with_shots)
    with pytest.raises(qlambda.JobFailedError, match="does not support adjoint"):
        job.result(120)
