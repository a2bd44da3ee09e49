"""Variational MaxCut: QAOA or EfficientSU2, optimised by COBYLA through an estimator.

The application of Cicconetti [1], Sec. III: a random 3-regular graph, a parametrised
circuit whose energy ``<H>`` (see :mod:`qlambda.apps.maxcut_problem` for the sign
convention) COBYLA minimises, one estimator call per evaluation, and a final
sampling step that reads the best cut out of the optimised state.

The core, :func:`solve_maxcut`, takes plain Qiskit ``BaseEstimatorV2`` /
``BaseSamplerV2`` objects, so the same loop runs bare in one process
(:func:`run_bare`, the baseline of the platform benchmark) and as a serverless
function (:func:`run`, which gets its primitives from the function context and
checkpoints its progress so a re-run after a crash resumes instead of restarting).

The circuit is built once per solve and never transpiled here: on the platform,
fitting it to a device is the backend's business; Aer runs it as built.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import networkx as nx
import numpy as np
from qiskit.circuit import QuantumCircuit
from qiskit.circuit.library import efficient_su2, qaoa_ansatz
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2
from qiskit.quantum_info import SparsePauliOp
from scipy.optimize import minimize

from qlambda.apps.maxcut_problem import (
    brute_force_maxcut,
    check_positive_int,
    cut_value,
    maxcut_hamiltonian,
    random_regular_graph,
)
from qlambda.core.arrays import FloatArray

__all__ = [
    "ANSATZES",
    "MaxCutProgress",
    "MaxCutResult",
    "brute_force_maxcut",
    "build_ansatz",
    "cut_value",
    "efficient_su2_ansatz",
    "maxcut_hamiltonian",
    "qaoa_ansatz_for",
    "random_regular_graph",
    "run",
    "run_bare",
    "solve_maxcut",
]

ANSATZES = ("qaoa", "efficient_su2")
"""Accepted ``ansatz`` names."""

OPTIMUM_MAX_NODES = 20
"""Results carry the exact optimum (for the approximation ratio) up to this size: < 0.1 s."""

DEFAULT_SHOTS = 1024


def qaoa_ansatz_for(graph: nx.Graph[int], reps: int = 1) -> QuantumCircuit:
    """QAOA with ``reps`` layers of ``exp(-i γ sum Z_i Z_j)`` then ``exp(-i β sum X_i)``.

    The cost layer uses the ZZ terms only: the constant part of the Hamiltonian
    would add nothing but a parameter-dependent global phase.
    """
    check_positive_int("reps", reps)
    hamiltonian = maxcut_hamiltonian(graph)
    zz_terms = SparsePauliOp.from_sparse_list(
        [("ZZ", [i, j], 1.0) for i, j in graph.edges()], num_qubits=hamiltonian.num_qubits
    )
    return qaoa_ansatz(zz_terms, reps=reps)


def efficient_su2_ansatz(num_qubits: int, reps: int = 1) -> QuantumCircuit:
    """The hardware-efficient RY-RZ + CX circuit of [1]: ``2 * n * (reps + 1)`` angles.

    ``reps=1`` on 3 qubits gives the 12-angle circuit of [1]'s Fig. 6.
    """
    if isinstance(num_qubits, bool) or not isinstance(num_qubits, int) or num_qubits < 2:
        raise ValueError(f"num_qubits must be an integer >= 2, got {num_qubits!r}")
    check_positive_int("reps", reps)
    return efficient_su2(num_qubits, reps=reps)


def build_ansatz(name: str, graph: nx.Graph[int], reps: int = 1) -> QuantumCircuit:
    """The parametrised circuit called ``name`` (one of :data:`ANSATZES`) for ``graph``."""
    check_ansatz_name(name)
    if name == "qaoa":
        return qaoa_ansatz_for(graph, reps)
    return efficient_su2_ansatz(graph.number_of_nodes(), reps)


def check_ansatz_name(name: object) -> None:
    if name not in ANSATZES:
        raise ValueError(f"unknown ansatz {name!r}; accepted: {', '.join(ANSATZES)}")


def initial_parameters(ansatz: str, num_parameters: int, seed: int | None) -> FloatArray:
    """Random starting angles, as in [1].

    QAOA angles start in ``[0, π/2)``: the energy repeats with period π/2 in β and
    is symmetric under ``(γ, β) -> (-γ, -β)``, so that box holds a copy of every
    optimum. EfficientSU2 angles start anywhere in ``[0, 2π)``.
    """
    high = math.pi / 2 if ansatz == "qaoa" else 2 * math.pi
    return np.random.default_rng(seed).uniform(0.0, high, num_parameters)


@dataclass(frozen=True, slots=True)
class MaxCutProgress:
    """Where an optimisation stands after ``iteration`` estimator calls.

    It is both what ``on_iteration`` receives and what a resumed solve starts
    from; :meth:`to_state` gives a plain, JSON-able dict for checkpoints.
    """

    iteration: int
    energy: float
    parameters: tuple[float, ...]
    best_energy: float
    best_parameters: tuple[float, ...]
    history: tuple[float, ...]

    def to_state(self) -> dict[str, Any]:
        """Plain numbers and lists, so it pickles and serialises to JSON alike."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in asdict(self).items()
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MaxCutProgress:
        expected = {f for f in cls.__dataclass_fields__}
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"a MaxCut progress state needs keys {sorted(expected)}, got {got}")
        progress = cls(
            iteration=int(state["iteration"]),
            energy=float(state["energy"]),
            parameters=tuple(float(v) for v in state["parameters"]),
            best_energy=float(state["best_energy"]),
            best_parameters=tuple(float(v) for v in state["best_parameters"]),
            history=tuple(float(v) for v in state["history"]),
        )
        if progress.iteration != len(progress.history):
            raise ValueError(
                f"inconsistent progress state: iteration {progress.iteration} but "
                f"{len(progress.history)} energies in its history"
            )
        return progress


