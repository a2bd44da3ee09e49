"""Circuits in, counts or expectation values out: a built-in function for any language.

A client that speaks HTTP but not Python sends OpenQASM programs to the gateway's
``POST /circuits``; they run as a job of :data:`CIRCUITS` through the platform's sampler
or estimator (queues, priorities, execution options, calibration) like any function's
quantum tasks. :func:`check_circuit_run` is what the gateway checks before it stores the
job, so a program that does not parse, a circuit wider than the backend or an observable
that does not fit gets a 4xx saying what was wrong, instead of a job that fails later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from qlambda.platform.functions import Function
from qlambda.quantum.request import DEFAULT_PRECISION

Observable = str | dict[str, float]
PAULI_LETTERS = frozenset("IXYZ")
QASM_EXAMPLE = (
    'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; '
    "measure q -> c;"
)


class CircuitRunError(ValueError):
    """A circuit run that cannot be accepted; the message says what is accepted."""


def parse_circuits(programs: Sequence[str], limits: Any = None) -> list[Any]:
    """Each OpenQASM 2 or 3 program as a Qiskit circuit, or the first one that is not;
    ``limits``: a :class:`~qlambda.quantum.qasm.QasmLimits` (its defaults if None)."""
    from qlambda.quantum.qasm import QasmLimitError
    from qlambda.quantum.sdk.circuits import from_qasm

    circuits = []
    for index, program in enumerate(programs):
        try:
            circuit = from_qasm(program, limits)
        except QasmLimitError as exc:
            raise CircuitRunError(f"circuits[{index}]: {exc}") from None
        except Exception as exc:  # each parser raises its own kinds; all mean the same
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise CircuitRunError(
                f"circuits[{index}] is not a valid OpenQASM program: {detail}; accepted: "
                f"OpenQASM 2.0 or 3.0 source, e.g. {QASM_EXAMPLE!r}"
            ) from None
        if circuit.num_parameters:
            names = ", ".join(sorted(p.name for p in circuit.parameters))
            raise CircuitRunError(
                f"circuits[{index}] has free parameters ({names}); accepted: circuits with "
                f"every angle given a value"
            )
        circuits.append(circuit)
    return circuits


def pauli_observable(observable: Observable, num_qubits: int, where: str) -> Any:
    """A Pauli string (``"ZZI"``, qubit 0 rightmost) or ``{pauli: coefficient}`` as a
    SparsePauliOp on ``num_qubits`` qubits."""
    from qiskit.quantum_info import SparsePauliOp

    terms = {observable: 1.0} if isinstance(observable, str) else observable
    if not isinstance(terms, dict) or not terms:
        raise CircuitRunError(
            f"{where} must be a Pauli string or a non-empty {{pauli: coefficient}} mapping, "
            f"got {observable!r}"
        )
    for label, coefficient in terms.items():
        if not isinstance(label, str) or len(label) != num_qubits or set(label) - PAULI_LETTERS:
            raise CircuitRunError(
                f"{where} has the term {label!r}; accepted: strings of {num_qubits} letters "
                f"from I, X, Y, Z (one per qubit of the circuit, qubit 0 rightmost)"
            )
        if isinstance(coefficient, bool) or not isinstance(coefficient, int | float):
            raise CircuitRunError(
                f"{where}: the coefficient of {label!r} must be a real number, got {coefficient!r}"
            )
    return SparsePauliOp.from_list([(label, float(c)) for label, c in terms.items()])


def check_circuit_run(
    primitive: str,
    circuits: Sequence[str],
    observables: Sequence[Observable] | None,
    backend: str | None,
    options: Iterable[Any] | None,
    backend_widths: dict[str, int],
) -> None:
    """Raise :class:`CircuitRunError` for a run the platform would fail; ``backend_widths``
    maps each backend's name to its number of qubits.

    A program is scanned before it is parsed: one that declares more qubits than the
    backend has is refused before anything is allocated (see :mod:`qlambda.quantum.qasm`).
    """
    from qlambda.quantum.pipeline import resolve_options
    from qlambda.quantum.qasm import QasmLimitError, QasmLimits, scan

    if backend is not None and backend not in backend_widths:
        raise CircuitRunError(
            f"unknown backend {backend!r}; available: {', '.join(sorted(backend_widths))} "
            f"(or none, to let the platform choose)"
        )
    width = backend_widths[backend] if backend is not None else max(backend_widths.values())
    where = f"backend {backend!r}" if backend is not None else "the widest backend"
    limits = QasmLimits(max_qubits=width)
    for index, program in enumerate(circuits):
        try:
            scan(program, limits)
        except QasmLimitError as exc:
            if exc.kind == "qubits":
                raise CircuitRunError(
                    f"circuits[{index}] has {exc.value} qubits; {where} has {width}"
                ) from None
            if exc.kind != "syntax":  # a syntax error: the parser says it better
                raise CircuitRunError(f"circuits[{index}]: {exc}") from None
    parsed = parse_circuits(circuits, limits)
    for index, circuit in enumerate(parsed):
        if circuit.num_qubits > width:
            raise CircuitRunError(
                f"circuits[{index}] has {circuit.num_qubits} qubits; {where} has {width}"
            )
    if primitive == "sampler":
        if observables is not None:
            raise CircuitRunError("observables are for the estimator; the sampler takes none")
        for index, circuit in enumerate(parsed):
            if not any(item.operation.name == "measure" for item in circuit.data):
                raise CircuitRunError(
                    f"circuits[{index}] measures nothing, so the sampler would return no "
                    f"bits; accepted: circuits with measurements (measure q -> c;)"
                )
    else:
        if observables is None or len(observables) != len(parsed):
            raise CircuitRunError(
                f"the estimator needs one observable per circuit: {len(parsed)} circuits, "
                f"{0 if observables is None else len(observables)} observables"
            )
        for index, (circuit, observable) in enumerate(zip(parsed, observables, strict=True)):
            pauli_observable(observable, circuit.num_qubits, f"observables[{index}]")
    try:
        steps = resolve_options(options or [])
    except (TypeError, ValueError) as exc:
        raise CircuitRunError(str(exc)) from None
    for step in steps:
        if primitive not in getattr(step, "primitives", ("sampler", "estimator")):
            raise CircuitRunError(
                f"execution option {step.name!r} does not work with the {primitive}"
            )


def run_circuits(
    ctx: Any,
    primitive: str,
    circuits: list[str],
    observables: list[Observable] | None = None,
    shots: int = 1024,
    precision: float = DEFAULT_PRECISION,
    backend: str | None = None,
    options: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``circuits`` in one request; per circuit, its registers' counts (sampler) or
    ``{"ev", "std"}`` (estimator)."""
    parsed = parse_circuits(circuits)
    if primitive == "sampler":
        sampler = ctx.sampler(backend, options=options or [])
        result = sampler.run(parsed, shots=shots).result()
        return [{name: bits.get_counts() for name, bits in pub.data.items()} for pub in result]
    estimator = ctx.estimator(backend, options=options or [])
    pubs = [
        (circuit, pauli_observable(observable, circuit.num_qubits, f"observables[{index}]"))
        for index, (circuit, observable) in enumerate(zip(parsed, observables or [], strict=True))
    ]
    result = estimator.run(pubs, precision=precision).result()
    return [{"ev": float(pub.data.evs), "std": float(pub.data.stds)} for pub in result]


CIRCUITS = Function("circuits", run_circuits)
"""What ``POST /circuits`` submits: the same function for every user."""
