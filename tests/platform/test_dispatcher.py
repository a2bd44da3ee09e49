"""The QPU dispatcher: a policy picks every start; backend choice; cancellation."""

from __future__ import annotations

import time
from concurrent.futures import CancelledError

import pytest
from qiskit import QuantumCircuit

from qlambda.core.errors import CircuitTooWideError, TimeLimitError, UnknownBackendError
from qlambda.platform.dispatcher import QPUDispatcher
from qlambda.quantum.config import load_backends
from qlambda.quantum.envelope import seal
from qlambda.quantum.request import make_request

SLOW = {"kind": "aer", "num_qubits": 4, "emulate_qpu_time": True, "time_scale": 0.05}


def circuit(width=1):
    qc = QuantumCircuit(width)
    qc.h(0)
    qc.measure_all()
    return qc


def request(backend=None, width=1):
    return seal(make_request("sampler", [circuit(width)], shots=10, backend=backend))


@pytest.fixture(scope="module")
def backends():
    return load_backends([{"name": "q1", **SLOW}, {"name": "q2", **SLOW}])


def run_order(backends, policy, priorities, seed=0):
    """Start order of tasks queued while the QPU is busy with a first one."""
    order = []
    dispatcher = QPUDispatcher(
        backends[:1],
        policy=policy,
        seed=seed,
        on_event=lambda task, what: what == "started" and order.append(task.job_id),
    )
    dispatcher.start()
    try:
        assert dispatcher.wait_ready(120)
        first = dispatcher.submit(request(), job_id="first", priority=1)
        while not order:
            time.sleep(0.005)
        tasks = [
            dispatcher.submit(request(), job_id=f"p{p}-{i}", priority=p)
            for i, p in enumerate(priorities)
        ]
        for task in [first, *tasks]:
            task.future.result(120)
    finally:
        dispatcher.shutdown()
    return order[1:]


def test_fifo_starts_the_oldest_first(backends):
    assert run_order(backends, "fifo", [1, 5, 3]) == ["p1-0", "p5-1", "p3-2"]


def test_lifo_starts_the_newest_first(backends):
    assert run_order(backends, "lifo", [1, 5, 3]) == ["p3-2", "p5-1", "p1-0"]


def test_strict_priority_starts_the_most_important_first(backends):
    assert run_order(backends, "priority", [1, 5, 3, 5]) == ["p5-1", "p5-3", "p3-2", "p1-0"]


def test_random_and_weighted_are_reproducible_under_a_seed(backends):
    for policy in ("random", "weighted"):
        once = run_order(backends, policy, [1, 2, 4, 8], seed=3)
        again = run_order(backends, policy, [1, 2, 4, 8], seed=3)
        assert once == again
        assert sorted(once) == sorted(["p1-0", "p2-1", "p4-2", "p8-3"])


def test_auto_selection_takes_the_least_loaded_backend_that_fits(backends):
    started = []
    dispatcher = QPUDispatcher(
        backends, on_event=lambda t, what: what == "queued" and started.append(t.backend)
    )
    dispatcher.start()
    try:
        tasks = [dispatcher.submit(request(), job_id=f"j{i}") for i in range(4)]
        assert started == ["q1", "q2", "q1", "q2"]
        for task in tasks:
            task.future.result(120)
        with pytest.raises(CircuitTooWideError, match=r"needs 5 qubits.*has 4"):
            dispatcher.submit(request(width=5), job_id="wide")
        with pytest.raises(UnknownBackendError, match="available: q1, q2"):
            dispatcher.submit(request(backend="q9"), job_id="lost")
    finally:
        dispatcher.shutdown()


def test_canceling_a_job_drops_its_waiting_tasks(backends):
    dispatcher = QPUDispatcher(backends[:1])
    dispatcher.start()
    try:
        running = dispatcher.submit(request(), job_id="a")
        waiting = [dispatcher.submit(request(), job_id="b") for _ in range(3)]
        assert dispatcher.pending_count() == 3
        assert dispatcher.cancel_job("b") == 3
        assert dispatcher.pending_count() == 0
        for task in waiting:
            with pytest.raises(CancelledError):
                task.future.result(10)
        assert running.future.result(120).open()[0].data.meas.num_shots == 10
    finally:
        dispatcher.shutdown()


