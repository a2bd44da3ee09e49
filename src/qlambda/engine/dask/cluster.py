"""A Dask scheduler and workers on this machine, on loopback, for tests and benchmarks.

Each is a ``dask scheduler`` / ``dask worker`` process (a worker with its nanny)
with its own directory; they are stopped, or killed to test failures, by
signalling exactly the process trees started here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from qlambda.engine.remote.processes import free_port, kill_tree, stop_tree, tree


@dataclass
class DaskProcess:
    name: str
    process: subprocess.Popen[bytes]

    def tree(self) -> list[psutil.Process]:
        return tree(self.process)


class LoopbackDaskCluster:
    """``scheduler()`` first, then ``add_worker()``; ``address`` is what clients join."""

    def __init__(self, root: str | None = None) -> None:
        self.root = tempfile.mkdtemp(prefix="qldc-", dir=root)
        self.port: int | None = None
        self.processes: list[DaskProcess] = []
        self._env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    @property
    def address(self) -> str:
        assert self.port is not None, "start the scheduler first"
        return f"tcp://127.0.0.1:{self.port}"

    def scheduler(self) -> DaskProcess:
        self.port = free_port()
        started = self._start(
            "scheduler",
            [
                "distributed.cli.dask_scheduler",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--no-dashboard",
            ],
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if started.process.poll() is not None:
                raise RuntimeError(f"the dask scheduler exited: {self.log(started)[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return started
            time.sleep(0.2)
        raise TimeoutError(f"the dask scheduler did not open port {self.port}")

    def add_worker(self, name: str, resources: dict[str, float] | None = None) -> DaskProcess:
        directory = os.path.join(self.root, name)
        os.makedirs(directory)
        arguments = [
            "distributed.cli.dask_worker",
            self.address,
            "--host=127.0.0.1",
            "--nthreads=1",
            "--nworkers=1",
            "--no-dashboard",
            f"--name={name}",
            f"--local-directory={directory}",
        ]
        if resources:
            arguments.append("--resources=" + " ".join(f"{k}={v}" for k, v in resources.items()))
        return self._start(name, arguments)

    def _start(self, name: str, arguments: list[str]) -> DaskProcess:
        log = open(os.path.join(self.root, f"{name}.log"), "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", *arguments],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        started = DaskProcess(name, process)
        self.processes.append(started)
        return started

    def log(self, started: DaskProcess) -> str:
        with contextlib.suppress(OSError):
            return Path(self.root, f"{started.name}.log").read_text(errors="replace")
        return ""

    def kill(self, started: DaskProcess) -> None:
        """The worker (and its nanny) die at once, as when its machine fails."""
        kill_tree(started.process)

    def shutdown(self) -> None:
        for started in reversed(self.processes):
            stop_tree(started.process)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LoopbackDaskCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
