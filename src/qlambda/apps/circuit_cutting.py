"""Circuit cutting: an expectation value of a circuit too wide for any one backend.

``qiskit-addon-cutting`` finds gate and wire cuts that split the circuit into
subcircuits of at most ``subcircuit_qubits`` qubits, and turns them into
subexperiments (a quasi-probability decomposition: each cut multiplies their number,
``6**k`` gate-cut terms for ``k`` CNOT-like cuts). The subexperiments run as sampler
tasks, in batches spread over the platform's backends, and the addon recombines their
outcomes into the expectation value of the full circuit.

The result carries that value, its statistical error from shots (see
:func:`shot_sigma`), the exact value from a statevector simulation of the full circuit
where it fits (:data:`EXACT_MAX_QUBITS`) and the time that simulation took: the
baseline the cut run is compared with. :func:`run` is the serverless function
(``ctx.sampler`` per backend), :func:`run_bare` the same on Aer in this process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.primitives import BaseSamplerV2, PrimitiveResult
from qiskit.quantum_info import SparsePauliOp

from qlambda.apps.maxcut_problem import check_positive_int

__all__ = [
    "EXACT_MAX_QUBITS",
    "CutPlan",
    "CuttingResult",
    "cutting_circuit",
    "exact_expectation",
    "mean_z",
    "plan_cuts",
    "reconstruct",
    "run",
    "run_bare",
    "run_subexperiments",
    "shot_sigma",
]

EXACT_MAX_QUBITS = 26
"""Widest circuit whose exact value is computed (a 26-qubit statevector: 1 GiB)."""

DEFAULT_SHOTS = 4096
DEFAULT_BATCH = 8
"""Subexperiments per sampler task: fewer, larger tasks cost less per circuit."""

Progress = Callable[[int, int], None]
"""``(subexperiments done, subexperiments in all)``."""


def cutting_circuit(num_qubits: int, reps: int = 2, seed: int | None = 0) -> QuantumCircuit:
    """EfficientSU2 with linear entanglement and random angles, as in Pilot-Quantum's
    cutting mini-app: each CX between neighbours is a place to cut."""
    from qiskit.circuit.library import efficient_su2

    if isinstance(num_qubits, bool) or not isinstance(num_qubits, int) or num_qubits < 2:
        raise ValueError(f"num_qubits must be an integer >= 2, got {num_qubits!r}")
    check_positive_int("reps", reps)
    circuit = efficient_su2(num_qubits, reps=reps, entanglement="linear")
    angles = np.random.default_rng(seed).uniform(0.0, 2 * math.pi, circuit.num_parameters)
    return circuit.assign_parameters(angles)


def mean_z(num_qubits: int) -> SparsePauliOp:
    """``(1/n) sum_i Z_i``: the mean magnetisation, one Pauli term per qubit."""
    check_positive_int("num_qubits", num_qubits)
    return SparsePauliOp.from_sparse_list(
        [("Z", [i], 1.0 / num_qubits) for i in range(num_qubits)], num_qubits=num_qubits
    )


@dataclass(frozen=True)
class CutPlan:
    """Where the circuit is cut and the subexperiments that recover its value."""

    num_qubits: int
    subcircuit_qubits: int
    cuts: tuple[str, ...]
    sampling_overhead: float
    subcircuit_widths: dict[Hashable, int]
    subexperiments: dict[Hashable, list[QuantumCircuit]]
    coefficients: list[tuple[float, Any]]
    subobservables: dict[Hashable, Any]
    observable: SparsePauliOp
    find_seconds: float

    @property
    def num_subexperiments(self) -> int:
        return sum(len(circuits) for circuits in self.subexperiments.values())


def plan_cuts(
    circuit: QuantumCircuit,
    observable: SparsePauliOp,
    subcircuit_qubits: int,
    *,
    seed: int | None = 0,
    max_overhead: float = 1024.0,
) -> CutPlan:
    """Cut ``circuit`` into subcircuits of at most ``subcircuit_qubits`` qubits.

    ``max_overhead`` bounds the sampling overhead (the square of the sum of the
    decomposition's coefficients; 9 per CNOT cut): a cut that costs more is refused
    rather than drowned in shot noise.
    """
    from qiskit_addon_cutting import (
        cut_wires,
        expand_observables,
        find_cuts,
        generate_cutting_experiments,
        partition_problem,
    )
    from qiskit_addon_cutting.automated_cut_finding import (
        DeviceConstraints,
        OptimizationParameters,
    )

    _check_problem(circuit, observable, subcircuit_qubits)
    started = time.perf_counter()
    try:
        cut, metadata = find_cuts(
            circuit,
            OptimizationParameters(seed=seed, max_gamma=math.sqrt(max_overhead)),
            DeviceConstraints(qubits_per_subcircuit=subcircuit_qubits),
        )
    except ValueError as exc:
        raise ValueError(
            f"no cut of this {circuit.num_qubits}-qubit circuit into subcircuits of "
            f"{subcircuit_qubits} qubits keeps the sampling overhead under {max_overhead:g} "
            f"({exc}); accepted: a larger subcircuit size or max_overhead"
        ) from None
    find_seconds = time.perf_counter() - started
    overhead = float(metadata["sampling_overhead"])
    if overhead > max_overhead:  # the search returns its best try even past the bound
        raise ValueError(
            f"no cut of this {circuit.num_qubits}-qubit circuit into subcircuits of "
            f"{subcircuit_qubits} qubits keeps the sampling overhead under {max_overhead:g} "
            f"(the best found: {overhead:g}); accepted: a larger subcircuit size or "
            f"max_overhead"
        )
    with_ancillas = cut_wires(cut)
    expanded = expand_observables(observable.paulis, circuit, with_ancillas)
    problem = partition_problem(circuit=with_ancillas, observables=expanded)
    subexperiments, coefficients = generate_cutting_experiments(
        circuits=problem.subcircuits, observables=problem.subobservables, num_samples=np.inf
    )
    assert isinstance(subexperiments, dict) and isinstance(problem.subobservables, dict)
    return CutPlan(
        num_qubits=circuit.num_qubits,
        subcircuit_qubits=subcircuit_qubits,
        cuts=tuple(f"{kind} {index}" for kind, index in metadata["cuts"]),
        sampling_overhead=overhead,
        subcircuit_widths={label: c.num_qubits for label, c in problem.subcircuits.items()},
        subexperiments=subexperiments,
        coefficients=list(coefficients),
        subobservables=problem.subobservables,
        observable=observable,
        find_seconds=find_seconds,
    )


def _check_problem(circuit: Any, observable: Any, subcircuit_qubits: Any) -> None:
    if not isinstance(circuit, QuantumCircuit):
        raise TypeError(f"circuit must be a qiskit QuantumCircuit, got {type(circuit).__name__}")
    if circuit.num_parameters:
        names = ", ".join(sorted(p.name for p in circuit.parameters)[:5])
        raise ValueError(
            f"the circuit has free parameters ({names}...); accepted: every angle bound"
        )
    if circuit.num_clbits or any(item.operation.name == "measure" for item in circuit.data):
        raise ValueError(
            "the circuit measures or has classical bits; accepted: a circuit without "
            "measurements (the subexperiments add their own)"
        )
    if not isinstance(observable, SparsePauliOp) or observable.num_qubits != circuit.num_qubits:
        raise ValueError(
            f"the observable must be a SparsePauliOp on the circuit's {circuit.num_qubits} "
            f"qubits, got {observable!r}"
        )
    if not np.allclose(np.imag(observable.coeffs), 0.0):
        raise ValueError("the observable must be Hermitian: real coefficients only")
    if isinstance(subcircuit_qubits, bool) or not isinstance(subcircuit_qubits, int):
        raise TypeError(f"subcircuit_qubits must be an integer, got {subcircuit_qubits!r}")
    if not 2 <= subcircuit_qubits < circuit.num_qubits:
        raise ValueError(
            f"subcircuit_qubits must be from 2 to {circuit.num_qubits - 1} (smaller than the "
            f"circuit's {circuit.num_qubits} qubits: a circuit that fits needs no cut), "
            f"got {subcircuit_qubits}"
        )


def run_subexperiments(
    plan: CutPlan,
    samplers: Sequence[BaseSamplerV2],
    shots: int = DEFAULT_SHOTS,
    *,
    batch: int = DEFAULT_BATCH,
    on_progress: Progress | None = None,
) -> tuple[dict[Hashable, PrimitiveResult], int]:
    """Run every subexperiment, ``batch`` circuits per sampler task, the tasks dealt
    round-robin over ``samplers`` and all in flight at once; returns the results per
    subcircuit (in the order the addon made them) and the number of tasks."""
    if not samplers:
        raise ValueError("run_subexperiments needs at least one sampler")
    check_positive_int("shots", shots)
    check_positive_int("batch", batch)
    pending: list[tuple[Hashable, int, Any]] = []
    for label, circuits in plan.subexperiments.items():
        for start in range(0, len(circuits), batch):
            sampler = samplers[len(pending) % len(samplers)]
            job = sampler.run(circuits[start : start + batch], shots=shots)
            pending.append((label, start, job))
    total, done = plan.num_subexperiments, 0
    pubs: dict[Hashable, list[Any]] = {label: [] for label in plan.subexperiments}
    for label, _, job in pending:  # submitted per label in order: appending keeps it
        result = job.result()
        pubs[label].extend(result)
        done += len(result)
        if on_progress is not None:
            on_progress(done, total)
    return {label: PrimitiveResult(results) for label, results in pubs.items()}, len(pending)


def reconstruct(plan: CutPlan, results: dict[Hashable, PrimitiveResult]) -> float:
    """The full circuit's expectation value of ``plan.observable``."""
    from qiskit_addon_cutting import reconstruct_expectation_values

    terms = reconstruct_expectation_values(results, plan.coefficients, plan.subobservables)
    return float(np.real(np.dot(terms, plan.observable.coeffs)))


def shot_sigma(plan: CutPlan, shots: int) -> float:
    """A bound on the standard deviation of :func:`reconstruct` from shot noise.

    Each term of the decomposition is a product of one ±1-valued estimate per
    subcircuit, each with variance at most ``1/shots``; to first order the product's
    variance is at most ``J/shots`` for ``J`` subcircuits, the terms are independent,
    and the observable's terms (possibly correlated) add linearly:
    ``sigma <= sum|w_k| * sqrt(J * sum_i c_i**2 / shots)``.
    """
    coefficient_power = sum(float(c) ** 2 for c, _ in plan.coefficients)
    weights = float(np.sum(np.abs(plan.observable.coeffs)))
    return weights * math.sqrt(len(plan.subexperiments) * coefficient_power / shots)


def exact_expectation(circuit: QuantumCircuit, observable: SparsePauliOp) -> float:
    """The exact value by statevector simulation of the full circuit (Aer)."""
    from qiskit_aer.primitives import EstimatorV2

    estimator = EstimatorV2(options={"default_precision": 0.0})
    return float(estimator.run([(circuit, observable)]).result()[0].data.evs)


@dataclass(frozen=True)
class CuttingResult:
    """One cut run against the full simulation of the same circuit.

    ``error`` is ``value - exact`` and ``sigma`` the shot-noise bound of
    :func:`shot_sigma`; ``exact`` and ``full_seconds`` are None past
    :data:`EXACT_MAX_QUBITS`. ``cut_seconds`` is the whole cut run: finding the cuts,
    the subexperiments, and the reconstruction.
    """

    num_qubits: int
    subcircuit_qubits: int
    reps: int
    cuts: int
    sampling_overhead: float
    subcircuit_widths: list[int]
    subexperiments: int
    tasks: int
    shots: int
    backends: list[str]
    value: float
    sigma: float
    exact: float | None
    error: float | None
    find_seconds: float
    run_seconds: float
    cut_seconds: float
    full_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cut_and_run(
    circuit: QuantumCircuit,
    observable: SparsePauliOp,
    subcircuit_qubits: int,
    samplers: Sequence[BaseSamplerV2],
    *,
    shots: int = DEFAULT_SHOTS,
    batch: int = DEFAULT_BATCH,
    seed: int | None = 0,
    backends: Sequence[str] = (),
    reps: int = 0,
    on_progress: Progress | None = None,
    on_plan: Callable[[CutPlan], None] | None = None,
) -> CuttingResult:
    """Plan, run and reconstruct; then the full simulation, where it fits, to compare."""
    started = time.perf_counter()
    plan = plan_cuts(circuit, observable, subcircuit_qubits, seed=seed)
    if on_plan is not None:
        on_plan(plan)
    run_started = time.perf_counter()
    results, tasks = run_subexperiments(plan, samplers, shots, batch=batch, on_progress=on_progress)
    run_seconds = time.perf_counter() - run_started
    value = reconstruct(plan, results)
    cut_seconds = time.perf_counter() - started
    exact = full_seconds = None
    if circuit.num_qubits <= EXACT_MAX_QUBITS:
        full_started = time.perf_counter()
        exact = exact_expectation(circuit, observable)
        full_seconds = time.perf_counter() - full_started
    return CuttingResult(
        num_qubits=circuit.num_qubits,
        subcircuit_qubits=subcircuit_qubits,
        reps=reps,
        cuts=len(plan.cuts),
        sampling_overhead=plan.sampling_overhead,
        subcircuit_widths=sorted(plan.subcircuit_widths.values(), reverse=True),
        subexperiments=plan.num_subexperiments,
        tasks=tasks,
        shots=shots,
        backends=list(backends),
        value=value,
        sigma=shot_sigma(plan, shots),
        exact=exact,
        error=None if exact is None else value - exact,
        find_seconds=plan.find_seconds,
        run_seconds=run_seconds,
        cut_seconds=cut_seconds,
        full_seconds=full_seconds,
    )


class FunctionContext(Protocol):
    """What :func:`run` uses of the platform's function context."""

    def sampler(self, backend: str | None = None) -> BaseSamplerV2: ...
    def status(self, text: str) -> None: ...
    def log(self, message: str) -> None: ...


def run(
    ctx: FunctionContext,
    qubits: int = 12,
    subcircuit_qubits: int = 6,
    reps: int = 2,
    shots: int = DEFAULT_SHOTS,
    backends: list[str] | None = None,
    batch: int = DEFAULT_BATCH,
    seed: int = 0,
) -> dict[str, Any]:
    """The serverless function: cut an EfficientSU2 circuit of ``qubits`` qubits into
    subcircuits of ``subcircuit_qubits``, run the subexperiments as sampler tasks on
    ``backends`` (names, dealt round-robin; None or ``["auto"]``: the platform chooses
    for each task) and return the :class:`CuttingResult` as a dict, ``<mean Z>`` of
    the full circuit reconstructed and compared with its exact value."""
    names = list(backends) if backends is not None else ["auto"]
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"backends must be a non-empty list of names, got {backends!r}")
    check_positive_int("shots", shots)
    check_positive_int("batch", batch)
    circuit = cutting_circuit(qubits, reps, seed)
    samplers = [ctx.sampler(name) for name in names]

    def planned(plan: CutPlan) -> None:
        ctx.log(
            f"{len(plan.cuts)} cuts ({', '.join(plan.cuts)}), "
            f"{plan.num_subexperiments} subexperiments, overhead {plan.sampling_overhead:g}"
        )

    def progress(done: int, total: int) -> None:
        ctx.status(f"subexperiments {done}/{total}")

    ctx.status(f"finding cuts of {qubits} qubits into subcircuits of {subcircuit_qubits}")
    result = cut_and_run(
        circuit,
        mean_z(qubits),
        subcircuit_qubits,
        samplers,
        shots=shots,
        batch=batch,
        seed=seed,
        backends=names,
        reps=reps,
        on_progress=progress,
        on_plan=planned,
    )
    return result.to_dict()


def run_bare(
    qubits: int = 12,
    subcircuit_qubits: int = 6,
    reps: int = 2,
    shots: int = DEFAULT_SHOTS,
    batch: int = DEFAULT_BATCH,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> CuttingResult:
    """The same cut run on Aer's own sampler in this process."""
    from qiskit_aer.primitives import SamplerV2

    return cut_and_run(
        cutting_circuit(qubits, reps, seed),
        mean_z(qubits),
        subcircuit_qubits,
        [SamplerV2()],  # unseeded: batches of like circuits stay independent
        shots=shots,
        batch=batch,
        seed=seed,
        backends=["aer (bare)"],
        reps=reps,
        on_progress=on_progress,
    )
