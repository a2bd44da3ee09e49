"""What one replication is given (``Platform``) and what it returns (``Outcome``).

Both engines take the same inputs and fill the same outcome, so they can be
compared field by field.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray, IntArray
from qlambda.policy import POLICIES
from qlambda.sim.workload import Workload

HOUR = 3600.0


@dataclass(frozen=True)
class Overhead:
    """What a real platform adds to every classical task, in seconds at full speed S.

    A platform spends time the traces' work does not contain: handing a job to a
    worker and loading its function (``start``, added to the preparation), sending
    each quantum request and waking the job with its answer (``iteration``, added to
    every classical iteration task), storing the result (``end``, added to the
    post-processing). The model adds them as classical work, shared like any other
    (``qlambda twin`` measures them on the platform). All zero: the model of [1].
    """

    start: float = 0.0
    iteration: float = 0.0
    end: float = 0.0

    def __post_init__(self) -> None:
        for name in ("start", "iteration", "end"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not 0 <= float(value) < float("inf"):
                raise ConfigurationError(
                    f"overhead {name} must be a finite number of seconds >= 0, got {value!r}"
                )

    @property
    def zero(self) -> bool:
        return self.start == self.iteration == self.end == 0

    def apply(self, workload: Workload, S: float) -> Workload:
        """``workload`` with each classical task's operations grown by its overhead."""
        if self.zero:
            return workload
        iteration = self.iteration * S
        return dataclasses.replace(
            workload,
            pre_ops=workload.pre_ops + self.start * S,
            classical_ops=workload.classical_ops + iteration,
            post_ops=workload.post_ops + self.end * S,
            iter_classical_ops=workload.iter_classical_ops + iteration,
        )


@dataclass(frozen=True)
class Platform:
    """The simulated system and the observation window of one replication.

    ``c_max``/``q_max`` of ``None`` mean no admission limit on that side.
    ``reference_compat`` reproduces two behaviours of [1]'s published
    implementation (FIFO by swap-remove from slot 0; drop probability from t=0).
    ``overhead``: the platform's own time per classical task (default: none).
    """

    C: int
    S: float
    Q: int
    c_max: int | None
    q_max: int | None
    duration: float
    warmup: float
    policy: str
    reference_compat: bool = False
    overhead: Overhead = Overhead()

    def __post_init__(self) -> None:
        for name in ("C", "Q", "c_max", "q_max"):  # numpy integers are welcome too
            value = getattr(self, name)
            if not isinstance(value, bool) and isinstance(value, numbers.Integral):
                object.__setattr__(self, name, int(value))
        if not isinstance(self.C, int) or self.C < 1:
            raise ConfigurationError(f"C must be a positive integer, got {self.C!r}")
        if not isinstance(self.Q, int) or self.Q < 1:
            raise ConfigurationError(f"Q must be a positive integer, got {self.Q!r}")
        if not self.S > 0:
            raise ConfigurationError(f"S must be > 0 operations/s, got {self.S!r}")
        for label, value in (("C_max", self.c_max), ("Q_max", self.q_max)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"{label} must be a positive integer or none")
        if not 0 <= self.warmup < self.duration:
            raise ConfigurationError(
                f"need 0 <= warmup < duration, got warmup={self.warmup}, duration={self.duration}"
            )
        if self.policy not in POLICIES:
            raise ConfigurationError(
                f"unknown policy {self.policy!r}; accepted: {', '.join(POLICIES)}"
            )


@dataclass
class Outcome:
    """Raw results of one replication.

    ``arrived``/``accepted``/``dropped`` count arrivals at or after the warm-up;
    the ``*_total`` counters cover the whole run, so that jobs can be accounted
    for and, with ``drop_from_start``, the drop probability counts from t=0.
    Areas are integrals over the window ``[warmup, duration]`` of the number of
    active classical tasks and of quantum tasks (executing + pending).
    """

    completed_jobs: IntArray  # job indices, completion order, completions >= warmup
    completion_times: FloatArray
    arrived: int = 0
    accepted: int = 0
    dropped: int = 0
    arrived_total: int = 0
    accepted_total: int = 0
    dropped_total: int = 0
    completed_total: int = 0
    in_flight: int = 0
    events: int = 0
    classical_area: float = 0.0
    quantum_area: float = 0.0
    window: float = 0.0
    drop_from_start: bool = False

    @property
    def completed(self) -> int:
        return len(self.completed_jobs)

    @property
    def drop_probability(self) -> float:
        if self.drop_from_start:
            return self.dropped_total / self.arrived_total if self.arrived_total else 0.0
        return self.dropped / self.arrived if self.arrived else 0.0

    @property
    def avg_classical_tasks(self) -> float:
        return self.classical_area / self.window if self.window else 0.0

    @property
    def avg_quantum_tasks(self) -> float:
        return self.quantum_area / self.window if self.window else 0.0

    @property
    def accepted_per_hour(self) -> float:
        return self.accepted / (self.window / HOUR) if self.window else 0.0
