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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from qlambda.core.errors import ConfigurationError
from qlambda.engine.base import TaskSpec
from qlambda.engine.registry import ENGINES, create_engine
from qlambda.platform.dispatcher import EventSink, QPUDispatcher
from qlambda.platform.functions import ship_user_code_by_value
from qlambda.platform.quantum_access import QuantumAccess, describe_backend
from qlambda.platform.units import parse_megabytes, parse_seconds

RESOURCE_KEYS = ("cpus", "memory", "timeout", "priority")
# Workers of a Ray or Dask pilot import what its tasks use on first use; a fresh
# cluster then runs the first task without waiting for the quantum stack to load.
REMOTE_PILOT_PRELOAD: tuple[str, ...] = ()
_pilot_numbers = itertools.count(1)


@dataclass(frozen=True)
class PilotDescription:
    """What to reserve: an engine, cores for classical tasks, and QPUs.

    ``engine``: "local" (processes here), "ray" or "dask". With ``address=None`` a
    Ray or Dask pilot starts a private local instance sized by ``cores``; with an
    address ("auto", "ray://host:10001", "tcp://scheduler:8786") it joins that cluster.
    ``qpus`` are backend configurations (mappings or BackendConfig, see docs/backends.md).
    """

    engine: str = "local"
    address: str | None = None
    cores: int | None = None
    qpus: Sequence[Any] = field(default_factory=tuple)
    max_workers: int | None = None
    policy: str = "fifo"
    seed: int | None = None

    def __post_init__(self) -> None:
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
    ) -> None:
        """``on_quantum_event`` hears every quantum task queued, started and finished;
        ``calibration`` and ``selection`` go to the QPU dispatcher. A Ray or Dask pilot's
        workers import the quantum stack up front only with ``warm_quantum_stack`` (the
        platform's do, for its jobs; a pilot's first plain task starts sooner without).
        ``sandbox`` and ``trusted`` go to the engine (``qlambda.engine.registry``);
        ``trusted`` also lets execution-option steps of the tasks' own code reach the QPU
        executors by value (a shared server's run only the options installed on it)."""
        from qlambda.quantum.config import load_backends

        self.description = description
        self.id = f"pilot-{next(_pilot_numbers)}"
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
        self.qpus = load_backends(list(description.qpus)) if description.qpus else []
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
        self.engine.start()
        try:
            self.dispatcher.start()
        except BaseException:
            self.engine.shutdown()
            raise
        self._canceled = False

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
        """
        if self._canceled:
            raise RuntimeError(f"{self.id} is canceled")
        ship_user_code_by_value(fn)
        accepted = getattr(self.engine, "RESOURCE_KEYS", RESOURCE_KEYS)
        return self.engine.submit(TaskSpec(fn, args, kwargs, **_limits(resources, accepted)))

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

    def _describe_backend(self, name: str) -> dict[str, Any]:
        description = describe_backend(self.dispatcher.configs(), name)
        data = self.dispatcher.device_data(name)
        if data:
            description["device_data"] = data
        return description

    # ------------------------------------------------------------- state
    def cancel(self) -> None:
        """Release the pilot: queued tasks are canceled, running ones stopped."""
        if self._canceled:
            return
        self._canceled = True
        self.engine.shutdown()
        self.dispatcher.shutdown()

    @property
    def canceled(self) -> bool:
        return self._canceled

    def stats(self) -> dict[str, Any]:
        return {"id": self.id, **self.engine.stats(), "qpus": self.dispatcher.stats()}


class PilotManager:
    """Creates pilots and spreads tasks over them (least loaded first)."""

    def __init__(self) -> None:
        self._pilots: list[Pilot] = []
        self._lock = threading.Lock()

    def create_pilot(self, description: PilotDescription | None = None) -> Pilot:
        pilot = Pilot(description or PilotDescription())
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

    def __enter__(self) -> PilotManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


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
