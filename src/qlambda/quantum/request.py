"""One quantum task: the PUBs of one primitive ``run()`` call, and what it will cost a QPU.

A :class:`QuantumRequest` crosses processes on every iteration of a variational loop
(worker -> dispatcher -> QPU executor), so it holds only the coerced PUBs and a few
numbers; everything else (transpiled circuits, noise models) stays in the executor. It
crosses as data (:mod:`qlambda.quantum.codec`), never as a pickle.
"""

from __future__ import annotations

import functools
import math
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Protocol

from qiskit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import PauliList

from qlambda.core import CircuitTooWideError
from qlambda.quantum import observables_memo
from qlambda.quantum.config import BackendConfig
from qlambda.quantum.wire import circuit_depth

PRIMITIVES = ("sampler", "estimator", "statevector")
"""``statevector``: the final state of each circuit and parameter set (Cirq's ``simulate()``,
PennyLane's adjoint gradients); only an ideal simulator has one."""
MAX_STATE_QUBITS = 20
"""Widest circuit whose state vector a request may ask for (16 MiB of amplitudes)."""
MAX_STATE_AMPLITUDES = 1 << 24
"""Amplitudes of all the state vectors of one request together (256 MiB)."""
DEFAULT_SHOTS = 1024
"""Shots per PUB when neither the PUB nor run() says (Qiskit's and Aer's SamplerV2 default)."""
DEFAULT_PRECISION = 0.015625
"""1 / sqrt(4096): IBM Runtime's default, and a noisy device's here when a PUB asks for none
(an ideal simulator is exact then, as Qiskit's StatevectorEstimator and Aer's EstimatorV2)."""
OPTIMIZATION_LEVELS = (0, 1, 2, 3)
"""Qiskit's preset pass manager levels a call may ask for (None: lay out, route, translate)."""


class Routable(Protocol):
    """What routing reads of a request: a :class:`QuantumRequest`, or the envelope that
    stands for it in the dispatcher."""

    @property
    def primitive(self) -> str: ...
    @property
    def backend(self) -> str | None: ...
    @property
    def num_qubits(self) -> int: ...
    @property
    def needs_exact(self) -> bool: ...


@dataclass(frozen=True)
class QuantumRequest:
    """The PUBs of one ``run()`` call, already coerced and validated in the caller's process.

    ``shots`` and ``precision`` are the run-level values the caller passed (or None); each
    PUB already carries its own resolved shots (sampler) or precision (estimator). An
    estimator PUB's precision may be None: no precision was asked for, so the backend's
    default applies (exact on an ideal simulator, :data:`DEFAULT_PRECISION` on a noisy
    device). ``num_qubits`` is the width of the widest circuit (see :func:`circuit_width`),
    so the dispatcher can route and reject requests without looking inside the PUBs.
    ``optimization_level``: the Qiskit preset level circuits not yet written for the device
    are transpiled at (None: the backend's default, see ``docs/backends.md``).
    """

    primitive: str
    pubs: tuple[SamplerPub, ...] | tuple[EstimatorPub, ...]
    shots: int | None
    precision: float | None
    num_qubits: int
    backend: str | None
    options: tuple[Any, ...] = ()
    """Execution-option steps (``qlambda.quantum.pipeline``), outermost first."""
    optimization_level: int | None = None
    mode: str | None = None
    """The session or batch the call belongs to (``session-<12 hex>``, ``batch-<12 hex>``:
    :class:`qlambda.runtime.Session`); a device with vendor sessions runs it in one."""
    tags: tuple[str, ...] = ()
    """The primitive's ``options.environment.job_tags`` (:func:`check_tags`): on the
    task's events, and on the vendor's job where the device has one (kind ``ibm``)."""

    @property
    def needs_exact(self) -> bool:
        """Whether a PUB asks for exact values (precision 0) or the request for state
        vectors, which only an ideal simulator gives."""
        if self.primitive == "statevector":
            return True
        return self.primitive == "estimator" and any(pub.precision == 0 for pub in self.pubs)


