"""Pilot-Quantum's API on qlambda's pilots: a Pilot-Quantum program runs with its import
line changed.

```python
from qlambda.compat.pilot_quantum import ExecutionEngine, PilotComputeService
# was: from pilot.pilot_compute_service import ExecutionEngine, PilotComputeService

pcs = PilotComputeService(execution_engine=ExecutionEngine.RAY, working_directory=WORK)
pcs.create_pilot(pilot_compute_description={"resource": "ssh://localhost", "type": "ray",
                                            "number_of_nodes": 1, "cores_per_node": 2})
tasks = [pcs.submit_task(square, i, resources={"num_cpus": 1}, task_name=f"t-{i}")
         for i in range(10)]
pcs.wait_tasks(tasks)
print(pcs.get_results(tasks))
pcs.cancel()
```

Each pilot is a :class:`qlambda.pilot.Pilot` (``pilot.pilot``) on the engine its
description's ``type`` names, with QPUs (by default one ideal Aer simulator, ``aer``)
scheduled by qlambda's dispatcher. A task function with a parameter named ``ctx``
receives its pilot's QPUs: ``ctx.sampler()``, ``ctx.estimator()``, ``ctx.backend(name)``.
The mapping of every key, and what is refused: docs/coming-from-pilot-quantum.md.
"""

from __future__ import annotations

import concurrent.futures
import enum
import math
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from qlambda.platform.pilot import Pilot, PilotDescription

__all__ = [
    "ExecutionEngine",
    "PilotAPIException",
    "PilotCompute",
    "PilotComputeService",
    "gpus_on_this_machine",
]

DEFAULT_QPUS: tuple[dict[str, Any], ...] = ({"name": "aer", "kind": "aer"},)
LOCAL_RESOURCES = ("local", "localhost", "ssh://localhost", "fork://localhost", "local://localhost")
# what a batch system would use; a pilot on this machine keeps them in its details
BATCH_KEYS = ("queue", "project", "conda_environment", "scheduler_script_commands")
DESCRIPTION_KEYS = (
    "resource",
    "working_directory",
    "type",
    "name",
    "number_of_nodes",
    "cores_per_node",
    "gpus_per_node",
    "walltime",
    *BATCH_KEYS,
    # qlambda's own
    "qpus",
    "address",
    "policy",
    "seed",
)
TASK_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "timeout", "priority", "resources")


class PilotAPIException(ValueError):
    """A pilot description, a task's resources or a call that qlambda cannot honour."""


class ExecutionEngine(enum.Enum):
    """Where a pilot's tasks run: Ray or Dask (a private local instance, or the cluster
    at the description's ``address``), or qlambda's own warm local processes."""

    RAY = "ray"
    DASK = "dask"
    LOCAL = "local"


def gpus_on_this_machine() -> int:
    """How many NVIDIA GPUs this machine exposes (``/dev/nvidia0``, ``/dev/nvidia1``, ...)."""
    try:
        names = os.listdir("/dev")
    except OSError:
        return 0
    return sum(1 for name in names if name.startswith("nvidia") and name[6:].isdigit())


def _no_gpu(what: str) -> PilotAPIException:
    return PilotAPIException(
        f"{what}: this machine has no GPU (no /dev/nvidia* device), so a task asking for "
        "one would never start; ask for 0 GPUs here, or run the pilot where there are GPUs "
        "(a Ray cluster with GPU nodes, through the description's 'address')"
    )


