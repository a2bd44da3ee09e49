"""A shared embedded platform for the platform tests (starting one costs seconds)."""

from __future__ import annotations

import pytest

import qlambda

# "slow" emulates a real device at a tenth of its speed: ~0.3 s per task, so queues form.
BACKENDS = [
    {"name": "aer", "kind": "aer", "num_qubits": 24},
    {"name": "slow", "kind": "aer", "num_qubits": 8, "emulate_qpu_time": True, "time_scale": 0.1},
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("platform"), workers=2, backends=BACKENDS, seed=1
    )
    assert client.wait_ready(180)
    yield client
    client.close()