def make_request(
    primitive: str,
    pubs: Iterable[Any],
    *,
    shots: int | None = None,
    precision: float | None = None,
    backend: str | None = None,
    options: tuple[Any, ...] = (),
    optimization_level: int | None = None,
    mode: str | None = None,
    tags: Sequence[str] = (),
) -> QuantumRequest:
    """Coerce PUB-likes the way Qiskit's primitives do and wrap them as one request.

    Coercion happens here, in the caller's process, so malformed PUBs fail in the user's
    own ``run()`` call with Qiskit's own message instead of in a remote executor. PUBs
    without their own shots get the run-level value, else Qiskit's default; estimator PUBs
    without their own precision get the run-level value, else None (the backend's default).
    """
    if primitive not in PRIMITIVES:
        raise ValueError(f"unknown primitive {primitive!r}; accepted: {', '.join(PRIMITIVES)}")
    check_optimization_level(optimization_level)
    check_mode(mode)
    checked_tags = check_tags(tags)
    if isinstance(pubs, SamplerPub | EstimatorPub) or hasattr(pubs, "num_qubits"):
        raise TypeError("pubs must be a list of PUBs, e.g. run([circuit]), not run(circuit)")
    if primitive == "sampler":
        if precision is not None:
            raise ValueError("a sampler request takes shots, not precision")
        if shots is not None and not _is_positive_integer(shots):
            raise ValueError(f"shots must be a positive integer, got {shots!r}")
        default_shots = DEFAULT_SHOTS if shots is None else shots
        coerced: tuple[Any, ...] = tuple(SamplerPub.coerce(pub, default_shots) for pub in pubs)
    elif primitive == "statevector":
        if shots is not None or precision is not None:
            raise ValueError("a statevector request takes neither shots nor precision")
        coerced = tuple(SamplerPub.coerce(pub, 1) for pub in pubs)
        check_state_size(coerced)
    else:
        if shots is not None:
            raise ValueError("an estimator request takes precision, not shots")
        if precision is not None and not _is_finite_non_negative(precision):
            raise ValueError(f"precision must be a finite number >= 0, got {precision!r}")
        coerced = tuple(_estimator_pub(pub, precision) for pub in pubs)
    if not coerced:
        raise ValueError("run() needs at least one PUB")
    return QuantumRequest(
        primitive=primitive,
        pubs=coerced,
        shots=shots,
        precision=precision,
        num_qubits=max(circuit_width(pub.circuit) for pub in coerced),
        backend=backend,
        options=tuple(options),
        optimization_level=optimization_level,
        mode=mode,
        tags=checked_tags,
    )


def check_state_size(pubs: Sequence[SamplerPub]) -> None:
    """Refuse state vectors too large to send back (:data:`MAX_STATE_QUBITS`,
    :data:`MAX_STATE_AMPLITUDES`), saying what is accepted."""
    total = 0
    for index, pub in enumerate(pubs):
        width = pub.circuit.num_qubits
        if width > MAX_STATE_QUBITS:
            raise ValueError(
                f"pub {index}: the state vector of a {width}-qubit circuit is too large to "
                f"send; accepted: at most {MAX_STATE_QUBITS} qubits (sample it, or estimate "
                "expectation values, instead)"
            )
        total += (1 << width) * max(pub.parameter_values.size, 1)
    if total > MAX_STATE_AMPLITUDES:
        raise ValueError(
            f"the request asks for {total} amplitudes in all; at most {MAX_STATE_AMPLITUDES} "
            "(split the parameter sets over several calls)"
        )


def _estimator_pub(pub: Any, precision: float | None) -> EstimatorPub:
    """``EstimatorPub.coerce(pub, precision)``, its ``SparsePauliOp`` replaced by the
    array it was coerced to before while it is unchanged
    (:mod:`qlambda.quantum.observables_memo`).

    A variational loop's PUB ``(circuit, operator, values)`` is checked as Qiskit checks
    it but for the observables, which the memo validated when it coerced them: Qiskit's
    own check turns every observable into a dict again on each call. Anything this does
    not accept goes through Qiskit's coercion, which says what is wrong.
    """
    if isinstance(pub, tuple | list) and 2 <= len(pub) <= 4:
        observables = observables_memo.coerced(pub[1])
        fast = _known_observables_pub(pub, observables, precision)
        if fast is not None:
            return fast
        pub = (pub[0], observables, *pub[2:])
    return EstimatorPub.coerce(pub, precision)


