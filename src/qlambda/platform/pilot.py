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
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from qlambda.core.errors import ConfigurationError, PilotEndedError
from qlambda.engine.base import Engine, TaskSpec
from qlambda.engine.registry import PILOT_ENGINES, create_engine
from qlambda.platform.dispatcher import EventSink, QPUDispatcher
from qlambda.platform.functions import ship_user_code_by_value, takes_context
from qlambda.platform.pilot_tasks import PilotTaskRequests, run_pilot_task
from qlambda.platform.quantum_access import QuantumAccess, describe_backend, describe_backends
from qlambda.platform.reservations import Reservation
from qlambda.platform.units import parse_megabytes, parse_seconds, parse_walltime

RESOURCE_KEYS = ("cpus", "memory", "timeout", "priority")
# what a pilot adds to its engine's resource keys
PILOT_RESOURCE_KEYS = ("gpus", "mpi_ranks")
BATCH_FIELDS = ("nodes", "walltime", "queue", "project", "agent_engine")
AGENT_ENGINES = ("local", "ray", "dask")
# Workers of a Ray or Dask pilot import what its tasks use on first use; a fresh
# cluster then runs the first task without waiting for the quantum stack to load.
REMOTE_PILOT_PRELOAD: tuple[str, ...] = ()
_pilot_numbers = itertools.count(1)
_task_numbers = itertools.count(1)


