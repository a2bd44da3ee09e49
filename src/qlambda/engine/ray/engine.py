"""``RayEngine``: pilots and serverless jobs on a Ray cluster.

With no address it starts a private local Ray instance; with one (``"auto"``,
``"host:6379"``, ``"ray://host:10001"``) it joins that cluster. Small plain tasks
travel in batches (see ``RemoteEngine``); jobs and tasks with limits run as single
Ray tasks with their resource requests (cpus, gpus, memory, custom resources such
as a node's QPU) and a channel back to this process. Ray retries a task whose
worker or node died ``max_retries`` times; after that the future raises
``WorkerDiedError`` with Ray's reason.
"""

from __future__ import annotations

import time
from concurrent.futures import CancelledError, Future
from typing import Any

from qlambda.core.errors import ConfigurationError, TaskFailedError, WorkerDiedError
from qlambda.engine.base import TaskSpec
from qlambda.engine.local import DEFAULT_PRELOAD
from qlambda.engine.ray import connection
from qlambda.engine.remote.engine import RemoteEngine, RemoteTask, check_size

STANDARD_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")
RESOURCES_MAX_AGE = 2.0  # seconds between looks at the cluster's size


class RayEngine(RemoteEngine):
    kind = "ray"

    def __init__(
        self,
        cpus: int | None = None,
        *,
        address: str | None = None,
        name: str = "ray",
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        max_retries: int = 3,
        max_batch: int = 512,
        batch_seconds: float = 0.05,
        channel_host: str | None = None,
    ) -> None:
        check_size("Ray", cpus, address)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be 0 or more, got {max_retries!r}")
        super().__init__(
            name=name, max_batch=max_batch, batch_seconds=batch_seconds, channel_host=channel_host
        )
        self.address = address
        self._requested_cpus = cpus
        self._preload = tuple(preload)
        self._max_retries = max_retries
        self._resources: dict[str, float] = {}
        self._resources_at = 0.0

    # ------------------------------------------------------------------ hooks
    def _connect(self) -> tuple[int, str]:
        connection.acquire(self.address, self._requested_cpus, self._preload)

        from qlambda.engine.ray import runner

        self._runner = runner
        self._refresh_resources()
        cpus = int(self._resources.get("CPU", 0))
        if cpus < 1:
            connection.release()
            raise ConfigurationError(f"{connection.describe(self.address)} has no cpus")
        host = self._channel_host or ("127.0.0.1" if self.address is None else _own_ip())
        return cpus, host

    def _disconnect(self) -> None:
        connection.release()

    def _check_resources(self, spec: TaskSpec) -> None:
        wanted = {"CPU": float(spec.cpus), "GPU": float(spec.gpus or 0)}
        for name, amount in (spec.resources or {}).items():
            if not isinstance(name, str) or name in STANDARD_RESOURCES:
                raise ValueError(
                    f"custom resource {name!r}: ask for cpus, gpus and memory with their own "
                    "keys; custom resources are other names, e.g. {'qpu_torino': 1}"
                )
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
                raise ValueError(
                    f"custom resource {name!r} needs an amount above 0, not {amount!r}"
                )
            wanted[name] = float(amount)
        for name, amount in wanted.items():
            if amount and self._resources.get(name, 0) < amount:
                self._refresh_resources()
            if amount and self._resources.get(name, 0) < amount:
                custom = sorted(n for n in self._resources if _is_custom(n))
                raise ValueError(
                    f"the task asks for {amount:g} {name!r}; the Ray cluster has "
                    f"{self._resources.get(name, 0):g}. Custom resources there: "
                    f"{', '.join(custom) or 'none'}"
                )

    def _launch_isolated(self, task: RemoteTask, options: dict[str, Any]) -> Any:
        spec = task.spec
        ray_options: dict[str, Any] = {
            "num_cpus": spec.cpus,
            "max_retries": self._max_retries,
            "retry_exceptions": False,
            "name": spec.name or "qlambda-task",
        }
        if spec.gpus:
            ray_options["num_gpus"] = spec.gpus
        if spec.memory_mb is not None:
            ray_options["memory"] = int(spec.memory_mb * 2**20)
        if spec.resources:
            ray_options["resources"] = dict(spec.resources)
        fn, args, kwargs = spec.call()
        ref = self._runner.ray_run_isolated.options(**ray_options).remote(
            self.channel.address, spec.task_id, fn, args, kwargs, options
        )
        ref.future().add_done_callback(lambda f: self._isolated_done(task, _outcome(f)))
        return ref

    def _launch_batch(self, tasks: list[RemoteTask]) -> None:
        calls = [t.spec.call() for t in tasks]
        ref = self._runner.ray_run_batch.options(max_retries=self._max_retries).remote(calls)

        def done(future: Future[Any]) -> None:
            outcome = _outcome(future)
            if isinstance(outcome, BaseException):
                self._batch_done(tasks, outcome)
            else:
                results, seconds = outcome
                self._batch_done(tasks, results, seconds)

        ref.future().add_done_callback(done)

    def _stop(self, task: RemoteTask) -> None:
        import ray

        if task.handle is not None:
            ray.cancel(task.handle, force=True)

    # ---------------------------------------------------------------- queries
    def _refresh_resources(self) -> None:
        import ray

        self._resources = dict(ray.cluster_resources())
        self._resources_at = time.monotonic()
        self._cluster_cpus = int(self._resources.get("CPU", 0)) or self._cluster_cpus

    @property
    def cpus(self) -> int:
        if self._thread is not None and time.monotonic() - self._resources_at > RESOURCES_MAX_AGE:
            self._refresh_resources()
        return self._cluster_cpus

    def stats(self) -> dict[str, Any]:
        stats = super().stats()
        stats["address"] = self.address or "private local instance"
        return stats

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes: id, address and resources."""
        import ray

        return [
            {"id": n["NodeID"], "address": n["NodeManagerAddress"], "resources": n["Resources"]}
            for n in ray.nodes()
            if n.get("Alive")
        ]


def _is_custom(name: str) -> bool:
    return name not in STANDARD_RESOURCES and not name.startswith("node:")


def _own_ip() -> str:
    import ray

    address: str = ray.util.get_node_ip_address()
    return address


def _outcome(future: Future[Any]) -> Any:
    """The remote function's return value, or the error to give the task's future."""
    import ray.exceptions as rex

    try:
        return future.result()
    except (rex.TaskCancelledError, CancelledError):
        return CancelledError()
    except (
        rex.WorkerCrashedError,
        rex.NodeDiedError,
        rex.OutOfMemoryError,
        rex.ObjectLostError,
        rex.LocalRayletDiedError,
    ) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WorkerDiedError(f"worker died (Ray gave up after its retries): {reason}")
    except rex.RayError as exc:
        return TaskFailedError(f"Ray could not run the task: {type(exc).__name__}: {exc}")