def _known_observables_pub(
    pub: tuple[Any, ...] | list[Any], observables: Any, precision: float | None
) -> EstimatorPub | None:
    circuit = pub[0]
    if (
        not isinstance(circuit, QuantumCircuit)
        or not observables_memo.validated(observables)
        or observables.num_qubits != circuit.num_qubits
    ):
        return None
    if len(pub) > 3 and pub[3] is not None:
        precision = pub[3]
        if not _is_finite_non_negative(precision):
            return None
    values = pub[2] if len(pub) > 2 else None
    try:
        bindings = None
        if values is not None:
            if not isinstance(values, BindingsArray | Mapping):
                values = {tuple(circuit.parameters): values}
            bindings = BindingsArray.coerce(values)
            bindings.validate()
        made = EstimatorPub(circuit, observables, bindings, precision, validate=False)
    except (TypeError, ValueError):
        return None
    if made.parameter_values.num_parameters != circuit.num_parameters:
        return None
    return made


MODE_PATTERN = re.compile(r"(session|batch)-[0-9a-f]{12}")


def check_mode(mode: Any) -> None:
    """A call's session or batch: None or the id of a :class:`qlambda.runtime.Session`."""
    if mode is not None and not (isinstance(mode, str) and MODE_PATTERN.fullmatch(mode)):
        raise ValueError(
            f"mode {mode!r}: accepted: None, or a session's or batch's id such as "
            "'session-0123456789ab' (qlambda.runtime.Session(...).session_id)"
        )


MAX_TAGS = 8
MAX_TAG_LENGTH = 64
TAGS_ACCEPTED = (
    f"a list of strings (at most {MAX_TAGS}, each 1 to {MAX_TAG_LENGTH} printable characters)"
)
"""IBM's API documents no limits on job tags; these keep every task's events small."""


def check_tags(tags: Any) -> tuple[str, ...]:
    """A call's job tags (``environment.job_tags``), as a tuple, or ValueError saying
    which tag is wrong and what is accepted."""
    problem = tags_problem(tags)
    if problem is not None:
        raise ValueError(f"job tags {reprlib.repr(tags)}: {problem}; accepted: {TAGS_ACCEPTED}")
    return tuple(tags)


def tags_problem(tags: Any) -> str | None:
    """What is wrong with these job tags, or None."""
    if not isinstance(tags, list | tuple):
        return "not a list"
    if len(tags) > MAX_TAGS:
        return f"{len(tags)} tags"
    for tag in tags:
        if not isinstance(tag, str):
            return f"{reprlib.repr(tag)} is not a string"
        if not 1 <= len(tag) <= MAX_TAG_LENGTH:
            return f"{reprlib.repr(tag)} has {len(tag)} characters"
        if not tag.isprintable():
            return f"{tag!r} has a character that is not printable"
    return None


# numpy's numbers are welcome (they are registered as numbers.Integral and numbers.Real),
# bools are not. The value is an ``object`` here: type checkers do not know that int is an
# Integral.
def _is_positive_integer(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, Integral) and not value < 1


def _is_finite_non_negative(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, Real)
        and not value < 0
        and math.isfinite(value)
    )


def check_optimization_level(level: Any) -> None:
    """Refuse a level Qiskit's preset pass managers do not have, saying what is accepted."""
    if level is None or (
        not isinstance(level, bool) and isinstance(level, Integral) and level in OPTIMIZATION_LEVELS
    ):
        return
    raise ValueError(
        f"optimization_level must be one of {', '.join(map(str, OPTIMIZATION_LEVELS))} "
        "(Qiskit's preset pass manager levels) or None (the default: lay out, route and "
        f"translate to the device's gates, never cancel a gate); got {level!r}"
    )


def circuit_width(circuit: QuantumCircuit) -> int:
    """Qubits a circuit needs: its own, or for a circuit already laid out on a device, the
    qubits it was written for (the device's idle qubits cost a simulator nothing)."""
    if circuit.layout is not None:
        return len(circuit.layout.final_index_layout())
    width: int = circuit.num_qubits
    return width


def check_fits(request: Routable, config: BackendConfig) -> None:
    """Raise :class:`CircuitTooWideError` if the request's widest circuit exceeds the backend."""
    width = config.num_qubits
    if width is not None and request.num_qubits > width:
        raise CircuitTooWideError(
            f"circuit needs {request.num_qubits} qubits; backend {config.name!r} has {width}"
        )


def check_device_width(
    request: QuantumRequest, config: BackendConfig, device_qubits: int | None
) -> None:
    """Raise :class:`CircuitTooWideError` if a circuit is wider than the device itself
    (``device_qubits``; None: not known)."""
    if device_qubits is None:
        return
    for pub in request.pubs:
        if pub.circuit.num_qubits > device_qubits:
            raise CircuitTooWideError(
                f"circuit has {pub.circuit.num_qubits} qubits; backend "
                f"{config.name!r} ({config.device}) has {device_qubits}"
            )


