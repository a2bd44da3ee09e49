"""A Ray cluster of several nodes on this one machine, for tests and benchmarks.

Each node is a ``ray start --block`` process with its own temp folder and ports.
Everything it starts descends from that process, so a node is stopped (or, to
test failures, killed) by signalling exactly that process tree: never ``ray
stop``, never a process name.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from qlambda.engine.ray.connection import ensure_token
from qlambda.engine.remote.processes import free_port, kill_tree, running, stop_tree, tree

__all__ = ["LoopbackRayCluster", "RayNode", "free_port", "running"]

# A dead node is noticed within seconds instead of the default half minute.
FAST_FAILURE_DETECTION = {
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen[bytes]
    temp_dir: str
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tree(self) -> list[psutil.Process]:
        """This node's processes: the ``ray start`` process and all it started."""
        return tree(self.process)


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
            "--include-dashboard=false",
            f"--system-config={json.dumps(FAST_FAILURE_DETECTION)}",
        ]
        if importlib.util.find_spec("grpc") is not None:  # ray[client] installed: own port
            extra.append(f"--ray-client-server-port={free_port()}")
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
        kill_tree(node.process)

    def stop(self, node: RayNode, timeout: float = 10.0) -> None:
        stop_tree(node.process, timeout)

    def shutdown(self) -> None:
        for node in reversed(self.nodes):
            self.stop(node)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LoopbackRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
