"""Pilots (Pilot-Quantum, Mantha et al. [2]): a reservation of cpus and QPUs that runs tasks.

```python
from qlambda.pilot import PilotManager, PilotDescription
manager = PilotManager()
pilot = manager.create_pilot(PilotDescription(engine="local", cores=2, qpus=[{"name": "aer"}]))
future = pilot.submit(work, 3, resources={"cpus": 1, "timeout": "30s"})
```

A pilot hands out ``concurrent.futures.Future``s; its QPUs are scheduled by the
same dispatcher and policies as the serverless platform's.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from qlambda.core.errors import ConfigurationError
from qlambda.engine.base import TaskSpec
from qlambda.engine.registry import ENGINES, create_engine
from qlambda.platform.dispatcher import EventSink, QPUDispatcher
from qlambda.platform.functions import ship_user_code_by_value, takes_context
from qlambda.platform.pilot_tasks import PilotTaskRequests, run_pilot_task
from qlambda.platform.quantum_access import QuantumAccess, describe_backend, describe_backends
from qlambda.platform.reservations import Reservation
from qlambda.platform.units import parse_megabytes, parse_seconds

RESOURCE_KEYS = ("cpus", "memory", "timeout", "priority")
# Workers of a Ray or Dask pilot import what its tasks use on first use; a fresh
# cluster then runs the first task without waiting for the quantum stack to load.
REMOTE_PILOT_PRELOAD: tuple[str, ...] = ()
_pilot_numbers = itertools.count(1)
_task_numbers = itertools.count(1)


@dataclass(frozen=True)
class PilotDescription:
    """What to reserve: an engine, cores for classical tasks, and QPUs.

    ``engine``: "local" (processes here), "ray" or "dask". With ``address=None`` a
    Ray or Dask pilot starts a private local instance sized by ``cores``; with an
    address ("auto", "ray://host:10001", "tcp://scheduler:8786") it joins that cluster.
    ``qpus`` are backend configurations (mappings or BackendConfig, see docs/backends.md);
    without any, a pilot of a ``PilotManager`` that has QPUs shares the manager's.
    ``gpus``: the pilot's simulated QPUs run on Aer's GPU method (``device="GPU"``);
    refused where Aer finds no GPU.
    """

    engine: str = "local"
    address: str | None = None
    cores: int | None = None
    qpus: Sequence[Any] = field(default_factory=tuple)
    max_workers: int | None = None
    policy: str = "fifo"
    seed: int | None = None
    gpus: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            raise ConfigurationError(f"gpus must be a whole number, 0 or more; got {self.gpus!r}")
        if self.engine not in ENGINES:
            raise ConfigurationError(
                f"unknown engine {self.engine!r}; available: {', '.join(ENGINES)}"
            )
        if self.cores is not None and (not isinstance(self.cores, int) or self.cores < 1):
            raise ConfigurationError(f"cores must be a positive integer, got {self.cores!r}")
        if self.address is not None and self.engine == "local":
            raise ConfigurationError(
                f"address={self.address!r} needs engine='ray' or engine='dask'; "
                "the local engine runs on this machine"
            )
        if self.address is not None and self.cores is not None:
            raise ConfigurationError(
                "cores sizes a private local instance; a pilot that joins a cluster at "
                f"{self.address!r} uses the cluster's cores: leave cores unset"
            )


class Pilot(QuantumAccess):
    """Classical tasks on an engine's workers; quantum tasks (``sampler()``, ``estimator()``,
    ...) on its QPUs."""

    def __init__(
        self,
        description: PilotDescription,
        *,
        on_quantum_event: EventSink | None = None,
        calibration: Callable[[str], Any] | None = None,
        selection: Any = None,
        warm_quantum_stack: bool = False,
        sandbox: Any = None,
        trusted: bool = True,
        shared_qpus: QPUDispatcher | None = None,
    ) -> None:
        """``on_quantum_event`` hears every quantum task queued, started and finished;
        ``calibration`` and ``selection`` go to the QPU dispatcher. A Ray or Dask pilot's
        workers import the quantum stack up front only with ``warm_quantum_stack`` (the
        platform's do, for its jobs; a pilot's first plain task starts sooner without).
        ``sandbox`` and ``trusted`` go to the engine (``qlambda.engine.registry``);
        ``trusted`` also lets execution-option steps of the tasks' own code reach the QPU
        executors by value (a shared server's run only the options installed on it).
        ``shared_qpus``: the dispatcher of QPUs this pilot shares with others (its
        ``PilotManager``'s), used when its description has no QPUs of its own."""
        from qlambda.quantum.config import load_backends

        self.description = description
        self.id = f"pilot-{next(_pilot_numbers)}"
        if description.gpus and not description.qpus:
            raise ConfigurationError(
                f"gpus={description.gpus} runs the pilot's own QPUs on a GPU, and it has none; "
                "give it qpus=[...] (a PilotManager's shared QPUs take gpus= there)"
            )
        qpus = simulated_on_gpus(
            load_backends(list(description.qpus)) if description.qpus else [], description.gpus
        )
        self.engine = create_engine(
            description.engine,
            cpus=description.cores,
            max_workers=description.max_workers,
            address=description.address,
            name=self.id,
            preload=None
            if description.engine == "local" or warm_quantum_stack
            else REMOTE_PILOT_PRELOAD,
            sandbox=sandbox,
            trusted=trusted,
        )
        self._owns_qpus = shared_qpus is None or bool(qpus)
        if self._owns_qpus:
            self.qpus = qpus
            self.dispatcher = QPUDispatcher(
                self.qpus,
                policy=description.policy,
                seed=description.seed,
                on_event=on_quantum_event,
                calibration=calibration,
                selection=selection,
                # steps of the jobs' own code reach the QPUs only where all code is one user's
                allow_code=trusted,
            )
        else:
            assert shared_qpus is not None
            self.dispatcher = shared_qpus
            self.qpus = shared_qpus.configs()
        self.engine.start()
        try:
            if self._owns_qpus:
                self.dispatcher.start()
        except BaseException:
            self.engine.shutdown()
            raise
        self._canceled = False
        self._task_requests = PilotTaskRequests(self)
        self._context_of: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

    def __enter__(self) -> Pilot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    # ----------------------------------------------------------- classical
    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        resources: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` on a worker of this pilot.

        ``resources``: ``cpus`` (int), ``memory`` (MB or "2GB"), ``timeout`` (s or "5m"),
        ``priority`` (larger runs first); on Ray also ``gpus`` and ``resources``, the
        custom resources of a node, e.g. ``{"resources": {"qpu_torino": 1}}``.
        A ``fn`` with a parameter named ``ctx`` receives the task's context, this pilot's
        QPUs: ``ctx.sampler()``, ``ctx.estimator()``, ``ctx.backend(name)``.
        """
        return self.submit_call(fn, args, kwargs, resources=resources)

    def submit_call(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Mapping[str, Any] | None = None,
        name: str = "",
    ) -> Future[Any]:
        """:meth:`submit` with the arguments given as such, and the task's ``name`` (what
        its context's ``task_name`` says). A ``fn`` with a parameter named ``ctx``
        receives the task's context: this pilot's QPUs (``qlambda.platform.pilot_tasks``)."""
        if self._canceled:
            raise RuntimeError(f"{self.id} is canceled")
        ship_user_code_by_value(fn)
        accepted = getattr(self.engine, "RESOURCE_KEYS", RESOURCE_KEYS)
        limits = _limits(resources, accepted)
        kwargs = dict(kwargs or {})
        if not self._takes_context(fn):
            return self.engine.submit(TaskSpec(fn, tuple(args), kwargs, name=name, **limits))
        task_name = name or f"{self.id}-task-{next(_task_numbers)}"
        spec = TaskSpec(
            run_pilot_task,
            (fn, self.id, task_name, tuple(args), kwargs),
            name=task_name,
            on_message=self._task_requests.handle,
            **limits,
        )
        return self.engine.submit(spec)

    def _takes_context(self, fn: Callable[..., Any]) -> bool:
        """``takes_context``, remembered per function: reading a signature costs about
        as much as submitting a task."""
        try:
            return self._context_of[fn]
        except KeyError:
            self._context_of[fn] = answer = takes_context(fn)
            return answer
        except TypeError:  # not weakly referable
            return takes_context(fn)

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        resources: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """Like ``Executor.map``: results in order, the first error raised when reached."""
        futures = [
            self.submit(fn, *items, resources=resources) for items in zip(*iterables, strict=False)
        ]

        def results() -> Iterator[Any]:
            try:
                for future in futures:
                    yield future.result(timeout)
            finally:
                for future in futures:
                    future.cancel()

        return results()

    def cancel_task(self, future: Future[Any]) -> bool:
        """Cancel one task, stopping it if it already runs."""
        task_id = getattr(future, "task_id", None)
        return task_id is not None and self.engine.cancel(task_id)

    # ------------------------------------------------------------- quantum
    def _send(self, envelope: Any) -> Future[Any]:
        # a pilot's unnamed calls each go to the least loaded of its QPUs, not to one pin
        return self.dispatcher.submit(envelope, job_id=self.id, pin=False).future

    def _list_backends(self) -> list[dict[str, Any]]:
        return describe_backends(self.dispatcher)

    def _describe_backend(self, name: str) -> dict[str, Any]:
        description = describe_backend(self.dispatcher.configs(), name)
        data = self.dispatcher.device_data(name)
        if data:
            description["device_data"] = data
        return description

    # -------------------------------------------------------- reservations
    def reserve(
        self,
        qpu: str,
        *,
        start: Any = None,
        end: Any = None,
        duration: Any = None,
    ) -> Reservation:
        """Reserve QPU ``qpu`` for this pilot's tasks from ``start`` (a time as
        ``time.time()`` gives, or a datetime; None: now) to ``end``, or for ``duration``
        (seconds or "10m"). Meanwhile the QPU runs only this pilot's tasks; other pilots'
        wait until the window ends (``qlambda.platform.reservations``). A window that
        overlaps another reservation of the QPU is refused, naming it."""
        if self._canceled:
            raise RuntimeError(f"{self.id} is canceled")
        return self.dispatcher.reserve(qpu, self.id, start=start, end=end, duration=duration)

    def reservations(self) -> list[Reservation]:
        """This pilot's reservations not over yet."""
        return self.dispatcher.reservations(self.id)

    def cancel_reservation(self, reservation: Reservation) -> bool:
        if reservation.holder != self.id:
            raise ValueError(
                f"reservation {reservation.id} is {reservation.holder}'s, not {self.id}'s"
            )
        return self.dispatcher.cancel_reservation(reservation)

    # ------------------------------------------------------------- state
    def cancel(self) -> None:
        """Release the pilot: queued tasks are canceled, running ones stopped, its
        reservations given up."""
        if self._canceled:
            return
        self._canceled = True
        self.engine.shutdown()
        if self._owns_qpus:
            self.dispatcher.shutdown()
        else:  # the QPUs stay for the other pilots
            for reservation in self.reservations():
                self.dispatcher.cancel_reservation(reservation)
            self.dispatcher.cancel_job(self.id)

    @property
    def canceled(self) -> bool:
        return self._canceled

    def stats(self) -> dict[str, Any]:
        return {"id": self.id, **self.engine.stats(), "qpus": self.dispatcher.stats()}


class PilotManager:
    """Creates pilots and spreads tasks over them (least loaded first).

    ``qpus``: QPUs the manager's pilots share (backend configurations), one queue per QPU
    scheduled by ``policy``; a pilot whose description has no QPUs of its own uses these,
    and may reserve one for a time window (``Pilot.reserve``). ``gpus``: they simulate on
    Aer's GPU method."""

    def __init__(
        self,
        qpus: Sequence[Any] = (),
        *,
        gpus: int = 0,
        policy: str = "fifo",
        seed: int | None = None,
    ) -> None:
        self._pilots: list[Pilot] = []
        self._lock = threading.Lock()
        self.shared_qpus: QPUDispatcher | None = None
        if gpus and not qpus:
            raise ConfigurationError(
                f"gpus={gpus} runs the manager's QPUs on a GPU; give qpus=[...]"
            )
        if qpus:
            from qlambda.quantum.config import load_backends

            PilotDescription(gpus=gpus)  # the same checks
            configs = simulated_on_gpus(load_backends(list(qpus)), gpus)
            self.shared_qpus = QPUDispatcher(configs, policy=policy, seed=seed)
            self.shared_qpus.start()

    def create_pilot(self, description: PilotDescription | None = None) -> Pilot:
        pilot = Pilot(description or PilotDescription(), shared_qpus=self.shared_qpus)
        with self._lock:
            self._pilots.append(pilot)
        return pilot

    def pilots(self) -> list[Pilot]:
        with self._lock:
            return [p for p in self._pilots if not p.canceled]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run on the pilot with the least queued work per core."""
        pilots = self.pilots()
        if not pilots:
            raise RuntimeError("no pilot: create one with create_pilot(PilotDescription(...))")

        def load(pilot: Pilot) -> float:
            stats = pilot.engine.stats()
            share: float = (stats["queued"] + stats["running"]) / stats["cpus"]
            return share

        return min(pilots, key=load).submit(fn, *args, **kwargs)

    def cancel(self) -> None:
        for pilot in self.pilots():
            pilot.cancel()
        if self.shared_qpus is not None:
            self.shared_qpus.shutdown()

    def __enter__(self) -> PilotManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def simulated_on_gpus(qpus: list[Any], gpus: int) -> list[Any]:
    """``qpus`` simulating on Aer's GPU method where ``gpus`` asks for it; refused (with
    why) where Aer finds no GPU."""
    if not gpus:
        return qpus
    import dataclasses

    from qlambda.quantum.simulator_device import gpu_available, no_gpu_reason

    if not gpu_available():
        raise ConfigurationError(f"gpus={gpus}: {no_gpu_reason()}")
    return [dataclasses.replace(qpu, simulator_device="GPU") for qpu in qpus]


def _limits(
    resources: Mapping[str, Any] | None, accepted: Sequence[str] = RESOURCE_KEYS
) -> dict[str, Any]:
    resources = dict(resources or {})
    unknown = set(resources) - set(accepted)
    if unknown:
        raise ValueError(f"unknown resource(s) {sorted(unknown)}; accepted: {', '.join(accepted)}")
    limits: dict[str, Any] = {}
    if "cpus" in resources:
        limits["cpus"] = resources["cpus"]
    if "memory" in resources:
        limits["memory_mb"] = parse_megabytes(resources["memory"])
    if "timeout" in resources:
        limits["timeout_s"] = parse_seconds(resources["timeout"])
    if "priority" in resources:
        limits["priority"] = float(resources["priority"])
    if "gpus" in resources:
        gpus = resources["gpus"]
        if isinstance(gpus, bool) or not isinstance(gpus, int | float) or gpus < 0:
            raise ValueError(f"gpus must be a number of gpus (0 or more), got {gpus!r}")
        limits["gpus"] = gpus
    if "resources" in resources:
        custom = resources["resources"]
        if not isinstance(custom, Mapping):
            raise ValueError(f"resources must map custom resource names to amounts, got {custom!r}")
        limits["resources"] = dict(custom)
    return limits