@dataclass(frozen=True)
class PilotDescription:
    """What to reserve: an engine, cores for classical tasks, and QPUs.

    ``engine``: "local" (processes here), "ray", "dask" or "slurm". With ``address=None``
    a Ray or Dask pilot starts a private local instance sized by ``cores``; with an
    address ("auto", "ray://host:10001", "tcp://scheduler:8786") it joins that cluster.
    ``qpus`` are backend configurations (mappings or BackendConfig, see docs/backends.md);
    without any, a pilot of a ``PilotManager`` that has QPUs shares the manager's.
    ``gpus``: GPUs the pilot holds for its tasks (``resources={"gpus": 1}``): a SLURM
    pilot asks for them with ``--gpus``; Ray and Dask place tasks on nodes that have
    them; the local pool has them only if this machine does. A pilot's own simulated
    QPUs (outside SLURM) run on Aer's GPU method (``device="GPU"``), refused where Aer
    finds no GPU.

    ``engine="slurm"`` (docs/hpc.md): the pilot is a placeholder batch job of ``nodes``
    nodes with ``cores`` cores each (default 1), for ``walltime`` (seconds or "30m"),
    in partition ``queue`` charged to account ``project``; inside, its agent runs
    ``agent_engine``: "local" (one node, the default), "ray" or "dask" (the default
    across nodes: "ray").
    """

    engine: str = "local"
    address: str | None = None
    cores: int | None = None
    qpus: Sequence[Any] = field(default_factory=tuple)
    max_workers: int | None = None
    policy: str = "fifo"
    seed: int | None = None
    gpus: int = 0
    nodes: int | None = None
    walltime: float | str | None = None
    queue: str | None = None
    project: str | None = None
    agent_engine: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            raise ConfigurationError(f"gpus must be a whole number, 0 or more; got {self.gpus!r}")
        if self.engine not in PILOT_ENGINES:
            raise ConfigurationError(
                f"unknown engine {self.engine!r}; available: {', '.join(PILOT_ENGINES)}"
            )
        if self.engine == "slurm":
            self._check_batch()
        else:
            given = [name for name in BATCH_FIELDS if getattr(self, name) is not None]
            if given:
                raise ConfigurationError(
                    f"{', '.join(given)} describe a batch job: they need engine='slurm' "
                    f"(this pilot's engine is {self.engine!r})"
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

    def _check_batch(self) -> None:
        if self.address is not None:
            raise ConfigurationError(
                f"address={self.address!r}: a SLURM pilot's cluster is its own allocation; "
                "to join a running Ray or Dask cluster use engine='ray' or 'dask'"
            )
        if self.max_workers is not None:
            raise ConfigurationError("max_workers is the local engine's; a SLURM pilot has cores")
        nodes = self.nodes
        if nodes is not None and (
            isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1
        ):
            raise ConfigurationError(f"nodes must be a positive integer, got {nodes!r}")
        if self.agent_engine is not None and self.agent_engine not in AGENT_ENGINES:
            raise ConfigurationError(
                f"unknown agent_engine {self.agent_engine!r}; inside the allocation the agent "
                f"runs one of {', '.join(AGENT_ENGINES)}"
            )
        if (nodes or 1) > 1 and self.agent_engine == "local":
            raise ConfigurationError(
                f"nodes={nodes}: the local pool runs on one node; across nodes use "
                "agent_engine='ray' or 'dask'"
            )
        if self.walltime is not None:
            try:
                parse_walltime(self.walltime)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from exc
        for name in ("queue", "project"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{name} must be a SLURM {name} name, got {value!r}")


@dataclass(frozen=True)
class PilotEvent:
    """One step of a pilot's life, at wall-clock time ``ts``."""

    pilot_id: str
    ts: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


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
        self._events: list[PilotEvent] = []
        self._events_lock = threading.Lock()
        slurm = description.engine == "slurm"
        if description.gpus and not slurm:
            from qlambda.engine.gpus import check_gpus_here

            if description.engine == "local" or description.address is None:
                check_gpus_here(description.gpus, f"the {description.engine} engine")
        qpus = load_backends(list(description.qpus)) if description.qpus else []
        if not slurm:  # a SLURM pilot's GPUs are its nodes'; its QPUs simulate here
            qpus = simulated_on_gpus(qpus, description.gpus)
        preload = (
            None if description.engine == "local" or warm_quantum_stack else REMOTE_PILOT_PRELOAD
        )
        started = time.monotonic()
        self.engine: Engine
        if slurm:
            from qlambda.engine.slurm import SlurmEngine

            if sandbox is not None:
                raise ConfigurationError("sandboxed jobs need the local engine, not slurm")
            self.engine = SlurmEngine(
                description.cores,
                nodes=description.nodes or 1,
                gpus=description.gpus,
                walltime=parse_walltime(description.walltime),
                queue=description.queue,
                project=description.project,
                agent_engine=description.agent_engine
                or ("local" if (description.nodes or 1) == 1 else "ray"),
                name=self.id,
                preload=preload or (),
                trusted=trusted,
                on_event=self._record,
            )
        else:
            self.engine = create_engine(
                description.engine,
                cpus=description.cores,
                max_workers=description.max_workers,
                address=description.address,
                name=self.id,
                preload=preload,
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
        if not slurm:  # a SLURM pilot reports its own steps (SUBMITTED ... READY)
            self._record("STARTED", {"seconds": round(time.monotonic() - started, 3)})

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
        ``priority`` (larger runs first), ``gpus`` (Ray, Dask and SLURM pilots; the local
        pool only where this machine has them), ``mpi_ranks`` (run ``fn`` on that many
        MPI ranks, see ``qlambda.engine.mpi``; the result is rank 0's); on Ray and Dask
        also ``resources``, the custom resources of a node, e.g.
        ``{"resources": {"qpu_torino": 1}}``.
        A ``fn`` with a parameter named ``ctx`` receives the task's context, this pilot's
        QPUs: ``ctx.sampler()``, ``ctx.estimator()``, ``ctx.backend(name)`` (not on a SLURM
        pilot, whose agent carries plain tasks only).
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
        accepted = (*accepted, *(k for k in PILOT_RESOURCE_KEYS if k not in accepted))
        wanted = dict(resources or {})
        ranks = wanted.pop("mpi_ranks", None)
        limits = _limits(wanted, accepted)
        if limits.get("gpus") and "gpus" not in getattr(self.engine, "RESOURCE_KEYS", ()):
            from qlambda.engine.gpus import check_gpus_here

            check_gpus_here(limits["gpus"], f"the {self.description.engine} engine")
            raise ValueError(
                f"gpus: the {self.description.engine} engine schedules cpus only; GPU tasks "
                "need engine='ray', 'dask' or 'slurm'"
            )
        kwargs = dict(kwargs or {})
        if ranks is not None:
            return self._submit_mpi(fn, tuple(args), kwargs, ranks, limits)
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

    def _submit_mpi(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        ranks: Any,
        limits: dict[str, Any],
    ) -> Future[Any]:
        """One worker runs ``mpirun`` of ``ranks`` ranks; it holds as many cpus as it may
        (the ranks beyond share them)."""
        import cloudpickle

        from qlambda.engine.mpi import launch

        if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
            raise ValueError(f"mpi_ranks must be a positive whole number of ranks, got {ranks!r}")
        per_node = getattr(self.engine, "cores", None) or self.engine.cpus or 1
        limits.setdefault("cpus", max(1, min(ranks, per_node)))
        call = (cloudpickle.dumps(fn), cloudpickle.dumps((args, kwargs)), ranks)
        return self.engine.submit(TaskSpec(launch, call, {}, name="mpi", **limits))

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the pilot's workers are up (a SLURM pilot: its agent, once the job
        starts); False if ``timeout`` came first."""
        return self.engine.wait_ready(timeout)

    def events(self) -> list[PilotEvent]:
        """What happened to the pilot: ``STARTED`` (with its set-up seconds), or for a
        SLURM pilot ``SUBMITTED``, ``RUNNING``, ``READY`` (``setup_seconds``: from sbatch
        to the agent's engine taking tasks), ``DRAINING`` and ``ENDED``."""
        with self._events_lock:
            return list(self._events)

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        with self._events_lock:
            self._events.append(PilotEvent(self.id, time.time(), kind, dict(data)))

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

    @property
    def accepting(self) -> bool:
        """Whether new tasks may start here (not canceled, its batch job not over or
        draining)."""
        if self._canceled:
            return False
        stats = self.engine.stats()
        return not stats.get("ended") and not stats.get("draining")

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
        """Run on the pilot with the least queued work per core. A task a pilot could not
        start (its batch job ended or drains, or has too little walltime left for it) runs
        on another; one that started there and was lost fails with the reason."""
        if not self.pilots():
            raise RuntimeError("no pilot: create one with create_pilot(PilotDescription(...))")
        outer: Future[Any] = Future()
        self._place(outer, fn, args, kwargs, set(), None)
        return outer

    def _place(
        self,
        outer: Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        tried: set[str],
        last: BaseException | None,
    ) -> None:
        pilots = [p for p in self.pilots() if p.id not in tried and p.accepting]
        if not pilots:
            if not outer.done():
                outer.set_exception(last or PilotEndedError("no pilot takes tasks any more"))
            return

        def load(pilot: Pilot) -> float:
            stats = pilot.engine.stats()
            share: float = (stats["queued"] + stats["running"]) / max(1, stats["cpus"])
            return share

        pilot = min(pilots, key=load)
        try:
            inner = pilot.submit(fn, *args, **kwargs)
        except RuntimeError as exc:  # canceled meanwhile: the next one
            self._place(outer, fn, args, kwargs, tried | {pilot.id}, exc)
            return
        outer.add_done_callback(lambda done: inner.cancel() if done.cancelled() else None)

        def finished(done: Future[Any]) -> None:
            if outer.done():
                return
            if done.cancelled():
                outer.cancel()
                return
            error = done.exception()
            if isinstance(error, PilotEndedError):
                self._place(outer, fn, args, kwargs, tried | {pilot.id}, error)
            elif error is not None:
                outer.set_exception(error)
            else:
                outer.set_result(done.result())

        inner.add_done_callback(finished)

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
