"""``DaskEngine``: pilots and serverless jobs on Dask.

With no address it starts a private ``LocalCluster`` (worker processes, one
thread each, on loopback, its own directory); with one (``"tcp://host:8786"``)
it joins that scheduler. Scripts that start a private cluster need the
``if __name__ == "__main__":`` guard, since Dask's worker processes re-import
the main module. Dask reschedules the tasks of a worker that died (up to
``distributed.scheduler.allowed-failures`` times); after that the future raises
``WorkerDiedError``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import CancelledError
from typing import Any

from qlambda.core.errors import ConfigurationError, TaskFailedError, WorkerDiedError
from qlambda.engine.base import TaskSpec
from qlambda.engine.local import DEFAULT_PRELOAD
from qlambda.engine.local.worker import THREAD_VARIABLES
from qlambda.engine.remote.engine import RemoteEngine, RemoteTask, check_size

WORKERS_MAX_AGE = 2.0  # seconds between looks at the cluster's size


class DaskEngine(RemoteEngine):
    kind = "dask"

    def __init__(
        self,
        cpus: int | None = None,
        *,
        address: str | None = None,
        name: str = "dask",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        max_batch: int = 512,
        batch_seconds: float = 0.05,
        channel_host: str | None = None,
    ) -> None:
        check_size("Dask", cpus, address)
        super().__init__(
            name=name, max_batch=max_batch, batch_seconds=batch_seconds, channel_host=channel_host
        )
        self.address = address
        self._requested_cpus = cpus
        self._preload = tuple(preload)
        self._cluster: Any = None
        self._client: Any = None
        self._directory: str | None = None
        self._counted_at = 0.0

    # ------------------------------------------------------------------ hooks
    def _connect(self) -> tuple[int, str]:
        from distributed import Client, LocalCluster

        from qlambda.engine.dask import runner

        self._runner = runner
        try:
            if self.address is None:
                self._directory = tempfile.mkdtemp(prefix="qlambda-dask-")
                self._cluster = LocalCluster(
                    n_workers=self._requested_cpus or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    scheduler_port=0,
                    dashboard_address=None,
                    local_directory=self._directory,
                    silence_logs=logging.ERROR,
                    env=dict.fromkeys(THREAD_VARIABLES, "1"),
                )
                self._client = Client(self._cluster, set_as_default=False)
            else:
                self._client = Client(self.address, set_as_default=False, timeout=30)
        except OSError as exc:
            self._disconnect()
            where = "a private Dask cluster" if self.address is None else self.address
            raise ConfigurationError(f"cannot connect to {where}: {exc}") from exc
        host = "127.0.0.1"
        if self.address is not None:
            host = _own_address_towards(_host_of(self._client.scheduler.address))
        return max(1, self._count_threads()), host

    def _disconnect(self) -> None:
        for closable in (self._client, self._cluster):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # a cluster already gone
                    logging.getLogger(__name__).debug("closing %r failed", closable)
        self._client = self._cluster = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    def _check_resources(self, spec: TaskSpec) -> None:
        wanted = dict(spec.resources or {})
        if spec.gpus:
            wanted["GPU"] = spec.gpus
        if spec.cpus != 1:
            wanted["CPU"] = spec.cpus
        if not wanted:
            return
        available = self._worker_resources()
        for name, amount in wanted.items():
            if available.get(name, 0) < amount:
                hint = ""
                if name == "CPU":
                    hint = "; Dask workers run one task per thread unless they declare 'CPU'"
                raise ValueError(
                    f"the task asks for {amount:g} {name!r}; no Dask worker has that much "
                    f"(worker resources: {available or 'none'}){hint}"
                )

    def _launch_isolated(self, task: RemoteTask, options: dict[str, Any]) -> Any:
        spec = task.spec
        resources = dict(spec.resources or {})
        if spec.gpus:
            resources["GPU"] = spec.gpus
        if spec.cpus != 1:
            resources["CPU"] = spec.cpus
        fn, args, kwargs = spec.call()
        future = self._client.submit(
            self._runner.dask_run_isolated,
            self.channel.address,
            spec.task_id,
            fn,
            args,
            kwargs,
            options,
            self._preload,
            pure=False,
            key=f"qlambda-{spec.name or 'task'}-{spec.task_id}",
            priority=spec.priority,
            resources=resources or None,
        )
        future.add_done_callback(lambda f: self._isolated_done(task, _outcome(f)))
        return future

    def _launch_batch(self, tasks: list[RemoteTask]) -> None:
        calls = [t.spec.call() for t in tasks]
        future = self._client.submit(self._runner.dask_run_batch, calls, self._preload, pure=False)

        def done(f: Any) -> None:
            outcome = _outcome(f)
            if isinstance(outcome, BaseException):
                self._batch_done(tasks, outcome)
            else:
                results, seconds = outcome
                self._batch_done(tasks, results, seconds)

        future.add_done_callback(done)

    def _stop(self, task: RemoteTask) -> None:
        """Dask cannot interrupt a running thread: release the task, restart its worker."""
        if task.handle is not None:
            task.handle.cancel()
        if task.where is not None:
            threading.Thread(
                target=_restart_worker,
                args=(self._client, task.where),
                name="qlambda-dask-restart",
                daemon=True,
            ).start()

    # ---------------------------------------------------------------- queries
    def _count_threads(self) -> int:
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        return sum(w.get("nthreads", 1) for w in workers.values())

    def _worker_resources(self) -> dict[str, float]:
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        best: dict[str, float] = {}
        for worker in workers.values():
            for name, amount in (worker.get("resources") or {}).items():
                best[name] = max(best.get(name, 0), amount)
        return best

    @property
    def cpus(self) -> int:
        """The cluster's worker threads, looked up at most every couple of seconds."""
        now = time.monotonic()
        if self._client is not None and now - self._counted_at > WORKERS_MAX_AGE:
            self._counted_at = now
            self._cluster_cpus = max(1, self._count_threads())
        return self._cluster_cpus

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` this engine submits through."""
        return self._client

    def workers(self) -> dict[str, str]:
        """The cluster's workers: address -> name (an address changes when a worker restarts)."""
        workers = self._client.scheduler_info(n_workers=-1)["workers"]
        return {address: str(info.get("name", address)) for address, info in workers.items()}


def _restart_worker(client: Any, address: str) -> None:
    """Restart the worker (through its nanny) that runs a task being stopped."""
    try:
        client.restart_workers([address], raise_for_error=False)
    except Exception as exc:  # the cluster or this client closed meanwhile
        logging.getLogger(__name__).warning("could not restart Dask worker %s: %s", address, exc)


def _host_of(address: str) -> str:
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0]


def _own_address_towards(host: str) -> str:
    """This machine's address on the route to ``host`` (where its workers dial back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            address: str = probe.getsockname()[0]
            return address
        except OSError:
            return "127.0.0.1"


def _outcome(future: Any) -> Any:
    from distributed import KilledWorker

    try:
        return future.result()
    except CancelledError:
        return CancelledError()
    except KilledWorker as exc:
        return WorkerDiedError(f"worker died (Dask gave up after its retries): {exc}")
    except Exception as exc:
        if type(exc).__name__ == "FutureCancelledError":
            return CancelledError()
        return TaskFailedError(f"Dask could not run the task: {type(exc).__name__}: {exc}")