def pub_shots(pub: SamplerPub | EstimatorPub, default: int) -> int:
    """Shots a device spends per circuit execution of this PUB.

    An estimator PUB's precision becomes shots as IBM Runtime and Qiskit's
    BackendEstimatorV2 do: ``ceil(1 / precision**2)`` (0.015625 -> 4096). Precision 0
    means exact on a simulator and None the backend's default; a device would take
    ``default`` shots for either.
    """
    if isinstance(pub, SamplerPub):
        return int(pub.shots) if pub.shots else default
    precision: float | None = pub.precision
    if precision:
        return math.ceil(1.0 / precision**2)
    return default


_MEASUREMENT_BASIS = str.maketrans("01+-rl", "ZZXXYY")
"""Projector terms of a SparseObservable are measured in the basis of the matching Pauli."""


_bases_by_content: dict[bytes, int] = {}


def pub_executions(pub: SamplerPub | EstimatorPub, observables_key: bytes | None = None) -> int:
    """Circuits a device runs for this PUB: bindings x measurement bases (estimator).

    ``observables_key``: a hash of the observables' content (their encoding), which
    spares working the bases out again for observables seen before.
    """
    bindings: int = max(pub.parameter_values.size, 1)
    if isinstance(pub, SamplerPub):
        return bindings
    if observables_key is not None:
        bases = _bases_by_content.get(observables_key)
        if bases is None:
            bases = _bases_by_content[observables_key] = _bases(pub)
            if len(_bases_by_content) > 4096:
                _bases_by_content.clear()
        return bindings * bases
    return bindings * _bases(pub)


def _bases(pub: EstimatorPub) -> int:
    """Measurement bases of an estimator PUB's observables (1 for identities only)."""
    labels = {
        label.translate(_MEASUREMENT_BASIS) for terms in pub.observables.ravel() for label in terms
    }
    non_identity = tuple(sorted(label for label in labels if set(label) != {"I"}))
    if not non_identity:
        return 1
    return _measurement_bases(non_identity)


@functools.lru_cache(maxsize=512)
def _measurement_bases(labels: tuple[str, ...]) -> int:
    """Qubit-wise commuting groups; a variational loop asks for the same ones every call."""
    return len(PauliList(list(labels)).group_qubit_wise_commuting())


def estimate_qpu_seconds(request: QuantumRequest, config: BackendConfig) -> float:
    """Time a real device of ``config``'s speed would be busy with ``request``, in seconds.

    Model (the shape of IBM Quantum's usage estimate): a fixed overhead per task, plus,
    for every circuit execution, ``shots x (rep_delay + depth x layer_seconds)``. Depth is
    that of the circuit as submitted; a noisy backend's executor re-estimates with the
    transpiled circuit, which is deeper. Not scaled by ``time_scale``: the executor
    applies that when it emulates.
    """
    return estimate_from_workload(request_workload(request), config)


Workload = tuple[tuple[int, int | None, int], ...]
"""Per PUB: circuit executions, shots per execution (None: the device's default), depth."""


def request_workload(
    request: QuantumRequest, keys: list[tuple[bytes, bytes | None]] | None = None
) -> Workload:
    """What the estimate needs of a request, small enough to travel beside it.

    Execution options that run each circuit several times (``zne``: once per scale factor)
    say so with ``circuits_per_execution``; the estimate counts those runs too. ``keys``:
    per PUB the content keys of its circuit and observables, where the request was just
    encoded (``qlambda.quantum.codec.encode_request``), so nothing is worked out twice.
    """
    factor = 1
    for step in request.options:
        factor *= int(getattr(step, "circuits_per_execution", 1))
    items = []
    for index, pub in enumerate(request.pubs):
        circuit_key, observables_key = keys[index] if keys is not None else (None, None)
        shots = pub_shots(pub, 0) or None
        executions = pub_executions(pub, observables_key) * factor
        items.append((executions, shots, circuit_depth(pub.circuit, circuit_key)))
    return tuple(items)


def estimate_from_workload(workload: Workload, config: BackendConfig) -> float:
    total = config.overhead_seconds
    for executions, shots, depth in workload:
        per_shot = config.rep_delay_seconds + depth * config.layer_seconds
        total += executions * (shots or config.estimate_default_shots) * per_shot
    return total
