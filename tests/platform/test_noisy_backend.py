"""A noisy simulator of a real IBM device as a platform backend, in its own executor."""

from __future__ import annotations

import pytest

import qlambda


def ghz_parity(ctx, backend):
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    job = ctx.estimator(backend).run([(circuit, SparsePauliOp("ZZI"))])
    return float(job.result()[0].data.evs)


@pytest.mark.slow
def test_a_fake_device_backend_gives_noisy_but_close_values(tmp_path):
    backends = [{"name": "kolkata", "kind": "fake", "device": "FakeKolkataV2", "seed": 3}]
    with qlambda.Client(data_dir=tmp_path, workers=1, backends=backends) as client:
        value = client.run(ghz_parity, backend="kolkata").result(300)
        assert 0.7 < value < 1.0  # ideal is 1; the device's noise pulls it down
        (stats,) = client.backends()
        assert stats["num_qubits"] == 27 and stats["completed"] == 1
