"""A Ray cluster of several nodes on this machine, on loopback, for tests and benchmarks.

Each node is a ``ray start --block`` process with its own temp folder and ports.
Everything it starts descends from that process, so a node is stopped (or, to
test failures, killed) by signalling exactly that process tree: never ``ray
stop``, never a process name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from qlambda.engine.ray.connection import ensure_token

# A dead node is noticed within seconds instead of the default half minute.
FAST_FAILURE_DETECTION = {
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen
    temp_dir: str
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tree(self) -> list[psutil.Process]:
        """This node's processes: the ``ray start`` process and all it started."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie (the processes of a killed node are not our children,
    so their exit status may stay unreaped)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until the processes have exited; return those still running."""
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive


class LoopbackRayCluster:
    """``head()`` first, then ``add_node()``; ``address`` is what drivers join."""

    def __init__(self, root: str | None = None) -> None:
        self.root = tempfile.mkdtemp(prefix="qlrc-", dir=root or "/tmp")
        self.nodes: list[RayNode] = []
        self.gcs_port: int | None = None
        self._env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": ensure_token()}
        self._env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        self._ray = str(Path(sys.executable).with_name("ray"))

    @property
    def address(self) -> str:
        assert self.gcs_port is not None, "start the head node first"
        return f"127.0.0.1:{self.gcs_port}"

    def head(self, cpus: int = 1, resources: dict[str, float] | None = None) -> RayNode:
        self.gcs_port = free_port()
        extra = [
            "--head",
            f"--port={self.gcs_port}",
            f"--ray-client-server-port={free_port()}",
            "--include-dashboard=false",
            f"--system-config={json.dumps(FAST_FAILURE_DETECTION)}",
        ]
        node = self._start("head", cpus, resources, extra)
        self._wait_port(self.gcs_port, node)
        return node

    def add_node(
        self, cpus: int = 1, resources: dict[str, float] | None = None, name: str | None = None
    ) -> RayNode:
        return self._start(
            name or f"node{len(self.nodes)}", cpus, resources, [f"--address={self.address}"]
        )

    def _start(
        self, name: str, cpus: int, resources: dict[str, float] | None, extra: list[str]
    ) -> RayNode:
        temp_dir = os.path.join(self.root, name)
        os.makedirs(temp_dir)
        command = [
            self._ray,
            "start",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp_dir}",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--resources={json.dumps(resources or {})}",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            *extra,
        ]
        log = open(os.path.join(self.root, f"{name}.log"), "wb")  # noqa: SIM115
        process = subprocess.Popen(
            command, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        node = RayNode(name, process, temp_dir, dict(resources or {}))
        self.nodes.append(node)
        return node

    def _wait_port(self, port: int, node: RayNode, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise RuntimeError(f"ray node {node.name} exited: {self.log(node)[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.2)
        raise TimeoutError(f"ray head did not open port {port} within {timeout:g} s")

    def log(self, node: RayNode) -> str:
        with contextlib.suppress(OSError):
            return Path(self.root, f"{node.name}.log").read_text(errors="replace")
        return ""

    def kill(self, node: RayNode) -> None:
        """The node dies at once, as when its machine fails."""
        tree = node.tree()
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(5)
        _wait_gone(tree, 10.0)

    def stop(self, node: RayNode, timeout: float = 10.0) -> None:
        tree = node.tree()
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(timeout)
        for process in _wait_gone(tree, timeout):
            with contextlib.suppress(psutil.Error):
                process.kill()
        _wait_gone(tree, 5.0)

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            self.stop(node)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LoopbackRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
