"""However jobs die, the worker pool never outgrows ``max_workers``."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

import qlambda
from qlambda import JobCanceledError, JobFailedError

MAX_WORKERS = 4


def worker_processes(client) -> int:
    """Worker processes of the job engine as the OS sees them (children of its zygotes)."""
    count = 0
    for pid in client.platform.engine.zygote_pids():
        with contextlib.suppress(psutil.Error):
            count += len(psutil.Process(pid).children(recursive=True))
    return count


class Sampler(threading.Thread):
    def __init__(self, client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.peak = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, worker_processes(self.client))
            self.samples += 1
            time.sleep(0.01)


@qlambda.function(timeout="1s")
def overstays():
    time.sleep(60)


@qlambda.function(memory="50MB")
def hoards():
    block = np.ones(300 * 2**20 // 8)
    time.sleep(30)
    return block.size


def kills_itself():
    os.kill(os.getpid(), signal.SIGKILL)


def sleeps(seconds):
    time.sleep(seconds)
    return "woke"


def add(a, b):
    return a + b


def test_twenty_killed_jobs_in_a_row_leave_the_pool_bounded(tmp_path):
    client = qlambda.Client(data_dir=tmp_path, workers=2, max_workers=MAX_WORKERS)
    sampler = Sampler(client)
    try:
        assert client.wait_ready(180)
        sampler.start()
        for round_ in range(5):
            jobs = [client.run(overstays), client.run(hoards), client.run(kills_itself)]
            canceled = client.run(sleeps, seconds=60)
            deadline = time.monotonic() + 60
            while canceled.status().value != "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert canceled.cancel(), f"round {round_}: the running job was not canceled"
            for job in jobs:
                with pytest.raises(JobFailedError):
                    job.result(120)
            with pytest.raises(JobCanceledError):
                canceled.result(60)
        assert client.run(add, a=20, b=22).result(60) == 42
        time.sleep(0.5)
        sampler.done.set()
        sampler.join(5)
        assert sampler.samples > 100
        assert 0 < sampler.peak <= MAX_WORKERS
        assert client.platform.engine.stats()["workers"] <= MAX_WORKERS
        assert worker_processes(client) <= MAX_WORKERS
    finally:
        sampler.done.set()
        client.close()