def _whole(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise PilotAPIException(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise PilotAPIException(f"{what} must be {minimum} or more, got {value!r}")
    return int(value)


class PilotCompute:
    """One pilot: a :class:`qlambda.pilot.Pilot` (``.pilot``) and its description."""

    def __init__(self, name: str, pilot: Pilot, details: dict[str, Any]) -> None:
        self.name = name
        self.pilot = pilot
        self._details = details
        self._timer: threading.Timer | None = None

    def __repr__(self) -> str:
        return f"<PilotCompute {self.name} {self.get_state()}>"

    def get_id(self) -> str:
        return self.name

    def get_state(self) -> str:
        return "CANCELED" if self.pilot.canceled else "RUNNING"

    def get_details(self) -> dict[str, Any]:
        """The description it was made from, and its engine's counts."""
        return {**self._details, **self.pilot.stats()}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until its workers have started."""
        ready: bool = self.pilot.engine.wait_ready(timeout)
        return ready

    def submit_task(
        self,
        func: Callable[..., Any],
        *args: Any,
        resources: Mapping[str, Any] | None = None,
        task_name: str | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``func(*args, **kwargs)`` on this pilot (see
        :meth:`PilotComputeService.submit_task`)."""
        name = task_name or f"task-{uuid.uuid4()}"
        limits = _task_limits(resources, self)
        future = self.pilot.submit_call(func, args, kwargs, resources=limits, name=name)
        future.task_name = name  # type: ignore[attr-defined]
        return future

    def wait_tasks(self, tasks: Iterable[Future[Any]], timeout: float | None = None) -> None:
        _wait(tasks, timeout)

    def get_results(self, tasks: Iterable[Future[Any]], timeout: float | None = None) -> list[Any]:
        return _results(tasks, timeout)

    def cancel(self) -> None:
        """Release it: queued tasks are canceled, running ones stopped."""
        if self._timer is not None:
            self._timer.cancel()
        self.pilot.cancel()

    def _load(self) -> float:
        stats = self.pilot.engine.stats()
        share: float = (stats["queued"] + stats["running"]) / max(1, stats["cpus"])
        return share


class PilotComputeService:
    """Creates pilots and runs tasks on them, as Pilot-Quantum's ``PilotComputeService``.

    ``execution_engine``: the engine of pilots whose description names no ``type``
    (None: qlambda's local processes). ``working_directory``: created if missing; each
    service gets a ``pcs-<uuid>`` folder in it, as Pilot-Quantum's does (qlambda keeps no
    files there; task functions may).
    """

    def __init__(
        self,
        execution_engine: ExecutionEngine | str | None = None,
        working_directory: str | os.PathLike[str] = "/tmp",
    ) -> None:
        self.execution_engine = None if execution_engine is None else _engine(execution_engine)
        self.working_directory = str(Path(working_directory) / f"pcs-{uuid.uuid4()}")
        Path(self.working_directory).mkdir(parents=True, exist_ok=True)
        self.pilots: dict[str, PilotCompute] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PilotComputeService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def create_pilot(self, pilot_compute_description: Mapping[str, Any]) -> PilotCompute:
        """Start a pilot from a Pilot-Quantum description (a dict); it is ready to take
        tasks when this returns. Keys: docs/coming-from-pilot-quantum.md."""
        description = dict(pilot_compute_description)
        unknown = sorted(set(description) - set(DESCRIPTION_KEYS))
        if unknown:
            raise PilotAPIException(
                f"unknown pilot description key(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(DESCRIPTION_KEYS)}"
            )
        name = str(description.get("name") or f"pilot-{uuid.uuid4()}")
        if name in self.pilots:
            raise PilotAPIException(f"a pilot named {name!r} exists already in this service")
        engine = self._engine_of(description)
        address = description.get("address")
        _check_resource(description.get("resource"), address)
        if description.get("gpus_per_node") and address is None:
            gpus = _whole(description["gpus_per_node"], "gpus_per_node", 0)
            if gpus and not gpus_on_this_machine():
                raise _no_gpu(f"gpus_per_node={gpus}")
        walltime = description.get("walltime")
        if walltime is not None and (
            isinstance(walltime, bool) or not isinstance(walltime, int | float) or walltime <= 0
        ):
            raise PilotAPIException(f"walltime is minutes, a number above 0; got {walltime!r}")
        if "working_directory" in description:
            Path(str(description["working_directory"])).mkdir(parents=True, exist_ok=True)
        pilot = Pilot(
            PilotDescription(
                engine=engine,
                address=address,
                cores=_cores(description, address),
                qpus=tuple(description.get("qpus") or DEFAULT_QPUS),
                policy=description.get("policy", "fifo"),
                seed=description.get("seed"),
            )
        )
        compute = PilotCompute(name, pilot, {**description, "name": name, "type": engine})
        if walltime is not None:  # the pilot ends when its wall time is up, as a batch job
            compute._timer = threading.Timer(float(walltime) * 60, compute.cancel)
            compute._timer.daemon = True
            compute._timer.start()
        with self._lock:
            self.pilots[name] = compute
        return compute

    def _engine_of(self, description: Mapping[str, Any]) -> str:
        declared = description.get("type")
        if declared is None:
            return "local" if self.execution_engine is None else self.execution_engine.value
        engine = _engine(declared).value
        if self.execution_engine is not None and self.execution_engine.value != engine:
            raise PilotAPIException(
                f"the description's type {engine!r} contradicts the service's execution "
                f"engine {self.execution_engine.value!r}; give the same, or leave one out"
            )
        return engine

    def get_pilots(self) -> list[str]:
        with self._lock:
            return [name for name, p in self.pilots.items() if not p.pilot.canceled]

    def get_pilot(self, name: str) -> PilotCompute:
        with self._lock:
            if name not in self.pilots:
                raise PilotAPIException(
                    f"pilot {name!r} not found; pilots: {', '.join(self.pilots) or 'none'}"
                )
            return self.pilots[name]

    def submit_task(
        self,
        func: Callable[..., Any],
        *args: Any,
        resources: Mapping[str, Any] | None = None,
        task_name: str | None = None,
        pilot: str | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``func(*args, **kwargs)`` on pilot ``pilot`` (a name; None: the least
        loaded), returning a ``concurrent.futures.Future`` (``.result()``).

        ``resources``: ``num_cpus`` (whole cpus), ``num_gpus`` (refused where there is no
        GPU), ``memory`` (bytes, as Ray's), and qlambda's ``timeout`` (seconds or "5m"),
        ``priority``; on Ray, ``resources`` (a node's custom resources). ``task_name``
        names the task (never passed to ``func``); a ``func`` with a ``ctx`` parameter
        receives its pilot's QPUs."""
        target = self.get_pilot(pilot) if pilot is not None else self._least_loaded()
        return target.submit_task(func, *args, resources=resources, task_name=task_name, **kwargs)

    def _least_loaded(self) -> PilotCompute:
        with self._lock:
            running = [p for p in self.pilots.values() if not p.pilot.canceled]
        if not running:
            raise PilotAPIException(
                "no pilot to run the task: create one with create_pilot(description)"
            )
        return min(running, key=PilotCompute._load)

    def task(self, func: Callable[..., Any]) -> Callable[..., Future[Any]]:
        """A decorator: calling the function submits it as a task."""

        def submit(*args: Any, **kwargs: Any) -> Future[Any]:
            return self.submit_task(func, *args, **kwargs)

        return submit

    def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Submit ``func`` as a task and return its result."""
        return self.submit_task(func, *args, **kwargs).result()

    def wait_tasks(self, tasks: Iterable[Future[Any]], timeout: float | None = None) -> None:
        """Block until every task has ended (``timeout``: raise TimeoutError after it)."""
        _wait(tasks, timeout)

    def get_results(self, tasks: Iterable[Future[Any]], timeout: float | None = None) -> list[Any]:
        """The tasks' results in order; a failed task raises its error here."""
        return _results(tasks, timeout)

    def cancel(self) -> None:
        """Release every pilot of the service."""
        with self._lock:
            pilots = list(self.pilots.values())
        for compute in pilots:
            compute.cancel()


def _engine(value: ExecutionEngine | str) -> ExecutionEngine:
    if isinstance(value, ExecutionEngine):
        return value
    try:
        return ExecutionEngine(str(value).lower())
    except ValueError:
        accepted = ", ".join(repr(e.value) for e in ExecutionEngine)
        raise PilotAPIException(f"unknown type {value!r}; accepted: {accepted}") from None


def _check_resource(resource: Any, address: Any) -> None:
    if resource is None or resource in LOCAL_RESOURCES:
        return
    if address is not None:
        raise PilotAPIException(
            f"resource {resource!r} and address {address!r}: give one; a pilot either runs "
            "on this machine (resource) or joins the Ray or Dask cluster at address"
        )
    raise PilotAPIException(
        f"resource {resource!r} is not one qlambda starts pilots on: it runs a pilot on this "
        f"machine ({', '.join(map(repr, LOCAL_RESOURCES))}) or joins a running Ray or Dask "
        "cluster given as 'address' (start it under Slurm or PBS yourself, then give its "
        "address); it submits no batch jobs"
    )


def _cores(description: Mapping[str, Any], address: Any) -> int | None:
    nodes = description.get("number_of_nodes")
    per_node = description.get("cores_per_node")
    if nodes is None and per_node is None:
        return None
    if address is not None:
        raise PilotAPIException(
            "number_of_nodes and cores_per_node size a pilot started here; a pilot that "
            f"joins the cluster at {address!r} uses the cluster's nodes: leave them out"
        )
    count = _whole(1 if nodes is None else nodes, "number_of_nodes", 1)
    per_node = per_node if per_node is not None else (os.cpu_count() or 1)
    return count * _whole(per_node, "cores_per_node", 1)


def _task_limits(resources: Mapping[str, Any] | None, compute: PilotCompute) -> dict[str, Any]:
    """Pilot-Quantum's (Ray's) task resources as qlambda's."""
    given = dict(resources or {})
    unknown = sorted(set(given) - set(TASK_RESOURCE_KEYS))
    if unknown:
        raise PilotAPIException(
            f"unknown task resource(s) {', '.join(unknown)}; accepted: "
            f"{', '.join(TASK_RESOURCE_KEYS)}"
        )
    limits: dict[str, Any] = {}
    if given.get("num_cpus") is not None:
        limits["cpus"] = _whole(given["num_cpus"], "num_cpus", 1)
    gpus = given.get("num_gpus")
    if gpus is not None and gpus != 0:
        if isinstance(gpus, bool) or not isinstance(gpus, int | float) or gpus < 0:
            raise PilotAPIException(f"num_gpus must be a number of GPUs, 0 or more; got {gpus!r}")
        if compute.pilot.description.address is None and not gpus_on_this_machine():
            raise _no_gpu(f"num_gpus={gpus}")
        if compute.pilot.description.engine == "local":
            raise PilotAPIException(
                f"num_gpus={gpus}: qlambda's local engine does not hand out GPUs; give the "
                "pilot type 'ray', whose tasks reserve them"
            )
        limits["gpus"] = gpus
    if given.get("memory") is not None:
        memory = given["memory"]
        if isinstance(memory, bool) or not isinstance(memory, int | float) or memory <= 0:
            raise PilotAPIException(f"memory is bytes (as Ray's), above 0; got {memory!r}")
        limits["memory"] = math.ceil(memory / 2**20)  # MB
    for key in ("timeout", "priority", "resources"):
        if given.get(key) is not None:
            limits[key] = given[key]
    return limits


def _wait(tasks: Iterable[Future[Any]], timeout: float | None) -> None:
    futures = _futures(tasks)
    _, pending = concurrent.futures.wait(futures, timeout=timeout)
    if pending:
        raise TimeoutError(
            f"{len(pending)} of {len(futures)} tasks still running after {timeout} s"
        )


def _results(tasks: Iterable[Future[Any]], timeout: float | None) -> list[Any]:
    futures = _futures(tasks)
    _wait(futures, timeout)
    return [future.result() for future in futures]


def _futures(tasks: Iterable[Future[Any]]) -> Sequence[Future[Any]]:
    futures = list(tasks)
    for task in futures:
        if not isinstance(task, Future):
            raise PilotAPIException(
                f"expected the tasks submit_task returned, got {type(task).__name__}"
            )
    return futures