# emulated like a device: 10 shots take about 25 ms, a million about 2.5 s
TIMED = {"kind": "aer", "num_qubits": 2, "emulate_qpu_time": True, "time_scale": 0.01}


def long_request():
    return seal(make_request("sampler", [circuit()], shots=1_000_000))


def wait_started(task, timeout=60.0):
    deadline = time.monotonic() + timeout
    while task.started_at is None:
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.01)


def test_a_task_past_its_backend_s_time_limit_is_stopped_and_the_qpu_serves_the_next():
    (backend,) = load_backends([{"name": "q", **TIMED, "task_timeout_seconds": 0.5}])
    finished = []
    dispatcher = QPUDispatcher(
        [backend], on_event=lambda task, what: what == "finished" and finished.append(task)
    )
    dispatcher.start()
    try:
        assert dispatcher.wait_ready(120)
        slow = dispatcher.submit(long_request(), job_id="slow")
        after = dispatcher.submit(request(), job_id="other")
        with pytest.raises(
            TimeLimitError, match=r"backend 'q' allows \(task_timeout_seconds = 0.5"
        ):
            slow.future.result(60)
        assert after.future.result(120).open()[0].data.meas.num_shots == 10
        assert [(t.job_id, t.outcome) for t in finished] == [("slow", "error"), ("other", "done")]
    finally:
        dispatcher.shutdown()


def test_canceling_a_job_stops_its_executing_task_and_frees_the_qpu():
    (backend,) = load_backends([{"name": "q", **TIMED}])
    dispatcher = QPUDispatcher([backend])
    dispatcher.start()
    try:
        assert dispatcher.wait_ready(120)
        running = dispatcher.submit(long_request(), job_id="a")
        wait_started(running)
        waiting = dispatcher.submit(request(), job_id="b")
        assert dispatcher.cancel_job("a") == 1
        with pytest.raises(CancelledError):
            running.future.result(30)
        assert running.outcome == "canceled"
        # the next task runs on a fresh executor, which builds its device again
        assert waiting.future.result(120).open()[0].data.meas.num_shots == 10
        assert running.busy_seconds is None  # it never reported: it was stopped
    finally:
        dispatcher.shutdown()


def test_a_job_s_unnamed_requests_stay_on_its_first_backend_until_it_ends():
    backends = load_backends(
        [{"name": "narrow", "kind": "aer", "num_qubits": 2}, {"name": "wide", "kind": "aer"}]
    )
    dispatcher = QPUDispatcher(backends)
    dispatcher.start()
    try:
        first = dispatcher.submit(request(width=1), job_id="job")  # ties: the first listed
        assert first.backend == "narrow" and dispatcher.pinned_backend("job") == "narrow"
        busy = [dispatcher.submit(request(backend="narrow"), job_id="other") for _ in range(3)]
        # the pin holds while another backend is less loaded
        assert dispatcher.submit(request(width=2), job_id="job").backend == "narrow"
        with pytest.raises(ValueError, match=r"run on 'narrow' .*needs 3 qubits.*backend='auto'"):
            dispatcher.submit(request(width=3), job_id="job")
        assert dispatcher.submit(request(backend="auto"), job_id="job").backend == "wide"
        assert dispatcher.submit(request(), job_id="pilot", pin=False).backend == "wide"
        assert dispatcher.pinned_backend("pilot") is None
        dispatcher.end_job("job")
        assert dispatcher.pinned_backend("job") is None
        assert dispatcher.submit(request(), job_id="job").backend == "wide"  # chosen anew
        for task in [first, *busy]:
            task.future.result(120)
    finally:
        dispatcher.shutdown()
