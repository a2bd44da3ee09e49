"""The local engine: warm workers, limits, failures, channels, cpu lending."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from concurrent.futures import CancelledError, wait

import numpy as np
import pytest

from qlambda.core.errors import TimeLimitError, WorkerDiedError
from qlambda.engine import TaskSpec, current_channel
from qlambda.engine.local import LocalEngine


@pytest.fixture(scope="module")
def engine():
    engine = LocalEngine(cpus=2, idle_timeout=1.0, name="test")
    engine.start()
    assert engine.wait_ready(120)
    yield engine
    engine.shutdown()


def square(x):
    return x * x


def raise_value_error(text):
    raise ValueError(text)


def pid():
    return os.getpid()


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def test_runs_functions_and_returns_values(engine):
    futures = [engine.submit(TaskSpec(square, (i,))) for i in range(200)]
    assert [f.result(30) for f in futures] == [i * i for i in range(200)]


def test_lambdas_and_closures_travel_by_value(engine):
    offset = 5
    assert engine.submit(TaskSpec(lambda x: x + offset, (1,))).result(30) == 6


def test_numpy_results_come_back_intact(engine):
    value = engine.submit(TaskSpec(np.arange, (10,))).result(30)
    assert np.array_equal(value, np.arange(10))


def test_the_tasks_own_exception_is_raised_with_its_traceback(engine):
    future = engine.submit(TaskSpec(raise_value_error, ("bad input 42",)))
    with pytest.raises(ValueError, match="bad input 42") as caught:
        future.result(30)
    assert "raise_value_error" in str(caught.value.__cause__)


def test_workers_are_reused_not_restarted(engine):
    pids = {engine.submit(TaskSpec(pid)).result(30) for _ in range(50)}
    assert pids <= set(engine.worker_pids())


@pytest.mark.parametrize(
    ("crash", "expected"),
    [
        (lambda: os._exit(3), "worker died: exit code 3"),
        (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by signal 9 (SIGKILL)"),
        (lambda: ctypes.string_at(0), "killed by signal 11 (SIGSEGV)"),
    ],
    ids=["exit", "sigkill", "segfault"],
)
def test_a_dying_worker_fails_its_task_and_is_replaced(engine, crash, expected):
    with pytest.raises(WorkerDiedError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        engine.submit(TaskSpec(crash)).result(60)
    # the engine keeps serving
    assert engine.submit(TaskSpec(square, (7,))).result(60) == 49


def test_a_limit_longer_than_the_loops_sleep_is_kept_without_waking_it(engine):
    """A task whose limit lies beyond the engine loop's next look (a QPU task's) does not
    wake the loop when it starts; the loop still stops it once the limit has passed."""
    engine.submit(TaskSpec(square, (2,))).result(60)  # the loop asleep, nothing to watch
    future = engine.submit(TaskSpec(sleep_then, (60, "late"), timeout_s=2.5))
    with pytest.raises(TimeLimitError, match=r"time limit of 2\.5 s exceeded"):
        future.result(40)
    assert engine.submit(TaskSpec(square, (3,))).result(60) == 9


def test_time_limit_stops_the_task(engine):
    started = time.monotonic()
    future = engine.submit(TaskSpec(sleep_then, (60, "late"), timeout_s=0.5))
    with pytest.raises(TimeLimitError, match=r"time limit of 0\.5 s exceeded"):
        future.result(60)
    assert time.monotonic() - started < 30  # far from the 60 s the task wanted
    assert engine.submit(TaskSpec(square, (3,))).result(60) == 9


def allocate_and_hold(megabytes):
    block = np.ones(megabytes * 2**20 // 8)  # written, so resident
    time.sleep(10)
    return block.size


def test_memory_limit_stops_the_task(engine):
    future = engine.submit(TaskSpec(allocate_and_hold, (400,), memory_mb=100))
    with pytest.raises(WorkerDiedError, match="memory limit of 100 MB exceeded"):
        future.result(60)


def test_cancel_a_queued_and_a_running_task():
    engine = LocalEngine(cpus=1, max_workers=1, name="cancel")
    engine.start()
    try:
        running = engine.submit(TaskSpec(sleep_then, (60, "x"), timeout_s=120))
        queued = engine.submit(TaskSpec(square, (2,), timeout_s=120))
        time.sleep(0.5)
        assert engine.cancel(queued.task_id)
        assert queued.cancelled()
        assert engine.cancel(running.task_id)
        with pytest.raises(CancelledError):
            running.result(30)
        assert engine.submit(TaskSpec(square, (5,))).result(60) == 25
    finally:
        engine.shutdown()


def ask_submitter(question):
    return current_channel().request("ask", question).result()


def test_tasks_can_ask_their_submitter(engine):
    answers = {}

    def on_message(message):
        answers[message.kind] = message.payload
        message.reply(True, message.payload.upper())

    future = engine.submit(TaskSpec(ask_submitter, ("hello",), on_message=on_message))
    assert future.result(30) == "HELLO"
    assert answers == {"ask": "hello"}


def test_a_failed_reply_raises_in_the_task(engine):
    def on_message(message):
        message.reply(False, KeyError("no such thing"))

    with pytest.raises(KeyError, match="no such thing"):
        engine.submit(TaskSpec(ask_submitter, ("x",), on_message=on_message)).result(30)


def test_blocked_tasks_lend_their_cpus():
    """Two tasks wait on their submitter; a third still runs, on an extra worker."""
    engine = LocalEngine(cpus=2, max_workers=4, name="lend")
    engine.start()
    try:
        held = []

        def hold(message):
            held.append(message)

        waiting = [
            engine.submit(TaskSpec(ask_submitter, (f"q{i}",), on_message=hold)) for i in range(2)
        ]
        deadline = time.monotonic() + 60
        while len(held) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        third = engine.submit(TaskSpec(square, (9,)))
        assert third.result(60) == 81
        assert engine.stats()["workers"] >= 3
        for message in held:
            message.reply(True, "ok")
        assert [f.result(30) for f in waiting] == ["ok", "ok"]
    finally:
        engine.shutdown()


def test_isolated_tasks_capture_output_and_use_their_directory(engine, tmp_path):
    def noisy():
        print("to stdout")
        os.write(2, b"raw to stderr\n")
        with open("here.txt", "w") as handle:
            handle.write("x")
        return os.getcwd()

    log = tmp_path / "out.log"
    workdir = tmp_path / "work"
    cwd = engine.submit(TaskSpec(noisy, workdir=str(workdir), log_path=str(log))).result(30)
    assert cwd == str(workdir)
    assert (workdir / "here.txt").exists()
    text = log.read_text()
    assert "to stdout" in text and "raw to stderr" in text


def test_large_output_does_not_deadlock(engine, tmp_path):
    def shout():
        for _ in range(200):
            print("x" * 100_000)
        return "done"

    log = tmp_path / "big.log"
    assert engine.submit(TaskSpec(shout, log_path=str(log))).result(120) == "done"
    assert log.stat().st_size >= 200 * 100_000


def test_priority_orders_the_queue():
    engine = LocalEngine(cpus=1, max_workers=1, prefetch=0, name="prio")
    engine.start()
    try:
        assert engine.wait_ready(120)
        blocker = engine.submit(TaskSpec(sleep_then, (1.0, None)))
        order = []
        futures = [engine.submit(TaskSpec(square, (p,), priority=p)) for p in (1, 5, 3)]
        for f in futures:
            f.add_done_callback(lambda f: order.append(f.result()))
        wait([blocker, *futures], timeout=60)
        assert order == [25, 9, 1]
    finally:
        engine.shutdown()


def test_shutdown_cancels_what_is_left():
    engine = LocalEngine(cpus=1, max_workers=1, name="down")
    engine.start()
    running = engine.submit(TaskSpec(sleep_then, (60, None)))
    queued = engine.submit(TaskSpec(square, (1,)))
    time.sleep(0.3)
    engine.shutdown()
    for future in (running, queued):
        with pytest.raises(CancelledError):
            future.result(10)
    with pytest.raises(RuntimeError, match="shut down"):
        engine.submit(TaskSpec(square, (1,)))


def test_bad_cpu_requests_are_refused(engine):
    with pytest.raises(ValueError, match="1 to 2 cpus"):
        engine.submit(TaskSpec(square, (1,), cpus=3))


def test_a_stopped_engine_leaves_no_descriptors_open():
    engine = LocalEngine(cpus=1, name="fd")
    engine.start()
    assert engine.submit(TaskSpec(square, (4,))).result(60) == 16
    connections = [w.conn for w in engine._workers.values()]
    engine.shutdown()
    assert engine._selector.get_map() is None  # the loop's selector is closed
    assert engine._wake_r == engine._wake_w == -1  # and its wake pipe
    assert all(conn.closed for conn in connections)
