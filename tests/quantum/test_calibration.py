"""Calibration snapshots, the seeded drift model, and compiling against a new calibration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.calibration import DriftModel, device_calibration
from qlambda.quantum.calibration.snapshot import QubitCalibration
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import make_request
from qlambda.quantum.runtime import BackendRuntime


@pytest.fixture(scope="module")
def kolkata():
    return device_calibration("kolkata", "FakeKolkataV2", taken_at=1000.0)


def test_a_snapshot_reads_the_device_calibration_in_seconds(kolkata):
    from qiskit_ibm_runtime.fake_provider import FakeKolkataV2

    device = FakeKolkataV2()
    assert len(kolkata.qubits) == device.num_qubits == 27
    assert kolkata.qubits[3].t1 == pytest.approx(device.target.qubit_properties[3].t1)
    assert kolkata.qubits[3].readout_error == pytest.approx(device.target["measure"][(3,)].error)
    cx = next(g for g in kolkata.gates if g.gate == "cx" and g.qubits == (0, 1))
    assert cx.error == pytest.approx(device.target["cx"][(0, 1)].error)
    assert cx.duration == pytest.approx(device.target["cx"][(0, 1)].duration)
    assert kolkata.device_date  # the device's own timestamp


def test_snapshots_round_trip_through_json_and_keep_their_id(kolkata):
    from qlambda.quantum.calibration import Calibration

    again = Calibration.from_json(kolkata.to_json())
    assert again == kolkata
    assert again.id == kolkata.id
    later = dataclasses.replace(kolkata, taken_at=2000.0)
    assert later.id == kolkata.id  # the id is the content, not the time


def test_drift_is_seeded_and_moves_over_steps(kolkata):
    first = DriftModel(seed=3, sigma=0.2).apply(kolkata, 5, taken_at=0.0)
    again = DriftModel(seed=3, sigma=0.2).apply(kolkata, 5, taken_at=0.0)
    other_seed = DriftModel(seed=4, sigma=0.2).apply(kolkata, 5, taken_at=0.0)
    assert first.id == again.id
    assert first.id != other_seed.id != kolkata.id
    assert DriftModel(seed=3, sigma=0.2).apply(kolkata, 0, taken_at=0.0).id == kolkata.id
    t1 = np.array(
        [[q.t1 for q in DriftModel(seed=3).apply(kolkata, s, 0.0).qubits] for s in (1, 2)]
    )
    assert not np.allclose(t1[0], t1[1])
    errors = [g.error for g in first.gates if g.error is not None]
    assert max(errors) <= 0.5 and min(errors) >= 0


def test_drift_settings_are_checked():
    with pytest.raises(ValueError, match="reversion"):
        DriftModel(reversion=2.0)


def ghz4() -> QuantumCircuit:
    circuit = QuantumCircuit(4)
    circuit.h(0)
    for qubit in range(3):
        circuit.cx(qubit, qubit + 1)
    return circuit


def physical_qubits(runtime: BackendRuntime) -> set[int]:
    prepared = runtime.prepare(make_request("estimator", [(ghz4(), "ZZZZ")]))
    return set(prepared.pubs[0].circuit.layout.final_index_layout())


def test_a_new_calibration_moves_the_layout_off_degraded_qubits(kolkata):
    runtime = BackendRuntime(
        BackendConfig(name="kolkata", kind="fake", device="FakeKolkataV2", seed=5)
    )
    assert runtime.calibrate(kolkata) is False  # the device's own calibration: nothing new
    used = physical_qubits(runtime)
    qubits = list(kolkata.qubits)
    for q in used:
        qubits[q] = dataclasses.replace(qubits[q], readout_error=0.45, t1=1e-6, t2=1e-6)
    gates = tuple(
        dataclasses.replace(g, error=0.4) if set(g.qubits) & used and g.error is not None else g
        for g in kolkata.gates
    )
    degraded = dataclasses.replace(kolkata, qubits=tuple(qubits), gates=gates, step=1)
    assert runtime.calibrate(degraded) is True  # the compiled ansatz was dropped
    assert runtime.calibrate(degraded) is False  # same snapshot again: nothing to do
    assert not physical_qubits(runtime) & used
    # the simulator's noise follows: the degraded qubits now read out badly
    assert runtime.device.target["measure"][(min(used),)].error == pytest.approx(0.45)


def test_qubit_calibration_fields_are_plain_numbers(kolkata):
    assert all(isinstance(q, QubitCalibration) for q in kolkata.qubits)
    assert kolkata.readout_errors()[0][0] == pytest.approx(kolkata.qubits[0].prob_meas1_prep0)