@dataclass(frozen=True, slots=True)
class MaxCutResult:
    """The outcome of one variational MaxCut solve.

    ``energy`` is the lowest ``<H>`` evaluated, so ``-energy`` is the expected cut of
    the optimised state and ``approximation_ratio = -energy / optimum`` (the usual
    QAOA figure of merit); with an estimator that has shot noise, that minimum is
    an optimistic estimate. ``best_cut`` / ``best_bitstring`` come from sampling that
    state (``None`` without a sampler); ``optimum`` is exact (``None`` past
    :data:`OPTIMUM_MAX_NODES` nodes). ``iterations`` counts estimator calls, including
    those done before a resume (``resumed_from``).
    """

    nodes: int
    edges: tuple[tuple[int, int], ...]
    ansatz: str
    reps: int
    energy: float
    best_cut: int | None
    best_bitstring: str | None
    optimum: int | None
    approximation_ratio: float | None
    iterations: int
    history: tuple[float, ...]
    parameters: tuple[float, ...]
    resumed_from: int = 0
    shots: int = 0
    samples: dict[str, int] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (the sample counts are left out: up to 2**n entries)."""
        summary = asdict(self)
        del summary["samples"]
        summary["edges"] = [list(edge) for edge in self.edges]
        summary["history"] = list(self.history)
        summary["parameters"] = list(self.parameters)
        return summary


OnIteration = Callable[[MaxCutProgress], None]


def solve_maxcut(
    graph: nx.Graph[int],
    estimator: BaseEstimatorV2,
    sampler: BaseSamplerV2 | None = None,
    *,
    ansatz: str = "qaoa",
    reps: int = 1,
    maxiter: int = 100,
    shots: int = DEFAULT_SHOTS,
    seed: int | None = None,
    on_iteration: OnIteration | None = None,
    initial_state: MaxCutProgress | None = None,
) -> MaxCutResult:
    """Minimise ``<H>`` with COBYLA, one ``estimator.run`` per evaluation, then sample.

    ``maxiter`` bounds the total number of estimator calls, counting those already
    in ``initial_state``. A resumed solve restarts COBYLA from the best parameters
    seen so far and keeps the recorded history as the prefix of its own.
    ``on_iteration`` sees every evaluation; raising from it stops the solve.
    """
    check_ansatz_name(ansatz)
    check_positive_int("reps", reps)
    check_positive_int("maxiter", maxiter)
    check_positive_int("shots", shots)
    hamiltonian = maxcut_hamiltonian(graph)
    circuit = build_ansatz(ansatz, graph, reps)

    if initial_state is None:
        start = initial_parameters(ansatz, circuit.num_parameters, seed)
        tracker = _Tracker()
    else:
        if len(initial_state.best_parameters) != circuit.num_parameters:
            raise ValueError(
                f"the progress to resume from has {len(initial_state.best_parameters)} "
                f"parameters but the {ansatz} circuit (reps={reps}) has "
                f"{circuit.num_parameters}: it belongs to another problem"
            )
        start = np.array(initial_state.best_parameters)
        tracker = _Tracker.resume(initial_state)
    resumed_from = tracker.iteration

    def energy_of(parameters: FloatArray) -> float:
        pub_result = estimator.run([(circuit, hamiltonian, parameters)]).result()[0]
        energy = float(pub_result.data.evs)
        progress = tracker.record(energy, parameters)
        if on_iteration is not None:
            on_iteration(progress)
        return energy

    remaining = maxiter - tracker.iteration
    if remaining > 0:
        minimize(energy_of, start, method="COBYLA", options={"maxiter": remaining})

    best = np.array(tracker.best_parameters) if tracker.iteration else start
    samples: dict[str, int] = {}
    best_bitstring = None
    best_cut = None
    if sampler is not None:
        samples = _sample(circuit, best, sampler, shots)
        best_bitstring = max(samples, key=lambda bits: (cut_value(graph, bits), samples[bits]))
        best_cut = cut_value(graph, best_bitstring)
    nodes = graph.number_of_nodes()
    optimum = brute_force_maxcut(graph) if nodes <= OPTIMUM_MAX_NODES else None
    energy = tracker.best_energy
    return MaxCutResult(
        nodes=nodes,
        edges=tuple((int(i), int(j)) for i, j in graph.edges()),
        ansatz=ansatz,
        reps=reps,
        energy=energy,
        best_cut=best_cut,
        best_bitstring=best_bitstring,
        optimum=optimum,
        approximation_ratio=(-energy / optimum) if optimum and math.isfinite(energy) else None,
        iterations=tracker.iteration,
        history=tuple(tracker.history),
        parameters=tuple(float(v) for v in best),
        resumed_from=resumed_from,
        shots=shots if sampler is not None else 0,
        samples=samples,
    )


def _sample(
    circuit: QuantumCircuit, parameters: FloatArray, sampler: BaseSamplerV2, shots: int
) -> dict[str, int]:
    measured = circuit.measure_all(inplace=False)
    pub_result = sampler.run([(measured, parameters)], shots=shots).result()[0]
    counts: dict[str, int] = pub_result.join_data().get_counts()
    return counts


class _Tracker:
    """Mutable running record behind the immutable :class:`MaxCutProgress` snapshots."""

    def __init__(self) -> None:
        self.history: list[float] = []
        self.best_energy = math.inf
        self.best_parameters: tuple[float, ...] = ()

    @classmethod
    def resume(cls, progress: MaxCutProgress) -> _Tracker:
        tracker = cls()
        tracker.history = list(progress.history)
        tracker.best_energy = progress.best_energy
        tracker.best_parameters = progress.best_parameters
        return tracker

    @property
    def iteration(self) -> int:
        return len(self.history)

    def record(self, energy: float, parameters: FloatArray) -> MaxCutProgress:
        values = tuple(float(v) for v in parameters)
        self.history.append(energy)
        if energy < self.best_energy:
            self.best_energy, self.best_parameters = energy, values
        return MaxCutProgress(
            iteration=self.iteration,
            energy=energy,
            parameters=values,
            best_energy=self.best_energy,
            best_parameters=self.best_parameters,
            history=tuple(self.history),
        )


class FunctionContext(Protocol):
    """What :func:`run` uses of the platform's function context."""

    def estimator(
        self, backend: str | None = None, *, default_precision: float | None = None
    ) -> BaseEstimatorV2: ...
    def sampler(self, backend: str | None = None) -> BaseSamplerV2: ...
    def status(self, text: str) -> None: ...
    def log(self, message: str) -> None: ...
    def checkpoint(self, state: Any, *, wait: bool = True) -> None: ...
    def restore(self) -> Any: ...


