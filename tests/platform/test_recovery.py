"""Nothing is lost: checkpoints, restarts, admission control."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import cloudpickle
import pytest

import qlambda
from qlambda import JobDroppedError, JobStatus
from qlambda.core.events import EventKind


def counts_with_checkpoints(ctx, steps, pause, wait=True):
    state = ctx.restore() or {"done": 0, "attempts": []}
    state["attempts"].append(ctx.attempt)
    for step in range(state["done"], steps):
        time.sleep(pause)
        state["done"] = step + 1
        ctx.checkpoint(state, wait=wait)
    return state


def test_checkpoint_and_restore_within_a_run(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        result = client.run(counts_with_checkpoints, steps=3, pause=0.0).result(60)
        assert result == {"done": 3, "attempts": [1]}


def restores_what_it_stored(ctx):
    before = ctx.restore()
    state = {"step": 1}
    ctx.checkpoint(state)
    state["step"] = 2  # changed after it was stored: restore gives what was stored
    return {"before": before, "after": ctx.restore(), "attempt": ctx.attempt}


def test_restore_in_a_first_run_gives_what_that_run_stored(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        result = client.run(restores_what_it_stored).result(60)
        assert result == {"before": None, "after": {"step": 1}, "attempt": 1}


def checkpoints_without_waiting(ctx, states):
    for state in states:
        ctx.checkpoint(state, wait=False)
    return ctx.restore()


def test_a_checkpoint_not_waited_for_is_restored_and_stored_before_the_job_ends(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        job = client.run(checkpoints_without_waiting, states=[{"step": 1}, {"step": 2}])
        # restore waits for it: the write is still lingering when restore is asked
        assert job.result(60) == {"step": 2}
        store = client.platform.store
        assert cloudpickle.loads(store.load_checkpoint(job.id)) == {"step": 2}
        kinds = [e.kind for e in job.events()]
        assert kinds.count(EventKind.CHECKPOINT) == 2
        assert kinds.index(EventKind.CHECKPOINT) < kinds.index(EventKind.DONE)


def floods_checkpoints(ctx, count):
    from qlambda.engine.channel import current_channel

    channel = current_channel()  # past ctx.checkpoint's own bound, as hostile code may
    sent = [channel.request("checkpoint_soon", b"x" * 1000, blocking=False) for _ in range(count)]
    refused = [str(f.exception()) for f in sent if f.exception() is not None]
    for step in range(40):  # the bounded client never meets the limit
        ctx.checkpoint({"step": step}, wait=False)
    return {"refused": refused, "restored": ctx.restore()}


def test_checkpoints_a_job_floods_the_store_with_are_refused_past_a_bound(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1) as client:
        result = client.run(floods_checkpoints, count=300).result(120)
        assert result["refused"], "300 checkpoints sent at once were all queued"
        assert all("checkpoints waiting to be stored already" in r for r in result["refused"])
        assert result["restored"] == {"step": 39}


@pytest.mark.parametrize("wait", [True, False], ids=["waited", "not-waited"])
def test_a_restart_resumes_running_jobs_from_their_checkpoint_and_runs_queued_ones(tmp_path, wait):
    first = qlambda.Client(data_dir=tmp_path, workers=1)
    running = first.run(counts_with_checkpoints, steps=6, pause=0.5, wait=wait)
    queued = first.run(counts_with_checkpoints, steps=1, pause=0.0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until at least two steps are stored
        events = running.events()
        if sum(e.kind is EventKind.CHECKPOINT for e in events) >= 2:
            break
        time.sleep(0.1)
    assert queued.status() is JobStatus.QUEUED
    first.close()  # as if the process had stopped: nothing final is written

    second = qlambda.Client(data_dir=tmp_path, workers=1)
    try:
        resumed = second.job(running.id).result(120)
        assert resumed["done"] == 6
        assert resumed["attempts"] == [1, 2]  # the second attempt restored the first's state
        assert second.job(queued.id).result(60) == {"done": 1, "attempts": [1]}
        kinds = [e.kind for e in second.job(running.id).events()]
        assert EventKind.REQUEUED in kinds
        assert kinds[-1] is EventKind.DONE
    finally:
        second.close()


def sleeps(seconds):
    time.sleep(seconds)
    return seconds


def test_admission_control_drops_jobs_past_c_max(tmp_path):
    with qlambda.Client(data_dir=tmp_path, workers=1, c_max=2) as client:
        kept = [client.run(sleeps, seconds=2) for _ in range(2)]
        dropped = client.run(sleeps, seconds=0)
        assert dropped.status() is JobStatus.DROPPED
        with pytest.raises(JobDroppedError, match="C_max=2"):
            dropped.result(10)
        assert [j.result(60) for j in kept] == [2, 2]
        # once they ended, jobs are admitted again
        assert client.run(sleeps, seconds=0).result(60) == 0


def waits_on_qpu(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(1)
    circuit.measure_all()
    ctx.sampler().run([circuit], shots=10).result()
    return True


def test_admission_control_drops_jobs_past_q_max(tmp_path):
    slow = [{"name": "qpu", "kind": "aer", "emulate_qpu_time": True, "time_scale": 0.3}]
    with qlambda.Client(data_dir=tmp_path, workers=1, q_max=1, backends=slow) as client:
        client.wait_ready(120)
        jobs = [client.run(waits_on_qpu) for _ in range(3)]
        deadline = time.monotonic() + 60
        while client.backends()[0]["pending"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        late = client.run(waits_on_qpu)
        with pytest.raises(JobDroppedError, match="Q_max=1"):
            late.result(10)
        assert [j.result(120) for j in jobs] == [True] * 3


SCRIPT = textwrap.dedent(
    """
    import qlambda

    def triple(x):
        return 3 * x

    class Box:
        def __init__(self, value):
            self.value = value

    @qlambda.function(name="boxed")
    def boxed(x):
        return Box(triple(x)).value

    if __name__ == "__main__":
        with qlambda.Client(data_dir={data_dir!r}, workers=1) as client:
            print("RESULT", client.run(boxed, x=14).result(120))
    """
)


@pytest.mark.slow
def test_functions_defined_in_a_script_main_are_shipped_by_value(tmp_path):
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT.format(data_dir=str(tmp_path / "data")))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "RESULT 42" in done.stdout


SEQUENTIAL_CLIENTS = textwrap.dedent(
    """
    import tempfile
    import qlambda

    def one_bell(ctx):
        from qiskit import QuantumCircuit
        circuit = QuantumCircuit(2)
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.measure_all()
        counts = ctx.sampler().run([circuit], shots=20).result()[0].data.meas.get_counts()
        return sum(counts.values())

    if __name__ == "__main__":
        for round in range(4):
            with tempfile.TemporaryDirectory() as data:
                with qlambda.Client(data_dir=data, workers=1) as client:
                    print("ROUND", round, client.run(one_bell).result(120), flush=True)
    """
)


@pytest.mark.slow
def test_one_process_can_start_and_stop_platforms_again_and_again(tmp_path):
    # The control plane's threads end with each platform; none may leave native state
    # (Qiskit's allocator) that crashes the next one.
    script = tmp_path / "rounds.py"
    script.write_text(SEQUENTIAL_CLIENTS)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("ROUND") == 4 and "ROUND 3 20" in done.stdout
