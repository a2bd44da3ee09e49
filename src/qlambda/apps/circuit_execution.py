"""Circuit execution ensembles: N circuits of width q over W workers or Q backends.

Pilot-Quantum's first mini-app (its Table I): how long an ensemble of independent
circuit executions takes, and at what throughput, as the number of tasks grows. Each
circuit is a *mirror* circuit: EfficientSU2 with random angles, then its inverse, then
X gates writing the circuit's index in binary, so on an ideal simulator every shot of
circuit ``i`` reads ``i mod 2**q``: a result that went to the wrong circuit, or came
back twice, shows.

Two ways to run an ensemble:

* ``run_on_backends`` (and the serverless :func:`run`): every circuit is one sampler
  task in the platform's queues, dealt round-robin over ``Q`` backends (or each
  chosen by the platform, ``"auto"``), all in flight at once;
* ``run_on_workers``: every circuit is one classical task of a pilot, simulated by
  Aer on one of its ``W`` workers, as Pilot-Quantum's tasks were.

:func:`run_bare` is the baseline: the same simulations on a ``ProcessPoolExecutor``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from qiskit.circuit import QuantumCircuit

from qlambda.apps.maxcut_problem import check_positive_int

__all__ = [
    "EnsembleResult",
    "check_results",
    "expected_bits",
    "mirror_circuit",
    "run",
    "run_bare",
    "run_on_backends",
    "run_on_workers",
    "simulate",
]

Progress = Callable[[int, int], None]
"""``(circuits done, circuits in all)``."""


def mirror_circuit(qubits: int, index: int, reps: int = 1, seed: int = 0) -> QuantumCircuit:
    """EfficientSU2 (random angles from ``seed + index``), its inverse, then ``index`` in
    binary (qubit 0 the lowest bit), measured."""
    from qiskit.circuit.library import efficient_su2

    if isinstance(qubits, bool) or not isinstance(qubits, int) or qubits < 2:
        raise ValueError(f"qubits must be an integer >= 2, got {qubits!r}")
    check_positive_int("reps", reps)
    body = efficient_su2(qubits, reps=reps, entanglement="linear")
    angles = np.random.default_rng(seed + index).uniform(0.0, 2 * math.pi, body.num_parameters)
    bound = body.assign_parameters(angles)
    circuit = bound.compose(bound.inverse())
    for qubit in range(qubits):
        if index >> qubit & 1:
            circuit.x(qubit)
    circuit.measure_all()
    return circuit


def expected_bits(qubits: int, index: int) -> str:
    """What every shot of mirror circuit ``index`` reads (Qiskit's order: qubit 0 last)."""
    return format(index % 2**qubits, f"0{qubits}b")


def simulate(qubits: int, index: int, reps: int, shots: int, seed: int) -> dict[str, int]:
    """Build mirror circuit ``index`` and run it on Aer here: one worker's task."""
    from qiskit_aer.primitives import SamplerV2

    circuit = mirror_circuit(qubits, index, reps, seed)
    counts: dict[str, int] = (
        SamplerV2().run([circuit], shots=shots).result()[0].join_data().get_counts()
    )
    return counts


def check_results(results: Sequence[dict[str, int]], qubits: int, shots: int) -> int:
    """How many results are exactly their circuit's (all shots on its index)."""
    return sum(
        counts == {expected_bits(qubits, index): shots} for index, counts in enumerate(results)
    )


@dataclass(frozen=True)
class EnsembleResult:
    """One ensemble: ``seconds`` from the first submission to the last result."""

    mode: str
    circuits: int
    qubits: int
    shots: int
    workers: int
    backends: list[str]
    seconds: float
    throughput: float
    correct: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(circuits: int, qubits: int, reps: int, shots: int) -> None:
    for name, value in (("circuits", circuits), ("reps", reps), ("shots", shots)):
        check_positive_int(name, value)
    if isinstance(qubits, bool) or not isinstance(qubits, int) or qubits < 2:
        raise ValueError(f"qubits must be an integer >= 2, got {qubits!r}")


def _collect(
    futures: list[Future[Any]], on_progress: Progress | None, unpack: Callable[[Any], Any]
) -> list[Any]:
    index_of = {id(future): index for index, future in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    for done, future in enumerate(as_completed(futures), 1):
        results[index_of[id(future)]] = unpack(future.result())
        if on_progress is not None:
            on_progress(done, len(futures))
    return results


class QuantumAccess(Protocol):
    """A job's ``ctx`` or a pilot: anything with platform samplers."""

    def sampler(self, backend: str | None = None) -> Any: ...


def run_on_backends(
    access: QuantumAccess,
    circuits: int,
    qubits: int,
    backends: Sequence[str] = ("auto",),
    *,
    reps: int = 1,
    shots: int = 1024,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> tuple[EnsembleResult, list[dict[str, int]]]:
    """Every circuit one sampler task, dealt round-robin over ``backends``."""
    _check(circuits, qubits, reps, shots)
    if not backends or not all(isinstance(name, str) and name for name in backends):
        raise ValueError(f"backends must be a non-empty list of names, got {backends!r}")
    samplers = [access.sampler(name) for name in backends]
    started = time.perf_counter()  # building counts, as in the workers' tasks
    built = [mirror_circuit(qubits, index, reps, seed) for index in range(circuits)]
    jobs = [samplers[i % len(samplers)].run([c], shots=shots) for i, c in enumerate(built)]
    results = []
    for done, job in enumerate(jobs, 1):  # waited for in order: all run meanwhile
        results.append(job.result()[0].join_data().get_counts())
        if on_progress is not None:
            on_progress(done, circuits)
    seconds = time.perf_counter() - started
    return _summary("backends", circuits, qubits, shots, 0, list(backends), seconds, results)


def _summary(
    mode: str,
    circuits: int,
    qubits: int,
    shots: int,
    workers: int,
    backends: list[str],
    seconds: float,
    results: list[dict[str, int]],
) -> tuple[EnsembleResult, list[dict[str, int]]]:
    summary = EnsembleResult(
        mode=mode,
        circuits=circuits,
        qubits=qubits,
        shots=shots,
        workers=workers,
        backends=backends,
        seconds=seconds,
        throughput=circuits / seconds if seconds > 0 else math.inf,
        correct=check_results(results, qubits, shots),
    )
    return summary, results


def run_on_workers(
    pilot: Any,
    circuits: int,
    qubits: int,
    *,
    reps: int = 1,
    shots: int = 1024,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> tuple[EnsembleResult, list[dict[str, int]]]:
    """Every circuit one classical task of ``pilot``, simulated on its worker."""
    _check(circuits, qubits, reps, shots)
    started = time.perf_counter()
    futures = [
        pilot.submit(simulate, qubits, index, reps, shots, seed) for index in range(circuits)
    ]
    results = _collect(futures, on_progress, lambda counts: counts)
    seconds = time.perf_counter() - started
    workers = int(getattr(getattr(pilot, "description", None), "cores", None) or 0)
    return _summary("workers", circuits, qubits, shots, workers, [], seconds, results)


def run_bare(
    circuits: int,
    qubits: int,
    workers: int,
    *,
    reps: int = 1,
    shots: int = 1024,
    seed: int = 0,
    pool: ProcessPoolExecutor | None = None,
) -> tuple[EnsembleResult, list[dict[str, int]]]:
    """The baseline: the same simulations on a ``ProcessPoolExecutor`` of ``workers``
    (``pool``: a warm one to reuse, so start-up is not measured)."""
    _check(circuits, qubits, reps, shots)
    check_positive_int("workers", workers)
    own = pool is None
    executor = pool or ProcessPoolExecutor(workers)
    try:
        started = time.perf_counter()
        futures = [
            executor.submit(simulate, qubits, index, reps, shots, seed) for index in range(circuits)
        ]
        results = _collect(futures, None, lambda counts: counts)
        seconds = time.perf_counter() - started
    finally:
        if own:
            executor.shutdown()
    return _summary("bare", circuits, qubits, shots, workers, [], seconds, results)


class FunctionContext(QuantumAccess, Protocol):
    def status(self, text: str) -> None: ...


def run(
    ctx: FunctionContext,
    circuits: int = 32,
    qubits: int = 8,
    reps: int = 1,
    shots: int = 1024,
    backends: list[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The serverless function: an ensemble of mirror circuits as sampler tasks over
    ``backends`` (None: ``["auto"]``); returns the :class:`EnsembleResult` as a dict."""

    def progress(done: int, total: int) -> None:
        ctx.status(f"circuits {done}/{total}")

    summary, _ = run_on_backends(
        ctx,
        circuits,
        qubits,
        backends if backends is not None else ["auto"],
        reps=reps,
        shots=shots,
        seed=seed,
        on_progress=progress,
    )
    return summary.to_dict()
