"""The jobs of one replication, drawn up front as arrays.

Everything random about the workload (arrival times, sizes, priorities, work)
is drawn here, from streams of its own, before any scheduling happens. So one
seed gives the very same jobs to every policy, and both engines (the readable
reference and the compiled one) run on identical inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qlambda.core import ConfigurationError
from qlambda.core.arrays import FloatArray, IntArray
from qlambda.sim.arrivals import poisson_times
from qlambda.sim.traces import TraceSet

if TYPE_CHECKING:
    from qlambda.sim.arrivals import ArrivalProcess

# Classical work in operations = trace seconds x this (the traces were timed at 1e9 ops/s).
OPS_PER_TRACE_SECOND = 1e9

DISTRIBUTIONS = ("const", "exp", "uniform")


@dataclass(frozen=True)
class Distribution:
    """A non-negative random quantity: ``const:V``, ``exp:MEAN`` or ``uniform:LOW:HIGH``."""

    kind: str
    a: float
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTIONS:
            raise ConfigurationError(
                f"unknown distribution {self.kind!r}; accepted: {', '.join(DISTRIBUTIONS)}"
            )
        if self.a < 0 or self.b < 0 or (self.kind == "uniform" and self.b < self.a):
            raise ConfigurationError(f"invalid parameters for {self}: need 0 <= low <= high")

    @classmethod
    def parse(cls, text: str) -> Distribution:
        parts = text.strip().split(":")
        try:
            numbers = [float(p) for p in parts[1:]]
        except ValueError:
            numbers = []
        expected = {"const": 1, "exp": 1, "uniform": 2}.get(parts[0])
        if expected is None or len(numbers) != expected:
            raise ConfigurationError(
                f"cannot read distribution {text!r}; accepted: const:V, exp:MEAN, uniform:LOW:HIGH"
            )
        return cls(parts[0], *numbers)

    @property
    def mean(self) -> float:
        return self.a if self.kind != "uniform" else (self.a + self.b) / 2

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        if self.kind == "const":
            return np.full(size, self.a)
        if self.kind == "exp":
            return rng.exponential(self.a, size) if self.a > 0 else np.zeros(size)
        return rng.uniform(self.a, self.b, size)


@dataclass(frozen=True)
class SyntheticWorkload:
    """Job quantities from distributions instead of traces (seconds at 1e9 ops/s)."""

    pre: Distribution
    classical: Distribution
    quantum: Distribution
    post: Distribution
    iterations: Distribution

    FIELDS = ("pre", "classical", "quantum", "post", "iterations")

    @classmethod
    def parse(cls, text: str) -> SyntheticWorkload:
        """``pre=exp:10,classical=const:0.01,quantum=exp:4,post=const:0,iterations=const:100``."""
        values: dict[str, Distribution] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, sep, spec = item.partition("=")
            if not sep or key not in cls.FIELDS:
                raise ConfigurationError(
                    f"cannot read {item!r} in the synthetic workload; expected KEY=DIST "
                    f"with KEY in {', '.join(cls.FIELDS)}"
                )
            values[key] = Distribution.parse(spec)
        missing = [f for f in cls.FIELDS if f not in values]
        if missing:
            raise ConfigurationError(f"synthetic workload lacks {', '.join(missing)}")
        return cls(**values)


@dataclass(frozen=True)
class Workload:
    """Per-job arrays in arrival order; classical work in operations, quantum in seconds.

    With per-iteration redraws, iteration ``k`` of job ``j`` uses element
    ``iter_offset[j] + k`` of the ``iter_*`` arrays; otherwise they are empty and
    every iteration reuses the job's ``classical_ops`` and ``quantum_time``.
    """

    arrival: FloatArray
    qubits: IntArray
    priority: FloatArray
    iterations: IntArray
    pre_ops: FloatArray
    classical_ops: FloatArray
    quantum_time: FloatArray
    post_ops: FloatArray
    iter_offset: IntArray
    iter_classical_ops: FloatArray
    iter_quantum_time: FloatArray

    @property
    def size(self) -> int:
        return len(self.arrival)

    @property
    def per_iteration(self) -> bool:
        return len(self.iter_offset) > 0

    def classical_ops_of(self, job: int, iteration: int) -> float:
        if self.per_iteration:
            return float(self.iter_classical_ops[self.iter_offset[job] + iteration])
        return float(self.classical_ops[job])

    def quantum_time_of(self, job: int, iteration: int) -> float:
        if self.per_iteration:
            return float(self.iter_quantum_time[self.iter_offset[job] + iteration])
        return float(self.quantum_time[job])


@dataclass(frozen=True)
class Streams:
    """Independent generators: arrivals, job draws, iteration redraws, policy picks."""

    arrivals: np.random.Generator
    jobs: np.random.Generator
    iterations: np.random.Generator
    policy: np.random.Generator

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        children = np.random.SeedSequence(seed).spawn(4)
        return cls(*(np.random.default_rng(child) for child in children))


def poisson_arrivals(rng: np.random.Generator, interarrival: float, horizon: float) -> FloatArray:
    """Arrival times in ``[0, horizon)`` of a Poisson process with the given mean gap."""
    return poisson_times(rng, interarrival, horizon)


def _pick(rng: np.random.Generator, samples: FloatArray, count: int) -> FloatArray:
    return samples[rng.integers(0, len(samples), count)]


def draw_workload(
    streams: Streams,
    *,
    interarrival: float,
    horizon: float,
    qubits: Sequence[int],
    priorities: Sequence[float],
    traces: TraceSet | None = None,
    synthetic: SyntheticWorkload | None = None,
    per_iteration: bool = False,
    arrivals: ArrivalProcess | None = None,
) -> Workload:
    """Draw every job arriving before ``horizon``, from traces or from distributions.

    Arrivals are Poisson with mean gap ``interarrival`` unless ``arrivals`` is given.
    """
    if (traces is None) == (synthetic is None):
        raise ConfigurationError("a workload needs exactly one of traces or synthetic")
    if not qubits or not priorities:
        raise ConfigurationError("qubits and priorities must each list at least one value")
    if any(p <= 0 for p in priorities):
        raise ConfigurationError(f"priorities must be > 0, got {list(priorities)}")
    if traces is not None:
        traces.require(qubits)
    if arrivals is None:
        arrival = poisson_arrivals(streams.arrivals, interarrival, horizon)
    else:
        arrival = np.asarray(arrivals.draw(streams.arrivals, horizon), dtype=np.float64)
    n = len(arrival)
    rng = streams.jobs
    size = np.asarray(qubits, dtype=np.int64)[rng.integers(0, len(qubits), n)]
    priority = np.asarray(priorities, dtype=np.float64)[rng.integers(0, len(priorities), n)]
    fields = {f: np.zeros(n) for f in ("pre", "classical", "quantum", "post", "iterations")}
    if synthetic is not None:
        for name in fields:
            fields[name] = getattr(synthetic, name).draw(rng, n)
    else:
        for q in sorted(set(qubits)):
            mask = size == q
            count = int(mask.sum())
            for name in fields:
                fields[name][mask] = _pick(rng, getattr(traces, name)[q], count)
    iterations = np.rint(fields["iterations"]).astype(np.int64)
    offset: IntArray = np.empty(0, dtype=np.int64)
    iter_classical: FloatArray = np.empty(0)
    iter_quantum: FloatArray = np.empty(0)
    if per_iteration:
        offset = np.concatenate(([0], np.cumsum(iterations))).astype(np.int64)
        owner = np.repeat(np.arange(n), iterations)
        iter_classical = np.zeros(len(owner))
        iter_quantum = np.zeros(len(owner))
        irng = streams.iterations
        if synthetic is not None:
            iter_classical = synthetic.classical.draw(irng, len(owner))
            iter_quantum = synthetic.quantum.draw(irng, len(owner))
        elif traces is not None:  # always: exactly one of the two was given
            owner_size = size[owner]
            for q in sorted(set(qubits)):
                mask = owner_size == q
                count = int(mask.sum())
                iter_classical[mask] = _pick(irng, traces.classical[q], count)
                iter_quantum[mask] = _pick(irng, traces.quantum[q], count)
        iter_classical = iter_classical * OPS_PER_TRACE_SECOND
    return Workload(
        arrival=arrival,
        qubits=size,
        priority=priority,
        iterations=iterations,
        pre_ops=fields["pre"] * OPS_PER_TRACE_SECOND,
        classical_ops=fields["classical"] * OPS_PER_TRACE_SECOND,
        quantum_time=fields["quantum"],
        post_ops=fields["post"] * OPS_PER_TRACE_SECOND,
        iter_offset=offset,
        iter_classical_ops=iter_classical,
        iter_quantum_time=iter_quantum,
    )
