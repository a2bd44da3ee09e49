"""The Ray engine on a private local Ray instance: futures, errors, limits, channel, batching."""

from __future__ import annotations

import os
import time
from concurrent.futures import CancelledError, Future

import psutil
import pytest

from qlambda.core.errors import ConfigurationError, TimeLimitError, WorkerDiedError
from qlambda.engine.base import TaskSpec
from qlambda.engine.channel import current_channel
from qlambda.engine.ray import RayEngine
from qlambda.engine.ray.connection import private_temp_dir
from qlambda.engine.registry import create_engine

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def engine():
    engine = RayEngine(2, name="test-ray", preload=())
    engine.start()
    yield engine
    engine.shutdown()


def square(x):
    return x * x


def worker_pid():
    return os.getpid()


def raises(message):
    raise KeyError(message)


def sleep_for(seconds):
    time.sleep(seconds)
    return seconds


def test_a_private_instance_is_ours_and_on_this_machine(engine):
    assert ray.is_initialized()
    assert engine.cpus == 2
    own_addresses = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
    assert [n["address"] in own_addresses for n in engine.nodes()] == [True]
    # its temp folder is the engine's own, not the shared default one
    temp_dir = private_temp_dir()
    assert temp_dir is not None and not temp_dir.startswith("/tmp/ray")
    assert "session_latest" in os.listdir(temp_dir)


def test_submit_gives_concurrent_futures_with_results(engine):
    futures = [engine.submit(TaskSpec(square, (i,))) for i in range(200)]
    assert all(isinstance(f, Future) for f in futures)
    assert [f.result(60) for f in futures] == [i * i for i in range(200)]


def test_the_work_runs_in_ray_worker_processes(engine):
    pids = {engine.submit(TaskSpec(worker_pid)).result(60) for _ in range(5)}
    assert os.getpid() not in pids


def test_small_tasks_travel_in_batches(engine):
    before = engine.stats()["completed"]
    futures = [engine.submit(TaskSpec(square, (i,))) for i in range(2000)]
    assert sum(f.result(60) for f in futures) == sum(i * i for i in range(2000))
    stats = engine.stats()
    assert stats["completed"] - before == 2000
    # the engine learned how long a small task takes, which sizes the batches
    assert stats["seconds_per_small_task"] is not None


def test_an_error_keeps_its_type_and_message(engine):
    with pytest.raises(KeyError, match="no such key"):
        engine.submit(TaskSpec(raises, ("no such key",))).result(60)
    with pytest.raises(KeyError, match="isolated too"):
        engine.submit(TaskSpec(raises, ("isolated too",), timeout_s=30)).result(60)


def test_a_time_limit_stops_the_task(engine):
    future = engine.submit(TaskSpec(sleep_for, (60,), timeout_s=1))
    with pytest.raises(TimeLimitError, match="time limit of 1 s exceeded"):
        future.result(60)
    # the engine still works afterwards
    assert engine.submit(TaskSpec(square, (7,))).result(60) == 49


def grow(megabytes):
    block = bytearray(megabytes * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(30)
    return len(block)


def test_a_memory_limit_stops_the_task_with_the_reason(engine):
    future = engine.submit(TaskSpec(grow, (300,), memory_mb=100))
    with pytest.raises(WorkerDiedError, match="memory limit of 100 MB exceeded"):
        future.result(60)


def talk_to_submitter():
    channel = current_channel()
    channel.notify("progress", "halfway")
    print("a line for the log", flush=True)
    os.system("echo from a child process")
    return channel.request("double", 21).result()


def test_the_channel_carries_requests_notes_and_output(engine, tmp_path):
    seen = []

    def on_message(message):
        seen.append((message.kind, message.payload))
        if message.reply is not None:
            message.reply(True, message.payload * 2)

    log = tmp_path / "task.log"
    spec = TaskSpec(talk_to_submitter, on_message=on_message, log_path=str(log))
    assert engine.submit(spec).result(60) == 42
    assert seen == [("progress", "halfway"), ("double", 21)]
    text = log.read_text()
    assert "a line for the log" in text
    assert "from a child process" in text


def refused_request():
    return current_channel().request("anything", None).result()


def test_a_request_the_submitter_refuses_raises_in_the_task(engine):
    def on_message(message):
        message.reply(False, PermissionError("not for you"))

    with pytest.raises(PermissionError, match="not for you"):
        engine.submit(TaskSpec(refused_request, on_message=on_message)).result(60)


def test_cancel_stops_a_running_isolated_task_and_drops_a_queued_one(engine):
    running = engine.submit(TaskSpec(sleep_for, (60,), timeout_s=120))
    time.sleep(1.0)
    assert engine.cancel(running.task_id)
    with pytest.raises(CancelledError):
        running.result(30)
    assert engine.cancel(running.task_id) is False


def test_resource_requests_are_checked_against_the_cluster(engine):
    with pytest.raises(ValueError, match=r"asks for 1 'qpu_torino'.*Custom resources there: none"):
        engine.submit(TaskSpec(square, (1,), resources={"qpu_torino": 1}))
    with pytest.raises(ValueError, match=r"asks for 1 'GPU'"):
        engine.submit(TaskSpec(square, (1,), gpus=1))
    with pytest.raises(ValueError, match=r"asks for 3 'CPU'"):
        engine.submit(TaskSpec(square, (1,), cpus=3))
    with pytest.raises(ValueError, match="ask for cpus, gpus and memory with their own keys"):
        engine.submit(TaskSpec(square, (1,), resources={"CPU": 1}))


def test_a_two_cpu_task_reserves_both(engine):
    assert engine.submit(TaskSpec(square, (5,), cpus=2)).result(60) == 25


def test_options_are_checked():
    with pytest.raises(ConfigurationError, match="leave cpus unset"):
        RayEngine(2, address="auto")
    with pytest.raises(ConfigurationError, match="unknown engine 'spark'; available: local, ray"):
        create_engine("spark")
    with pytest.raises(ConfigurationError, match="max_workers applies to the local engine only"):
        create_engine("ray", max_workers=4)
    with pytest.raises(ConfigurationError, match="takes no address"):
        create_engine("local", address="auto")


def test_a_process_holds_one_ray_connection(engine):
    other = RayEngine(address="127.0.0.1:1", name="other")
    with pytest.raises(ConfigurationError, match="already connected to a private local Ray"):
        other.start()


def dies_every_time(marker):
    with open(marker, "a") as attempts:
        attempts.write("attempt\n")
    os.kill(os.getpid(), 9)


def test_a_worker_that_keeps_dying_ends_in_worker_died_after_the_retries(engine, tmp_path):
    marker = tmp_path / "attempts"
    future = engine.submit(TaskSpec(dies_every_time, (str(marker),), timeout_s=120))
    with pytest.raises(WorkerDiedError, match="worker died"):
        future.result(180)
    assert marker.read_text().count("attempt") == 1 + 3  # the first run and Ray's 3 retries


def sample_bell(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    ctx.status("sampling")
    result = ctx.sampler().run([circuit], shots=64).result()
    return result[0].data.meas.get_counts(), os.getpid()


def test_the_embedded_client_runs_jobs_on_ray(engine, tmp_path):
    import qlambda

    with qlambda.Client(
        engine="ray", data_dir=tmp_path, backends=[{"name": "aer", "kind": "aer"}]
    ) as client:
        assert client.platform.engine.kind == "ray"
        counts, pid = client.run(sample_bell).result(120)
    assert sum(counts.values()) == 64 and set(counts) <= {"00", "11"}
    assert pid != os.getpid()
