"""The executor side: emulated QPU time, thread limits, and what an outcome reports."""

from __future__ import annotations

import dataclasses

import pytest
from qiskit import QuantumCircuit

from qlambda.quantum.config import BackendConfig
from qlambda.quantum.request import estimate_qpu_seconds, make_request
from qlambda.quantum.runtime import BackendRuntime


def bell_request(shots: int = 1024):
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return make_request("sampler", [circuit], shots=shots)


EMULATED = BackendConfig(name="slow", kind="aer", emulate_qpu_time=True, time_scale=0.005, seed=1)


def test_emulated_task_is_busy_for_at_least_the_scaled_estimate():
    runtime = BackendRuntime(EMULATED)
    request = bell_request()
    outcome = runtime.execute(request)
    expected = estimate_qpu_seconds(request, runtime.config) * EMULATED.time_scale
    assert outcome.emulated_seconds == pytest.approx(expected)
    assert outcome.busy_seconds >= outcome.emulated_seconds
    assert outcome.busy_seconds >= outcome.simulated_seconds
    assert outcome.result[0].data.meas.num_shots == 1024


def test_more_shots_means_a_longer_emulated_task():
    runtime = BackendRuntime(EMULATED)
    short = runtime.execute(bell_request(shots=100))
    long = runtime.execute(bell_request(shots=20_000))
    assert long.emulated_seconds > short.emulated_seconds
    assert long.busy_seconds >= long.emulated_seconds


def test_without_emulation_busy_time_is_the_simulation():
    runtime = BackendRuntime(dataclasses.replace(EMULATED, emulate_qpu_time=False))
    outcome = runtime.execute(bell_request())
    assert outcome.emulated_seconds is None
    assert outcome.busy_seconds >= outcome.simulated_seconds > 0


def test_a_noisy_device_emulates_with_the_transpiled_depth():
    config = BackendConfig(
        name="k", kind="fake", device="kolkata", emulate_qpu_time=True, time_scale=0.001, seed=2
    )
    runtime = BackendRuntime(config)
    request = bell_request()
    outcome = runtime.execute(request)
    transpiled = runtime.prepare(request)
    assert transpiled.pubs[0].circuit.depth() > request.pubs[0].circuit.depth()
    assert outcome.emulated_seconds == pytest.approx(
        estimate_qpu_seconds(transpiled, runtime.config) * config.time_scale
    )
    assert outcome.emulated_seconds > estimate_qpu_seconds(request, config) * config.time_scale


@pytest.mark.parametrize(("kind", "device"), [("aer", None), ("fake", "kolkata")])
def test_simulators_use_one_thread_unless_told(kind: str, device: str | None):
    runtime = BackendRuntime(BackendConfig(name="t", kind=kind, device=device))
    assert runtime.simulator.options.max_parallel_threads == 1
    wider = BackendRuntime(
        BackendConfig(name="t", kind=kind, device=device, max_parallel_threads=2)
    )
    assert wider.simulator.options.max_parallel_threads == 2


def test_seeded_backends_repeat_their_shots():
    first = BackendRuntime(EMULATED).execute(bell_request()).result[0].data.meas.get_counts()
    second = BackendRuntime(EMULATED).execute(bell_request()).result[0].data.meas.get_counts()
    assert first == second


def test_warm_up_leaves_the_runtime_ready():
    runtime = BackendRuntime(BackendConfig(name="k", kind="fake", device="kolkata"))
    assert runtime.warm_up() > 0
    assert runtime.transpiler.misses == 1
    assert runtime.execute(bell_request()).result[0].data.meas.num_shots == 1024


def test_an_ideal_simulator_serves_concurrent_tasks_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    runtime = BackendRuntime(BackendConfig(name="a", kind="aer", concurrency=2))
    with ThreadPoolExecutor(max_workers=2) as threads:
        outcomes = list(
            threads.map(runtime.execute, [bell_request(shots=s) for s in (64, 128)] * 3)
        )
    assert [o.result[0].data.meas.num_shots for o in outcomes] == [64, 128] * 3
