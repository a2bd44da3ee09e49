"""Jobs on the embedded platform: results, errors, logs, events, limits, faults."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

import numpy as np
import pytest

import qlambda
from qlambda import JobCanceledError, JobFailedError, JobStatus
from qlambda.core.events import EventKind
from qlambda.platform.functions import as_function


def add(a, b=1):
    return a + b


def test_a_job_returns_its_result_and_its_events(client):
    job = client.run(add, a=2, b=40)
    assert job.result(timeout=60) == 42
    assert job.status() is JobStatus.DONE
    kinds = [e.kind for e in job.events()]
    assert kinds == [EventKind.SUBMITTED, EventKind.ADMITTED, EventKind.STARTED, EventKind.DONE]
    stamps = [e.ts for e in job.events()]
    assert stamps == sorted(stamps)


def rich_result():
    return {"array": np.arange(6).reshape(2, 3), "counts": {"00": 510, "11": 514}, "x": [1.5]}


def test_numpy_arrays_and_counts_come_back(client):
    value = client.run(rich_result).result(60)
    assert np.array_equal(value["array"], np.arange(6).reshape(2, 3))
    assert value["counts"] == {"00": 510, "11": 514}


def fails(depth):
    if depth == 0:
        raise ValueError("the matrix is singular")
    return fails(depth - 1)


def test_an_exception_ends_the_job_with_its_message_and_traceback(client):
    job = client.run(fails, depth=2)
    with pytest.raises(JobFailedError) as caught:
        job.result(60)
    error = caught.value
    assert error.reason == "ValueError: the matrix is singular"
    assert error.remote_traceback.count("in fails") == 3
    assert "the matrix is singular" in str(error)
    assert job.status() is JobStatus.ERROR


def chatty():
    print("hello on stdout")
    print("warning on stderr", file=sys.stderr)
    os.write(1, b"from C level\n")
    for _ in range(50):
        print("y" * 100_000)
    return "ok"


def test_logs_hold_stdout_and_stderr_even_when_large(client):
    job = client.run(chatty)
    assert job.result(120) == "ok"
    logs = job.logs()
    assert "hello on stdout" in logs and "warning on stderr" in logs and "from C level" in logs
    assert len(logs) > 50 * 100_000


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [({"b": 2}, "missing a required argument: 'a'"), ({"a": 1, "c": 3}, "unexpected argument")],
)
def test_arguments_that_do_not_match_end_the_job_in_error(client, arguments, problem):
    job = client.run(add, arguments=arguments)
    with pytest.raises(JobFailedError, match=problem) as caught:
        job.result(30)
    assert "accepted: a, b" in caught.value.reason


def test_arguments_that_cannot_travel_are_refused_at_submission(client):
    with pytest.raises(TypeError, match="cannot be sent to a worker"):
        client.run(add, a=threading.Lock())


@pytest.mark.parametrize("priority", [0, -1, "high", True])
def test_bad_priorities_are_refused(client, priority):
    with pytest.raises(ValueError, match="priority must be a positive number"):
        client.run(add, priority=priority, a=1)


@qlambda.function(timeout="1s")
def sleepy():
    time.sleep(60)


def test_a_time_limit_ends_the_job(client):
    job = client.run(sleepy)
    with pytest.raises(JobFailedError, match="time limit of 1 s exceeded"):
        job.result(60)


def exits():
    os._exit(3)


def segfaults():
    ctypes.string_at(0)


def killed():
    os.kill(os.getpid(), 9)


@qlambda.function(memory="100MB")
def greedy():
    block = np.ones(400 * 2**20 // 8)
    time.sleep(10)
    return block.size


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (exits, "worker died: exit code 3"),
        (segfaults, "worker died: killed by signal 11 (SIGSEGV)"),
        (killed, "worker died: killed by signal 9 (SIGKILL)"),
        (greedy, "memory limit of 100 MB exceeded"),
    ],
    ids=["os._exit", "segfault", "sigkill", "memory"],
)
def test_a_crash_ends_only_that_job(client, function, reason):
    bystander = client.run(add, a=1, b=1)
    job = client.run(function)
    with pytest.raises(JobFailedError) as caught:
        job.result(90)
    assert caught.value.reason.startswith(reason)
    assert bystander.result(60) == 2
    assert client.run(add, a=2).result(60) == 3


def bell_counts(ctx, backend=None):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    result = ctx.sampler(backend).run([circuit], shots=2000).result()
    return result[0].data.meas.get_counts()


def test_qiskit_sampler_code_runs_unchanged(client):
    counts = client.run(bell_counts).result(60)
    assert set(counts) == {"00", "11"}
    assert 800 < counts["00"] < 1200


def bell_zz(ctx):
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    result = ctx.estimator().run([(circuit, SparsePauliOp("ZZ"))]).result()
    return float(result[0].data.evs)


def test_qiskit_estimator_code_runs_unchanged(client):
    assert client.run(bell_zz).result(60) == pytest.approx(1.0, abs=5 * 0.015625)


def test_an_unknown_backend_ends_the_job_naming_the_available_ones(client):
    job = client.run(bell_counts, backend="ibm_nowhere")
    with pytest.raises(JobFailedError, match="unknown backend 'ibm_nowhere'; available: aer, slow"):
        job.result(60)


def wide_circuit(ctx, width, backend=None):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(width)
    circuit.h(range(width))
    circuit.measure_all()
    return ctx.sampler(backend).run([circuit]).result()[0].data.meas.num_bits


def test_a_circuit_wider_than_the_backend_ends_the_job(client):
    with pytest.raises(JobFailedError, match=r"needs 10 qubits.*'slow' has 8"):
        client.run(wide_circuit, width=10, backend="slow").result(60)
    with pytest.raises(JobFailedError, match="needs 30 qubits"):
        client.run(wide_circuit, width=30).result(60)
    assert client.run(wide_circuit, width=5).result(60) == 5


def samples(ctx, shots):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1)
    circuit.x(0)
    circuit.measure_all()
    return ctx.sampler("tight").run([circuit], shots=shots).result()[0].data.meas.get_counts()


def test_a_quantum_task_past_its_backend_s_time_limit_ends_the_job_and_the_qpu_serves_on(
    tmp_path,
):
    # emulated at a tenth of a real device's speed: 100,000 shots take about 2.5 s
    tight = {"name": "tight", "kind": "aer", "num_qubits": 2, "emulate_qpu_time": True}
    tight |= {"time_scale": 0.1, "task_timeout_seconds": 1.0}
    with qlambda.Client(data_dir=tmp_path, workers=1, backends=[tight]) as client:
        job = client.run(samples, shots=100_000)
        with pytest.raises(
            JobFailedError,
            match=r"ERROR: the quantum task ran longer than backend 'tight' allows "
            r"\(task_timeout_seconds = 1\); it was stopped",
        ):
            job.result(120)
        assert client.run(samples, shots=10).result(120) == {"1": 10}


def catches_a_value_error(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1, 1)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.h(0)  # measured mid-circuit: it has no exact value
    try:
        ctx.estimator("aer").run([(circuit, "Z")]).result()
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def test_an_executor_s_error_reaches_the_function_as_its_own_type(client):
    answer = client.run(catches_a_value_error).result(60)
    assert answer.startswith("MidCircuitMeasurementError: ")
    assert "precision" in answer


def shows_progress(ctx, calls):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1)
    circuit.h(0)
    circuit.measure_all()
    sampler = ctx.sampler("slow")
    for i in range(calls):
        ctx.status(f"step {i}")
        sampler.run([circuit], shots=100).result()
    ctx.status("finishing")
    time.sleep(1.0)
    return calls


def test_sub_status_follows_the_quantum_tasks_and_the_functions_own_text(client):
    job = client.run(shows_progress, calls=4)
    seen = set()
    while not job.done():
        seen.add(job.sub_status())
        time.sleep(0.02)
    assert job.result(1) == 4
    assert {"EXECUTING_QPU", "finishing"} <= seen
    kinds = [e.kind for e in job.events()]
    assert kinds.count(EventKind.QPU_QUEUED) == 4
    assert kinds.count(EventKind.QPU_FINISHED) == 4


def test_cancel_a_running_job(client):
    job = client.run(sleepy)
    deadline = time.monotonic() + 30
    while job.status() is not JobStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.cancel()
    with pytest.raises(JobCanceledError):
        job.result(30)
    assert job.status() is JobStatus.CANCELED
    assert not job.cancel()  # already ended


def square(x):
    return x * x


def fans_out(ctx, n):
    return sum(ctx.map(square, range(n)))


def test_ctx_map_fans_out_on_the_workers(client):
    assert client.run(fans_out, n=20).result(60) == sum(i * i for i in range(20))


def test_ctx_map_runs_even_when_every_worker_is_busy_with_a_job(client):
    # more jobs that fan out than there are workers: each lends its cpu while it waits
    jobs = [client.run(fans_out, n=8) for _ in range(4)]
    assert [j.result(120) for j in jobs] == [140] * 4


def test_jobs_are_listed_newest_first_and_by_status(client):
    done = client.run(add, a=5)
    done.result(60)
    failed = client.run(fails, depth=0)
    failed.wait(60)
    ids = [j.id for j in client.jobs(limit=10)]
    assert ids.index(failed.id) < ids.index(done.id)
    assert failed.id in [j.id for j in client.jobs(status="error")]
    assert failed.id not in [j.id for j in client.jobs(status="DONE")]
    with pytest.raises(ValueError, match="unknown job status 'finished'"):
        client.jobs(status="finished")


def test_unknown_job_ids_raise(client):
    with pytest.raises(KeyError, match="no job with id"):
        client.job("does-not-exist")


def test_a_file_entry_point_runs(client, tmp_path):
    script = tmp_path / "work.py"
    script.write_text("def main(n):\n    return [i * 2 for i in range(n)]\n")
    function = qlambda.Function("work", entrypoint=f"{script}:main")
    assert client.run(function, n=3).result(60) == [0, 2, 4]
    missing = qlambda.Function("work2", entrypoint=f"{script}:mian")
    with pytest.raises(JobFailedError, match="has no function 'mian'; it defines: main"):
        client.run(missing).result(60)


def waits_for(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)
    return path


def _wait_for_status(job, status, timeout=60):
    deadline = time.monotonic() + timeout
    while job.status() is not status and time.monotonic() < deadline:
        time.sleep(0.02)
    return job.status()


def test_an_owner_at_the_running_limit_waits_while_others_run(client, tmp_path):
    platform = client.platform
    gate = tmp_path / "gate"
    platform.limit_running_per_owner(1)
    try:
        blocker = client.job(
            platform.submit(as_function(waits_for), {"path": str(gate)}, owner="al")
        )
        held = client.job(platform.submit(as_function(add), {"a": 1}, owner="al"))
        dropped = client.job(platform.submit(as_function(add), {"a": 2}, owner="al"))
        bob = client.job(platform.submit(as_function(add), {"a": 5}, owner="bob"))
        assert _wait_for_status(blocker, JobStatus.RUNNING) is JobStatus.RUNNING
        assert bob.result(60) == 6  # a free worker serves bob, not al's next job
        assert held.status() is JobStatus.QUEUED
        assert dropped.cancel() is True  # a waiting job is canceled without running
        assert _wait_for_status(dropped, JobStatus.CANCELED) is JobStatus.CANCELED
        assert EventKind.STARTED not in [event.kind for event in dropped.events()]
        gate.touch()
        assert held.result(60) == 2  # starts once al's running job ends
        assert blocker.result(60) == str(gate)
    finally:
        gate.touch()
        platform.limit_running_per_owner(None)
