"""A Ray or Dask cluster across a SLURM allocation's nodes, started by the pilot agent.

On one node the agent's engine starts a private instance itself (``address=None``).
Across nodes the head (Ray) or scheduler (Dask) runs on the batch node, beside the
agent, and one worker process per other node is started with ``srun`` in the same
allocation, so SLURM places them, accounts for them and stops them with the job.
Ray's nodes share a token made up here and passed in their environment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qlambda.engine.remote.processes import free_port

READY_SECONDS = 120.0


def wait_for_nodes(engine: Any, cpus: int) -> None:
    """Wait until every node's workers have joined (the engine sees all the cpus)."""
    deadline = time.monotonic() + READY_SECONDS
    while engine.cpus < cpus:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the cluster has {engine.cpus} of the allocation's {cpus} cpus after "
                f"{READY_SECONDS:g} s: workers started with srun did not all join"
            )
        time.sleep(0.5)


def node_count() -> int:
    return int(os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES") or 1)


def start_cluster(kind: str, *, cores: int, gpus: int = 0) -> str | None:
    """Start the cluster across the allocation; its address, or None on a single node
    (the engine then starts a private instance of its own)."""
    nodes = node_count()
    if nodes == 1:
        return None
    host = socket.gethostbyname(socket.gethostname())
    root = tempfile.mkdtemp(prefix="qlambda-agent-")
    if kind == "ray":
        return _ray(host, root, nodes, cores, gpus)
    return _dask(host, root, nodes, cores, gpus)


def _launch(command: list[str], log: str, env: dict[str, str] | None = None) -> None:
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env or dict(os.environ)
        )
    atexit.register(_stop, process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def _others(nodes: int, cores: int, gpus: int) -> list[str]:
    """``srun`` of one process on each node but this one."""
    command = [
        "srun",
        f"--nodes={nodes - 1}",
        f"--ntasks={nodes - 1}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={cores}",
        f"--exclude={socket.gethostname()}",
        "--overlap",
    ]
    if gpus:
        command.append(f"--gpus-per-task={max(1, gpus // nodes)}")
    return command


def _wait_port(host: str, port: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the cluster's head did not open {host}:{port} in {READY_SECONDS:g} s")


def _ray(host: str, root: str, nodes: int, cores: int, gpus: int) -> str:
    from qlambda.engine.ray.connection import ensure_token

    ensure_token()  # in this environment: the head, srun's workers and the engine share it
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    per_node_gpus = gpus // nodes if gpus else 0
    common = [
        "--block",
        "--disable-usage-stats",
        f"--num-cpus={cores}",
        f"--num-gpus={per_node_gpus}",
    ]
    head = [ray, "start", "--head", f"--port={port}", f"--node-ip-address={host}"]
    head += ["--include-dashboard=false", f"--temp-dir={root}/ray", *common]
    _launch(head, f"{root}/head.log")
    _wait_port(host, port)
    _launch(
        [*_others(nodes, cores, gpus), ray, "start", f"--address={host}:{port}", *common],
        f"{root}/workers.log",
    )
    return f"{host}:{port}"


def _dask(host: str, root: str, nodes: int, cores: int, gpus: int) -> str:
    port = free_port()
    address = f"tcp://{host}:{port}"
    _launch(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            host,
            "--port",
            str(port),
            "--no-dashboard",
        ],
        f"{root}/scheduler.log",
    )
    _wait_port(host, port)
    resources = [f"CPU={cores}"] + ([f"GPU={gpus // nodes}"] if gpus >= nodes else [])
    worker = [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        address,
        "--nthreads",
        "1",
        "--nworkers",
        str(cores),
        "--resources",
        " ".join(resources),
        "--no-dashboard",
    ]
    # this node's workers, then one set per other node
    _launch(worker, f"{root}/worker-here.log")
    _launch([*_others(nodes, cores, gpus), *worker], f"{root}/workers.log")
    return address
