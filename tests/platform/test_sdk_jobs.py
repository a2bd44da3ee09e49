"""Cirq and PennyLane code inside platform jobs, through the platform's queue."""

from __future__ import annotations

import pytest

from qlambda.core.events import EventKind


def pennylane_job(ctx, theta):
    import pennylane as qml

    device = ctx.pennylane_device(wires=2, backend="aer")

    @qml.qnode(device)
    def circuit(x):
        qml.RY(x, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.expval(qml.Z(1))

    return [float(v) for v in circuit(theta)]


def test_a_qnode_runs_through_the_platform_queue(client):
    import numpy as np

    job = client.run(pennylane_job, theta=np.pi)
    zz, z1 = job.result(120)
    assert zz == pytest.approx(1.0, abs=0.1)
    assert z1 == pytest.approx(-1.0, abs=0.1)
    kinds = [e.kind for e in job.events()]
    assert kinds.count(EventKind.QPU_QUEUED) == 1  # both expectation values: one request


def pennylane_counts_job(ctx):
    import pennylane as qml

    device = ctx.pennylane_device(wires=2, backend="aer")

    @qml.qnode(device, shots=200)
    def circuit():
        qml.X(wires=1)
        return qml.counts(wires=[0, 1])

    return {str(k): int(v) for k, v in circuit().items()}


def test_a_qnode_s_counts_run_through_the_platform_s_sampler(client):
    job = client.run(pennylane_counts_job)
    assert job.result(120) == {"01": 200}  # PennyLane's wire order: wire 0 first
    kinds = [e.kind for e in job.events()]
    assert kinds.count(EventKind.QPU_QUEUED) == 1


def cirq_job(ctx):
    import cirq

    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.measure(*q, key="bell"))
    result = ctx.cirq_sampler("aer").run(circuit, repetitions=200)
    return dict(result.histogram(key="bell"))


def test_a_cirq_sampler_gives_a_cirq_histogram(client):
    histogram = client.run(cirq_job).result(120)
    assert set(histogram) <= {0, 3}
    assert sum(histogram.values()) == 200