def run(
    ctx: FunctionContext,
    nodes: int = 8,
    degree: int = 3,
    ansatz: str = "qaoa",
    reps: int = 1,
    maxiter: int = 100,
    seed: int | None = None,
    backend: str | None = None,
    shots: int = DEFAULT_SHOTS,
    checkpoint_every: int = 10,
    precision: float | None = None,
) -> dict[str, Any]:
    """The serverless function: MaxCut on a random regular graph, resumable after a crash.

    Reports ``iteration N, energy E`` as its sub-status at every estimator call and
    checkpoints every ``checkpoint_every`` calls. Without a ``seed`` it draws one and
    checkpoints it too, so a re-run rebuilds the same graph before resuming.
    ``precision`` is the estimator's target precision (None: the platform's default;
    0 asks an ideal simulator for exact expectation values, as Aer's own EstimatorV2 does).
    Returns a JSON-able dict: the :class:`MaxCutResult` fields plus the arguments.
    """
    check_ansatz_name(ansatz)
    for name, value in (("reps", reps), ("maxiter", maxiter), ("shots", shots)):
        check_positive_int(name, value)
    check_positive_int("checkpoint_every", checkpoint_every)
    problem = {"nodes": nodes, "degree": degree, "ansatz": ansatz, "reps": reps}
    saved = ctx.restore()
    resume_from = None
    if saved is not None:
        seed, resume_from = _read_checkpoint(saved, problem)
        ctx.log(f"resuming from the checkpoint at iteration {resume_from.iteration}")
    elif seed is None:
        seed = secrets.randbits(32)
    graph = random_regular_graph(nodes, degree, seed)

    def report(progress: MaxCutProgress) -> None:
        ctx.status(f"iteration {progress.iteration}, energy {progress.energy:.4f}")
        if progress.iteration % checkpoint_every == 0:
            # not waited for: a re-run that misses it redoes ``checkpoint_every`` more calls
            state = {"problem": problem, "seed": seed, "progress": progress.to_state()}
            ctx.checkpoint(state, wait=False)

    ctx.status(f"optimising {ansatz} (reps={reps}) on {nodes} nodes")
    result = solve_maxcut(
        graph,
        ctx.estimator(backend)
        if precision is None
        else ctx.estimator(backend, default_precision=precision),
        ctx.sampler(backend),
        ansatz=ansatz,
        reps=reps,
        maxiter=maxiter,
        shots=shots,
        seed=seed,
        on_iteration=report,
        initial_state=resume_from,
    )
    ctx.log(
        f"{nodes} nodes: cut {result.best_cut} (optimum {result.optimum}) "
        f"after {result.iterations} iterations"
    )
    return {**result.to_dict(), "degree": degree, "seed": seed, "backend": backend}


