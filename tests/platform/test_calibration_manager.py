"""The calibration manager: snapshots in the store, history, drift, and a job told when its
backend's calibration changed under it."""

from __future__ import annotations

import time

import pytest

import qlambda
from qlambda.core.events import EventKind
from qlambda.platform.calibration import CalibrationManager
from qlambda.quantum.config import BackendConfig, validate_backend
from qlambda.store import Store


def drifting(**overrides):
    fields = dict(
        name="kolkata", kind="fake", device="FakeKolkataV2", seed=2, calibration_drift=0.2
    )
    fields.update(overrides)
    return validate_backend(BackendConfig(**fields))


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path)
    yield store
    store.close()


def test_snapshots_are_stored_only_when_the_calibration_changes(store):
    clock = [0.0]
    config = drifting(drift_interval_seconds=100.0)
    aer = validate_backend(BackendConfig(name="aer", kind="aer"))
    manager = CalibrationManager(store, [config, aer], clock=lambda: clock[0])
    assert manager.backends == ["kolkata"]
    first = manager.refresh("kolkata")
    clock[0] = 50.0
    assert manager.refresh("kolkata").id == first.id  # same drift step: no new row
    clock[0] = 150.0
    second = manager.refresh("kolkata")
    clock[0] = 250.0
    third = manager.refresh("kolkata")
    assert len({first.id, second.id, third.id}) == 3
    history = manager.history("kolkata")
    assert [c.id for c in history] == [third.id, second.id, first.id]
    assert [c.step for c in history] == [2, 1, 0]
    assert history[0].taken_at == 250.0
    with pytest.raises(KeyError, match="calibrated backends: kolkata"):
        manager.refresh("aer")


def test_a_static_device_keeps_one_snapshot(store):
    manager = CalibrationManager(store, [drifting(calibration_drift=0.0)])
    a = manager.refresh("kolkata", now=0.0)
    b = manager.refresh("kolkata", now=1e6)
    assert a.id == b.id
    assert len(manager.history("kolkata")) == 1


def test_periodic_refresh_follows_the_drift(store):
    config = drifting(drift_interval_seconds=0.05, calibration_refresh_seconds=0.05)
    manager = CalibrationManager(store, [config])
    manager.start()
    try:
        deadline = time.monotonic() + 30
        while len(manager.history("kolkata")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        manager.stop()
    assert len(manager.history("kolkata")) >= 3


def two_estimates(ctx):
    import time as clock

    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    estimator = ctx.estimator("kolkata")
    first = float(estimator.run([(circuit, "ZZ")]).result()[0].data.evs)
    clock.sleep(1.5)  # the backend's calibration drifts meanwhile
    second = float(estimator.run([(circuit, "ZZ")]).result()[0].data.evs)
    return first, second


def test_a_job_is_told_when_the_calibration_invalidated_its_compiled_circuits(tmp_path):
    backend = {
        "name": "kolkata",
        "kind": "fake",
        "device": "FakeKolkataV2",
        "seed": 4,
        "calibration_drift": 0.3,
        "drift_interval_seconds": 0.5,
        "calibration_refresh_seconds": 0.2,
    }
    with qlambda.Client(data_dir=tmp_path, workers=1, backends=[backend]) as client:
        assert client.wait_ready(180)
        job = client.run(two_estimates)
        first, second = job.result(180)
        assert 0.5 < first <= 1.0 and 0.5 < second <= 1.0
        recompiled = [e for e in job.events() if e.kind is EventKind.RECOMPILED]
        assert recompiled  # at least the second task ran against a new calibration
        assert recompiled[0].data["backend"] == "kolkata"
        snapshots = client.platform.calibration.history("kolkata")
        assert recompiled[0].data["calibration"] in {c.id for c in snapshots}
        assert len(snapshots) >= 2
