"""PennyLane gradient loops through qlambda against ``default.qubit``, in one job.

Two patterns from PennyLane's documentation, written as users write them, each run
inside one qlambda function (the same worker process, runs alternating):

- qubit rotation: ``RX``, ``RY`` on one qubit, ``expval(Z)``, ``GradientDescentOptimizer``;
- variational classifier: 4 qubits, ``BasisState`` encoding, 2 layers of ``Rot`` and a
  CNOT ring, a square loss over a batch of 5 inputs, ``NesterovMomentumOptimizer``.

Devices: ``default.qubit`` (its default, backprop: the baseline; and parameter shift),
and ``ctx.pennylane_device(wires, "aer")``, the one-line change, with
``diff_method="best"`` (adjoint there: one state-vector task per QNode gradient),
``"parameter-shift"`` (every shifted circuit in one task) and ``"adjoint"``. Analytic
(``shots=None``); and the same device with an Aer executor in the job's own process
("in-process": no queue, no process hops), which shows what those cost per step.
Figure: median milliseconds per optimiser step over the repeats.
Target: within 1.5x of ``default.qubit``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_pennylane_gradients.py [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the platform's workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import qlambda


def qubit_rotation(device: Any, diff_method: str, steps: int) -> float:
    """Milliseconds per optimiser step of the qubit-rotation tutorial's loop."""
    import pennylane as qml
    from pennylane import numpy as pnp

    @qml.qnode(device, diff_method=diff_method)
    def circuit(params: Any) -> Any:
        qml.RX(params[0], wires=0)
        qml.RY(params[1], wires=0)
        return qml.expval(qml.PauliZ(0))

    optimizer = qml.GradientDescentOptimizer(stepsize=0.4)
    params = pnp.array([0.011, 0.012], requires_grad=True)
    params = optimizer.step(circuit, params)  # first call: conversion, caches
    started = time.perf_counter()
    for _ in range(steps):
        params = optimizer.step(circuit, params)
    return (time.perf_counter() - started) / steps * 1e3


def variational_classifier(device: Any, diff_method: str, steps: int) -> float:
    """Milliseconds per optimiser step of the variational-classifier tutorial's loop
    (the parity problem: 4-bit inputs, labels +-1)."""
    import numpy as np
    import pennylane as qml
    from pennylane import numpy as pnp

    @qml.qnode(device, diff_method=diff_method)
    def circuit(weights: Any, x: Any) -> Any:
        qml.BasisState(x, wires=[0, 1, 2, 3])
        for layer in weights:
            for wire in range(4):
                qml.Rot(*layer[wire], wires=wire)
            for wire in range(4):
                qml.CNOT(wires=[wire, (wire + 1) % 4])
        return qml.expval(qml.PauliZ(0))

    def classifier(weights: Any, bias: Any, x: Any) -> Any:
        return circuit(weights, x) + bias

    def cost(weights: Any, bias: Any, xs: Any, ys: Any) -> Any:
        predictions = [classifier(weights, bias, x) for x in xs]
        return sum((y - p) ** 2 for y, p in zip(ys, predictions, strict=True)) / len(ys)

    rng = np.random.default_rng(0)
    xs = np.array([[0, 0, 0, 1], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 0]])
    ys = np.array([-1.0, 1.0, -1.0, 1.0, -1.0])  # parity: -1 for odd, as in the tutorial
    weights = pnp.array(0.01 * rng.normal(size=(2, 4, 3)), requires_grad=True)
    bias = pnp.array(0.0, requires_grad=True)
    optimizer = qml.NesterovMomentumOptimizer(0.5)
    weights, bias = optimizer.step(cost, weights, bias, xs=xs, ys=ys)[:2]
    started = time.perf_counter()
    for _ in range(steps):
        weights, bias = optimizer.step(cost, weights, bias, xs=xs, ys=ys)[:2]
    return (time.perf_counter() - started) / steps * 1e3


PATTERNS: dict[str, tuple[Callable[[Any, str, int], float], int]] = {
    "qubit rotation": (qubit_rotation, 1),
    "variational classifier": (variational_classifier, 4),
}
VARIANTS = [
    ("default.qubit", "best"),
    ("default.qubit", "parameter-shift"),
    ("qlambda aer", "best"),
    ("qlambda aer", "parameter-shift"),
    ("qlambda aer", "adjoint"),
    ("in-process", "best"),
]


def side_by_side(ctx: Any, steps: int, repeats: int) -> dict[str, list[list[float]]]:
    """Inside a job: per pattern, ms per step of each variant per repeat, alternating."""
    import pennylane as qml

    from qlambda.quantum.in_process import in_process_submit
    from qlambda.quantum.primitives import PlatformEstimatorV2, PlatformStateVectors
    from qlambda.quantum.sdk.pennylane_device import QlambdaDevice

    submit = in_process_submit()

    def device(kind: str, wires: int) -> Any:
        if kind == "default.qubit":
            return qml.device("default.qubit", wires=wires)
        if kind == "qlambda aer":
            return ctx.pennylane_device(wires=wires, backend="aer")
        return QlambdaDevice(  # the same device, its executor in this process
            wires=wires,
            estimator=PlatformEstimatorV2(submit),
            states=PlatformStateVectors(submit),
            exact=True,
        )

    times = {name: [[] for _ in VARIANTS] for name in PATTERNS}
    for _ in range(repeats):
        for name, (loop, wires) in PATTERNS.items():
            for k, (kind, diff_method) in enumerate(VARIANTS):
                times[name][k].append(loop(device(kind, wires), diff_method, steps))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per loop")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data, qlambda.Client(data_dir=data) as client:
        client.wait_ready()
        print(f"running {args.repeats} x {args.steps} steps of each pattern in one job ...")
        times = client.run(side_by_side, steps=args.steps, repeats=args.repeats).result()
    print(f"load average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print()
    print(f"{'pattern':<24} {'device':<15} {'diff_method':<16} {'ms/step':>8} {'vs baseline':>12}")
    for name, per_variant in times.items():
        baseline = statistics.median(per_variant[0])
        for (device, diff_method), values in zip(VARIANTS, per_variant, strict=True):
            median = statistics.median(values)
            print(
                f"{name:<24} {device:<15} {diff_method:<16} {median:>8.2f} "
                f"{median / baseline:>11.2f}x"
            )
    print("baseline: default.qubit, best (backprop); target: qlambda within 1.5x.")
    print("in-process: the qlambda device with its Aer executor in the job's process.")


if __name__ == "__main__":
    main()
