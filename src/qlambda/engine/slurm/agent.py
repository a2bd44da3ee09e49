"""The pilot agent: what a SLURM pilot's placeholder job runs inside its allocation.

    python -m qlambda.engine.slurm.agent DIRECTORY

``DIRECTORY`` holds ``agent.json`` (where the control plane listens, which engine to
start) and ``agent.key`` (the channel's key). The agent dials the control plane,
starts the engine (the local pool on one node; Ray or Dask across the allocation's
nodes, see ``qlambda.engine.slurm.cluster``), says it is ready, then runs the tasks
it is sent and sends their results back in batches. It leaves when told to stop, when
the control plane's end of the channel closes, or when SLURM signals the job.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from qlambda.core.errors import WorkerDiedError
from qlambda.engine import protocol
from qlambda.engine.base import Engine, PickledCall, TaskSpec
from qlambda.engine.local.userfault import error_info
from qlambda.engine.local.wire import loads
from qlambda.engine.local.worker import encode_value
from qlambda.engine.slurm.cluster import node_count, wait_for_nodes

MAX_RESULTS_PER_MESSAGE = 512
DEATH_REPORT_DELAY = 2.0
"""How long a worker's death waits before it is reported: SLURM ending the job signals
the agent and its workers together, and the workers may die first; the control plane
then tells the tasks SLURM's reason (walltime, scancel) instead of "worker died"."""


class Agent:
    def __init__(self, conn: Connection, job_id: int) -> None:
        self._conn = conn
        self._job_id = job_id
        self._send_lock = threading.Lock()
        self._outbox: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._inner: dict[int, int] = {}  # control plane's task id -> the engine's
        self.engine: Engine | None = None
        self._sender = threading.Thread(target=self._send_results, name="agent-send", daemon=True)
        self._sender.start()

    def send(self, message: Any) -> None:
        data = protocol.encode(message)
        with self._send_lock:
            self._conn.send_bytes(data)

    def notify(self, kind: str, payload: Any) -> None:
        self.send(protocol.Notify(self._job_id, kind, payload))

    def serve(self) -> None:
        """Run what arrives until told to stop or the channel closes."""
        assert self.engine is not None
        while True:
            try:
                message = loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "stop":
                return
            if kind == "run":
                for task_id, function, arguments, limits in message[1]:
                    self._run(task_id, function, arguments, limits)
            elif kind == "cancel":
                inner = self._inner.get(message[1])
                if inner is not None:
                    self.engine.cancel(inner, "canceled by the pilot")

    def _run(self, task_id: int, function: bytes, arguments: bytes, limits: dict[str, Any]) -> None:
        assert self.engine is not None
        try:
            future = self.engine.submit(TaskSpec(PickledCall(function, arguments), **limits))
        except BaseException as exc:
            self._outbox.put(_failure(task_id, exc))
            return
        self._inner[task_id] = future.task_id
        future.add_done_callback(lambda done: self._done(task_id, done))

    def _done(self, task_id: int, future: Future[Any]) -> None:
        self._inner.pop(task_id, None)
        if future.cancelled():
            self._outbox.put(_failure(task_id, RuntimeError("canceled in the agent")))
            return
        error = future.exception()
        if isinstance(error, WorkerDiedError):
            failure = _failure(task_id, error)
            timer = threading.Timer(DEATH_REPORT_DELAY, self._outbox.put, (failure,))
            timer.daemon = True  # an agent SLURM ends leaves without reporting it
            timer.start()
        elif error is not None:
            self._outbox.put(_failure(task_id, error))
            return
        try:
            value = encode_value(future.result())
        except TypeError as exc:
            self._outbox.put(_failure(task_id, exc))
            return
        self._outbox.put([task_id, True, value.format, value.data])

    def _send_results(self) -> None:
        """Results leave as they come, several to a message when they come together."""
        while True:
            item = self._outbox.get()
            if item is None:
                return
            items = [item]
            while len(items) < MAX_RESULTS_PER_MESSAGE:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._outbox.put(None)
                    break
                items.append(more)
            try:
                self.notify("done", items)
            except OSError:
                return

    def close(self) -> None:
        self._outbox.put(None)
        self._sender.join(5.0)


def _failure(task_id: int, exc: BaseException) -> list[Any]:
    info = error_info(exc)
    return [task_id, False, info.type, info.message, info.traceback, info.exception]


def start_engine(config: dict[str, Any]) -> Engine:
    """The pilot's engine in this allocation: the local pool on this node, or Ray / Dask
    across the allocation's nodes."""
    from qlambda.engine.registry import create_engine

    cores = int(os.environ.get("SLURM_CPUS_PER_TASK") or config.get("cores") or 1)
    kind = config.get("engine", "local")
    preload = tuple(config.get("preload", ()))
    name = f"{config.get('name', 'pilot')}-agent"
    if kind == "local":
        return create_engine("local", cpus=cores, name=name, preload=preload)
    from qlambda.engine.slurm.cluster import start_cluster

    address = start_cluster(kind, cores=cores, gpus=int(config.get("gpus", 0)))
    if address is None:  # one node: the engine's private instance, sized to the allocation
        return create_engine(kind, cpus=cores, name=name, preload=preload)
    return create_engine(kind, address=address, name=name, preload=preload)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    directory = argv[0]
    config = json.loads(Path(directory, "agent.json").read_text())
    key = Path(directory, "agent.key").read_bytes()
    job_id = int(os.environ.get("SLURM_JOB_ID", "0"))
    conn = Client((config["host"], config["port"]), family="AF_INET", authkey=key)
    agent = Agent(conn, job_id)
    agent.send(protocol.Hello(job_id, os.getpid(), socket.gethostname()))

    def leave(signum: int, frame: Any) -> None:
        # SLURM ends the job (walltime, scancel): the control plane reads why from squeue
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    started = time.monotonic()
    try:
        agent.engine = start_engine(config)
        agent.engine.start()
        agent.engine.wait_ready(300)
        nodes = node_count()
        if nodes > 1:
            wait_for_nodes(agent.engine, nodes * int(config.get("cores") or 1))
    except Exception as exc:
        agent.notify("failed", f"{type(exc).__name__}: {exc}")
        raise
    agent.notify(
        "ready",
        {
            "cpus": agent.engine.cpus,
            "engine_seconds": round(time.monotonic() - started, 3),
            "nodes": os.environ.get("SLURM_JOB_NODELIST", socket.gethostname()),
            "host": socket.gethostname(),
        },
    )
    try:
        agent.serve()
    finally:
        agent.close()
        agent.engine.shutdown()
        with contextlib.suppress(OSError):
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
