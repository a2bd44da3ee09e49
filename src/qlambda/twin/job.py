"""The job the twin submits: a variational job of known shape.

A VQE-like loop whose classical work is given in operations of a fixed kernel
(:func:`spin`), so the simulator is told exactly how much classical work each
task carries, and whose quantum tasks are real sampler calls on an EfficientSU2
circuit, run by the platform's QPU executor with emulated device time. The
structure is the model's: a preparation stretch, then ``iterations`` times
(classical stretch, quantum task), then a post-processing stretch.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def spin(operations: int) -> int:
    """Burn ``operations`` steps of a small integer recurrence (pure Python: one cpu)."""
    x = 1
    for _ in range(operations):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


def calibrate(ctx: Any, operations: int = 2_000_000, repeats: int = 3) -> dict[str, float]:
    """Operations per second of :func:`spin` in a worker: the simulator's S."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        spin(operations)
        rates.append(operations / (time.perf_counter() - started))
    return {"ops_per_second": float(np.median(rates)), "best": float(max(rates))}


def vqe_shape(
    ctx: Any,
    qubits: int,
    iterations: int,
    pre_ops: int,
    iteration_ops: int,
    post_ops: int,
    shots: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    """pre, ``iterations`` x (classical, sampler call), post; returns the last counts' size."""
    from qiskit.circuit.library import efficient_su2

    circuit = efficient_su2(qubits, reps=1)
    circuit.measure_all()
    rng = np.random.default_rng(seed)
    params = rng.uniform(0, 2 * np.pi, circuit.num_parameters)
    spin(pre_ops)
    sampler = ctx.sampler()
    outcomes = 0
    for _ in range(iterations):
        spin(iteration_ops)
        result = sampler.run([(circuit, params)], shots=shots).result()
        outcomes = len(result[0].data.meas.get_counts())
        params = params + rng.normal(0, 0.05, len(params))
    spin(post_ops)
    return {"qubits": qubits, "iterations": iterations, "outcomes": outcomes}
