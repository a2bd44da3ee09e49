"""Routing a request: by name, or to the least loaded backend wide enough for it."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qlambda.core import CircuitTooWideError, UnknownBackendError
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request
from qlambda.quantum.selection import choose_backend, find_backend

BACKENDS = [
    BackendConfig(name="small", kind="aer", num_qubits=4),
    BackendConfig(name="big", kind="aer", num_qubits=20, concurrency=2),
    BackendConfig(name="big2", kind="aer", num_qubits=20),
]


def request(width: int, backend: str | None = None):
    circuit = QuantumCircuit(width)
    circuit.measure_all()
    return make_request("sampler", [circuit], backend=backend)


def test_a_named_backend_is_used():
    assert choose_backend(request(2, "big2"), BACKENDS).name == "big2"


def test_an_unknown_name_lists_the_available_backends():
    with pytest.raises(
        UnknownBackendError, match="unknown backend 'x'; available: small, big, big2"
    ):
        choose_backend(request(2, "x"), BACKENDS)
    with pytest.raises(UnknownBackendError):
        find_backend("x", [])


def test_a_named_backend_must_be_wide_enough():
    with pytest.raises(CircuitTooWideError, match="circuit needs 5 qubits; backend 'small' has 4"):
        choose_backend(request(5, "small"), BACKENDS)


def test_auto_selection_takes_the_least_loaded_that_fits():
    assert choose_backend(request(2), BACKENDS).name == "small"  # ties: first configured
    assert choose_backend(request(2), BACKENDS, {"small": 1}).name == "big"
    assert choose_backend(request(8), BACKENDS, {"big": 3, "big2": 1}).name == "big2"
    # load is per concurrent slot: 2 tasks on a 2-slot backend weigh like 1 on a 1-slot one
    assert choose_backend(request(8), BACKENDS, {"big": 2, "big2": 1}).name == "big"


def test_auto_selection_names_the_widest_when_nothing_fits():
    with pytest.raises(
        CircuitTooWideError, match="needs 21 qubits; the widest backend 'big' has 20"
    ):
        choose_backend(request(21), BACKENDS)
