"""Automatic backend choice: the hardware threshold and the three modes."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.envelope import seal
from qlambda.quantum.pipeline import resolve_options
from qlambda.quantum.request import make_request, request_workload
from qlambda.quantum.selection import Selection, choose_backend

BACKENDS = [
    BackendConfig(name="wide-sim", kind="aer", num_qubits=24),
    BackendConfig(name="narrow-sim", kind="aer", num_qubits=8),
    BackendConfig(name="torino", kind="fake", device="FakeTorino", num_qubits=133),
    BackendConfig(name="kolkata", kind="fake", device="FakeKolkataV2", num_qubits=27),
]


def request(width: int, backend: str | None = None):
    circuit = QuantumCircuit(width)
    circuit.h(0)
    circuit.measure_all()
    return seal(make_request("sampler", [circuit], backend=backend))


def test_smallest_simulator_takes_the_narrowest_that_fits():
    mode = Selection("smallest-simulator")
    assert choose_backend(request(5), BACKENDS, selection=mode).name == "narrow-sim"
    assert choose_backend(request(12), BACKENDS, selection=mode).name == "wide-sim"
    # no simulator is wide enough: the least loaded device that fits
    load = {"torino": 3, "kolkata": 1}
    assert choose_backend(request(26), BACKENDS, load, selection=mode).name == "kolkata"


def test_above_the_threshold_requests_go_to_devices():
    mode = Selection("least-loaded", hardware_threshold=6)
    load = {"wide-sim": 0, "narrow-sim": 0, "torino": 5, "kolkata": 2}
    assert choose_backend(request(7), BACKENDS, load, selection=mode).name == "kolkata"
    assert choose_backend(request(4), BACKENDS, load, selection=mode).kind == "aer"


def test_auto_is_the_same_as_no_name():
    mode = Selection("smallest-simulator")
    assert choose_backend(request(3, "auto"), BACKENDS, selection=mode).name == "narrow-sim"


def test_earliest_completion_uses_the_completion_estimate():
    mode = Selection("earliest-completion")
    done_in = {"wide-sim": 9.0, "narrow-sim": 4.0, "torino": 1.0, "kolkata": 2.0}
    chosen = choose_backend(
        request(3), BACKENDS, selection=mode, completion=lambda c: done_in[c.name]
    )
    assert chosen.name == "torino"
    # only those wide enough compete
    chosen = choose_backend(
        request(20), BACKENDS, selection=mode, completion=lambda c: done_in[c.name]
    )
    assert chosen.name == "torino"


def test_unknown_modes_say_what_is_accepted():
    with pytest.raises(ValueError, match="accepted: least-loaded, smallest-simulator"):
        Selection("fastest")
    with pytest.raises(ValueError, match="hardware_threshold"):
        Selection(hardware_threshold=-1)


def test_zne_counts_its_scale_factors_in_the_estimate():
    circuit = QuantumCircuit(2)
    circuit.h(0)
    plain = make_request("estimator", [(circuit, "ZZ")])
    zne = make_request("estimator", [(circuit, "ZZ")], options=resolve_options(["zne"]))
    assert request_workload(zne)[0][0] == 3 * request_workload(plain)[0][0]
    config = BackendConfig(name="k", kind="fake", device="FakeKolkataV2")
    assert seal(zne).estimate_seconds(config) > seal(plain).estimate_seconds(config)


def exact(width: int, backend: str | None = None):
    circuit = QuantumCircuit(width)
    circuit.h(0)
    return seal(make_request("estimator", [(circuit, "Z" * width)], precision=0, backend=backend))


def test_exact_values_only_go_to_ideal_simulators_whatever_the_load():
    load = {"wide-sim": 9, "narrow-sim": 9, "torino": 0, "kolkata": 0}
    for mode in ("least-loaded", "smallest-simulator", "earliest-completion"):
        chosen = choose_backend(
            exact(4),
            BACKENDS,
            load,
            selection=Selection(mode, hardware_threshold=2),
            completion=lambda c: load[c.name],
        )
        assert chosen.kind == "aer", mode
    assert choose_backend(request(4), BACKENDS, load).kind == "fake"  # others may go anywhere


def test_a_request_nobody_can_serve_says_why_for_each_backend():
    from qlambda.core import NoSuitableBackendError

    with pytest.raises(NoSuitableBackendError) as raised:
        choose_backend(exact(30), BACKENDS)
    assert str(raised.value) == (
        "no backend can serve this estimator request (30 qubits, exact values): "
        "'wide-sim': circuit needs 30 qubits, it has 24; "
        "'narrow-sim': circuit needs 30 qubits, it has 8; "
        "'torino': a noisy device cannot give exact values (precision 0); "
        "'kolkata': circuit needs 30 qubits, it has 27"
    )
    with pytest.raises(
        NoSuitableBackendError, match=r"'torino' cannot serve.*wide-sim, narrow-sim"
    ):
        choose_backend(exact(3, "torino"), BACKENDS)