def _read_checkpoint(saved: Any, problem: dict[str, Any]) -> tuple[int, MaxCutProgress]:
    if not isinstance(saved, dict) or {"problem", "seed", "progress"} - set(saved):
        raise ValueError(
            "the restored checkpoint is not a MaxCut one: expected a dict with keys "
            "'problem', 'seed', 'progress'"
        )
    if saved["problem"] != problem:
        raise ValueError(
            f"the restored checkpoint is for {saved['problem']}, not for this call's {problem}"
        )
    return int(saved["seed"]), MaxCutProgress.from_state(saved["progress"])


def run_bare(
    nodes: int = 8,
    degree: int = 3,
    ansatz: str = "qaoa",
    reps: int = 1,
    maxiter: int = 100,
    seed: int | None = None,
    shots: int = DEFAULT_SHOTS,
    on_iteration: OnIteration | None = None,
) -> MaxCutResult:
    """The same loop on Aer's own primitives in this process: the platform's baseline."""
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    graph = random_regular_graph(nodes, degree, seed)
    return solve_maxcut(
        graph,
        EstimatorV2(),
        SamplerV2(seed=seed),
        ansatz=ansatz,
        reps=reps,
        maxiter=maxiter,
        shots=shots,
        seed=seed,
        on_iteration=on_iteration,
    )
