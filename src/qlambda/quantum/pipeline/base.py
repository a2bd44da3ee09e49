"""What a pipeline step sees: executions going down to the backend, outcomes coming up.

A request's PUBs are flattened into :class:`Execution` s (one bound circuit, what to measure,
how many shots). Steps wrap the backend like stacked decorators: the first option is the
outermost, so its ``pre`` runs first and its ``post`` last. Every execution that reaches
the bottom goes to the simulator in one batched call, however many the steps made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from qlambda.quantum.memo import LRUMemo

if TYPE_CHECKING:  # the control plane validates options without importing Qiskit
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp


@dataclass(frozen=True)
class Execution:
    """One circuit run: a bound circuit (runnable on the backend: ISA for a device) and,
    for an estimator, the observable measured on it (in the circuit's qubit indices).

    ``mitigate_readout`` asks the measurement stage to weight every shot with the inverse of
    the backend's calibrated readout confusion matrix (set by the ``readout`` step).
    ``shots`` 0 with an observable asks for its exact value (on an ideal simulator only).
    """

    circuit: QuantumCircuit
    shots: int
    observable: SparsePauliOp | None = None
    mitigate_readout: bool = False


@dataclass(frozen=True)
class Outcome:
    """What came back for one execution: an expectation value and its standard error
    (estimator), or the measured shots (sampler: ``bits`` is a ``BitArray`` per register)."""

    value: float | None = None
    std: float | None = None
    bits: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendView:
    """The facts about the backend a step may use, without the simulator itself.

    ``readout_errors[q] = (p(1|0), p(0|1))``: the calibrated probability of reading 1 when
    qubit ``q`` was prepared in 0, and 0 when prepared in 1. ``rebase`` rewrites a circuit
    into the backend's instruction set without optimising it (a step that adds inverse gates
    must keep them: a transpiler at optimisation level 1 or more would cancel them).
    """

    name: str
    kind: str
    num_qubits: int | None
    readout_errors: dict[int, tuple[float, float]]
    rebase: Callable[[QuantumCircuit], QuantumCircuit]
    seed: int | None = None
    memo: LRUMemo[Any] = field(default_factory=lambda: LRUMemo(512), compare=False, repr=False)
    """Circuits steps derived for this backend (folds, measurement circuits), by key."""


@runtime_checkable
class PipelineStep(Protocol):
    """One execution option: a pre-processing stage, a post-processing stage, or both.

    ``pre`` returns the executions to pass down and a context of its own; ``post`` receives
    the outcomes of exactly the executions its ``pre`` returned, plus that context, and
    returns one outcome per execution it was given.
    """

    name: str

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]: ...

    def post(
        self, outcomes: Sequence[Outcome], context: Any, backend: BackendView
    ) -> list[Outcome]: ...


Measure = Callable[[Sequence[Execution]], list[Outcome]]
"""The bottom of the pipeline: runs every execution in one batched simulator call."""


def run_steps(
    steps: Sequence[PipelineStep],
    executions: Sequence[Execution],
    backend: BackendView,
    measure: Measure,
) -> list[Outcome]:
    """Apply ``pre`` outermost first, measure everything once, then ``post`` innermost first."""
    contexts = []
    current = list(executions)
    for step in steps:
        current, context = step.pre(current, backend)
        contexts.append(context)
    outcomes = measure(current)
    for step, context in zip(reversed(steps), reversed(contexts), strict=True):
        outcomes = step.post(outcomes, context, backend)
    if len(outcomes) != len(executions):
        raise RuntimeError(
            f"the pipeline returned {len(outcomes)} outcomes for {len(executions)} executions"
        )
    return outcomes


class PassThrough:
    """Base for steps that only transform on one side: the other side does nothing."""

    name = "pass"

    def pre(
        self, executions: Sequence[Execution], backend: BackendView
    ) -> tuple[list[Execution], Any]:
        return list(executions), None

    def post(
        self, outcomes: Sequence[Outcome], context: Any, backend: BackendView
    ) -> list[Outcome]:
        return list(outcomes)
