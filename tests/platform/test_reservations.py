"""QPU reservations of pilots sharing a PilotManager's QPUs, and GPUs for their simulators."""

from __future__ import annotations

import time

import pytest
from qiskit import QuantumCircuit

from qlambda.core.errors import ConfigurationError, ReservationError, UnknownBackendError
from qlambda.pilot import PilotDescription, PilotManager
from qlambda.platform.reservations import Reservations, window
from qlambda.quantum.simulator_device import aer_devices, gpu_available

# emulated at a quarter of a device's speed: a 1000-shot Bell task keeps the QPU ~0.65 s
QPU = {"name": "qpu", "kind": "aer", "num_qubits": 4, "emulate_qpu_time": True, "time_scale": 0.25}


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def test_a_bad_window_or_a_conflict_says_what_is_wrong():
    now = 1_800_000_000.0
    assert window(None, None, "10m", now) == (now, now + 600)
    assert window(now + 60, now + 120, None, now) == (now + 60, now + 120)
    with pytest.raises(ReservationError, match=r"end or its duration.*not both or neither"):
        window(None, now + 5, 5, now)
    with pytest.raises(ReservationError, match="not both or neither"):
        window(None, None, None, now)
    with pytest.raises(ReservationError, match=r"ends .* before it starts"):
        window(now + 60, now + 30, None, now)
    with pytest.raises(ReservationError, match="starts in the past"):
        window(now - 3600, None, "1h", now)
    with pytest.raises(ReservationError, match="duration: cannot read"):
        window(None, None, "ten minutes", now)
    with pytest.raises(ReservationError, match="must be a time"):
        window("noon", None, 60, now)
    booked = Reservations()
    later = time.time() + 600
    booked.book("qpu", "pilot-a", later, later + 60)
    with pytest.raises(ReservationError, match=r"'qpu' is reserved by pilot-a from .*overlaps"):
        booked.book("qpu", "pilot-b", later + 30, later + 90)
    booked.book("qpu", "pilot-b", later + 60, later + 90)  # back to back is fine
    booked.book("other", "pilot-b", later, later + 60)  # another QPU too


def test_another_pilots_task_waits_until_the_window_ends():
    with PilotManager(qpus=[QPU]) as manager:
        holder = manager.create_pilot(PilotDescription(cores=1))
        other = manager.create_pilot(PilotDescription(cores=1))
        reservation = holder.reserve("qpu", duration=3)
        assert holder.reservations() == [reservation]

        waiting = other.sampler("qpu").run([bell()], shots=1000)
        mine = holder.sampler("qpu").run([bell()], shots=1000).result()
        assert mine[0].data.meas.num_shots == 1000
        assert not waiting.done()  # queued first, but the window is the holder's
        assert waiting.result()[0].data.meas.num_shots == 1000
        assert time.time() >= reservation.end

        # the QPU is drained before a window: a task that would run into it waits
        upcoming = holder.reserve("qpu", start=time.time() + 0.5, duration=1)
        late = other.sampler("qpu").run([bell()], shots=1000)
        assert late.result()[0].data.meas.num_shots == 1000
        assert time.time() >= upcoming.end

        # conflicts and unknown QPUs are refused; a canceled pilot gives its windows up
        holder.reserve("qpu", start=time.time() + 600, duration="10m")
        with pytest.raises(ReservationError, match=f"reserved by {holder.id} from"):
            other.reserve("qpu", start=time.time() + 900, duration="1m")
        with pytest.raises(UnknownBackendError, match="unknown backend 'nope'; available: qpu"):
            other.reserve("nope", duration=60)
        holder.cancel()
        assert other.reserve("qpu", start=time.time() + 900, duration="1m").holder == other.id


def test_gpus_are_checked_and_refused_where_aer_has_no_gpu():
    with pytest.raises(ConfigurationError, match="gpus must be a whole number"):
        PilotDescription(gpus=-1)
    if gpu_available():
        pytest.skip("Aer has a GPU here: the refusal cannot be shown")
    # the machine's lack of a GPU, or Aer's, whichever is found first
    with pytest.raises(
        ConfigurationError, match=r"gpus=1: .*(has no GPU|no(ne)? .*Aer's available devices)"
    ):
        PilotManager().create_pilot(PilotDescription(gpus=1, qpus=[QPU]))


@pytest.mark.skipif(
    not gpu_available(),
    reason=f"no GPU here: Aer's available devices are {aer_devices()} "
    "(needs qiskit-aer-gpu and a CUDA GPU)",
)
def test_a_pilot_with_gpus_simulates_its_qpus_on_the_gpu():
    from qlambda.quantum.runtime import BackendRuntime

    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(cores=1, gpus=1, qpus=[QPU]))
        assert [qpu.simulator_device for qpu in pilot.qpus] == ["GPU"]
        assert BackendRuntime(pilot.qpus[0]).simulator.options.device == "GPU"
        counts = pilot.sampler("qpu").run([bell()], shots=1000).result()[0].data.meas
        assert set(counts.get_counts()) <= {"00", "11"}
