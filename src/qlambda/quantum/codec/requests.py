"""Quantum requests as data: what a job sends a QPU executor, and how it is checked.

A QPU executor is shared by every tenant of a server, so what a job sends it is read
as hostile data, never unpickled. A request is one msgpack document:

* ``primitive`` ("sampler" | "estimator"), ``shots``, ``precision``, ``backend``,
  ``optimization_level``, ``mode``: numbers, strings or nil; ``tags``: a list of
  strings (absent in a request of an older client: none);
* ``circuits``: QPY bytes, each distinct circuit once (decoded once per content by
  :mod:`qlambda.quantum.wire`, which hashes the bytes it receives);
* ``pubs``: per PUB the index of its circuit, its parameter values (per group of
  parameter names, an array), its shots (sampler) or precision (estimator), and an
  estimator's observables: msgpack bytes of their shape, width and the raw parts of
  each ``SparseObservable`` (coefficients, bit terms, qubit indices, term boundaries),
  decoded once per content like circuits;
* ``options``: execution options as ``{"name", "kwargs"}`` (the keyword arguments as
  JSON text), resolved among the options installed where the executor runs; or, where
  the executor runs the user's own code (the embedded platform), ``{"name", "code"}``,
  a step carried by value, which a shared server refuses.

An array is ``{"dtype", "shape", "data"}`` with the raw bytes in C order. Decoding
checks every field: its type, sizes against :class:`RequestLimits`, finite numbers,
shapes that match their bytes, and the facts the request was routed by
(:func:`check_routing`). Results come back as data too (:mod:`.results`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data
from qlambda.quantum import observables_memo
from qlambda.quantum.codec.fields import (
    FORMAT_VERSION,
    QuantumRequestError,
    nonnegative,
    pack_array,
    record,
    shape_of,
    unpack_array,
    whole_number,
)
from qlambda.quantum.codec.observables import pack_observables, unpack_observables
from qlambda.quantum.codec.steps import pack_step, unpack_steps
from qlambda.quantum.qasm import QasmLimitError, check_operations, operation_count
from qlambda.quantum.request import (
    QuantumRequest,
    check_mode,
    check_optimization_level,
    check_tags,
    circuit_width,
)
from qlambda.quantum.wire import (
    CircuitEncodingError,
    content_key,
    decode_circuit,
    encode_circuit,
)

MAX_SHOTS = 10_000_000
"""Shots one PUB may ask for (IBM devices take at most 10 million per job)."""


@dataclass(frozen=True)
class RequestLimits:
    """What a QPU executor accepts in one request."""

    max_bytes: int = 256 << 20
    max_pubs: int = 10_000
    max_qubits: int | None = None
    """The backend's width (None: not checked here)."""
    max_clbits: int = 1 << 16
    max_bindings: int = 1 << 20
    """Parameter-value sets per PUB (the product of its shape)."""
    max_observables: int = 1 << 16
    """Observables per estimator PUB."""
    max_shots: int = MAX_SHOTS
    max_total_shots: int = 100_000_000
    """Shots of all a sampler request's PUBs and parameter-value sets together (each one
    is a bit string of the result)."""
    max_operations: int = 10_000_000
    """Operations of a circuit once its gate definitions and loops are expanded."""
    allow_code: bool = False
    """Execution-option steps carried by value are accepted (the embedded platform only)."""


def encode_request(request: Any, keys: list[tuple[bytes, bytes | None]] | None = None) -> bytes:
    """A :class:`~qlambda.quantum.request.QuantumRequest` as msgpack bytes. ``keys``, if
    given, receives per PUB the content keys of its circuit and observables."""
    circuits: list[bytes] = []
    index: dict[bytes, int] = {}
    pubs = []
    for pub in request.pubs:
        key, blob = encode_circuit(pub.circuit)
        position = index.get(key)
        if position is None:
            position = index[key] = len(circuits)
            circuits.append(blob)
        values = _pack_bindings(pub.parameter_values)
        if request.primitive == "sampler":
            pubs.append({"circuit": position, "values": values, "shots": int(pub.shots)})
            if keys is not None:
                keys.append((key, None))
        else:
            observables, observables_key = observables_memo.packed(
                pub.observables, pack_observables
            )
            pubs.append(
                {
                    "circuit": position,
                    "observables": observables,
                    "values": values,
                    "precision": None if pub.precision is None else float(pub.precision),
                }
            )
            if keys is not None:
                keys.append((key, observables_key))
    return pack_data(
        {
            "version": FORMAT_VERSION,
            "primitive": request.primitive,
            "shots": _plain_int(request.shots),
            "precision": None if request.precision is None else float(request.precision),
            "backend": request.backend,
            "optimization_level": _plain_int(request.optimization_level),
            "mode": request.mode,
            "tags": list(request.tags),
            "options": [pack_step(step) for step in request.options],
            "circuits": circuits,
            "pubs": pubs,
        }
    )


def _plain_int(value: Any) -> int | None:
    return None if value is None else int(value)  # numpy integers are not msgpack's


def _pack_bindings(bindings: Any) -> dict[str, Any]:
    return {
        "shape": list(bindings.shape),
        "data": [[list(names), pack_array(array)] for names, array in bindings.data.items()],
    }


_REQUEST_KEYS = (
    "version",
    "primitive",
    "shots",
    "precision",
    "backend",
    "optimization_level",
    "mode",
    "tags",
    "options",
    "circuits",
    "pubs",
)


def decode_request(data: bytes, limits: RequestLimits | None = None) -> Any:
    """The :class:`~qlambda.quantum.request.QuantumRequest` in ``data``, or
    :class:`QuantumRequestError` saying what is wrong. Nothing in it is unpickled
    (except option steps carried by value, where ``limits.allow_code``)."""
    limits = limits or RequestLimits()
    if not isinstance(data, bytes) or len(data) > limits.max_bytes:
        raise QuantumRequestError(f"a quantum request must be at most {limits.max_bytes} bytes")
    try:
        plain = unpack_data(data)
    except ProtocolError as exc:
        raise QuantumRequestError(f"a quantum request is not msgpack data: {exc}") from None
    if isinstance(plain, dict):
        plain.setdefault("mode", None)  # a request made before sessions existed
        plain.setdefault("tags", [])  # or before requests carried their job tags
    fields = record(plain, _REQUEST_KEYS, "quantum request")
    if fields["version"] != FORMAT_VERSION:
        raise QuantumRequestError(
            f"quantum request format {fields['version']!r}; accepted: {FORMAT_VERSION}"
        )
    primitive = fields["primitive"]
    if primitive not in ("sampler", "estimator"):
        raise QuantumRequestError(f"primitive {primitive!r}; accepted: sampler, estimator")
    shots = fields["shots"]
    if shots is not None:
        whole_number(shots, "shots", 1, limits.max_shots)
    precision = fields["precision"]
    if precision is not None:
        precision = nonnegative(precision, "precision")
    backend = fields["backend"]
    if backend is not None and not isinstance(backend, str):
        raise QuantumRequestError("backend: must be a name or nil")
    level = fields["optimization_level"]
    try:
        check_optimization_level(level)
        check_mode(fields["mode"])
        tags = check_tags(fields["tags"])
    except ValueError as exc:
        raise QuantumRequestError(str(exc)) from None
    blobs, entries = fields["circuits"], fields["pubs"]
    if not isinstance(blobs, list) or not all(isinstance(b, bytes) for b in blobs):
        raise QuantumRequestError("circuits: must be a list of QPY bytes")
    if not isinstance(entries, list) or not 1 <= len(entries) <= limits.max_pubs:
        raise QuantumRequestError(f"pubs: must be a list of 1 to {limits.max_pubs} PUBs")
    if len(blobs) > len(entries):
        raise QuantumRequestError("circuits: more circuits than PUBs")
    circuits = []
    for position, blob in enumerate(blobs):
        try:
            circuit = decode_circuit(
                blob, max_qubits=limits.max_qubits, max_clbits=limits.max_clbits
            )
            _check_operations(circuit, limits.max_operations)
        except (CircuitEncodingError, QasmLimitError) as exc:
            raise QuantumRequestError(f"circuits[{position}]: {exc}") from None
        circuits.append(circuit)
    pubs = []
    total_shots = 0
    for position, entry in enumerate(entries):
        where = f"pubs[{position}]"
        keys = (
            ("circuit", "values", "shots")
            if primitive == "sampler"
            else ("circuit", "observables", "values", "precision")
        )
        entry = record(entry, keys, where)
        circuit = circuits[whole_number(entry["circuit"], f"{where}.circuit", 0, len(circuits) - 1)]
        values = _unpack_bindings(entry["values"], f"{where}.values", limits)
        if values.num_parameters != circuit.num_parameters:
            raise QuantumRequestError(
                f"{where}: {values.num_parameters} parameter values for a circuit of "
                f"{circuit.num_parameters} parameters"
            )
        try:  # the parts are checked here: Qiskit's own validation would repeat it
            if primitive == "sampler":
                pub_shots = whole_number(entry["shots"], f"{where}.shots", 1, limits.max_shots)
                total_shots += pub_shots * max(values.size, 1)
                if total_shots > limits.max_total_shots:
                    raise QuantumRequestError(
                        f"{where}: the request asks for {total_shots} shots in all (shots "
                        f"times parameter-value sets); at most {limits.max_total_shots}"
                    )
                pubs.append(SamplerPub(circuit, values, pub_shots, validate=False))
            else:
                observables = unpack_observables(
                    entry["observables"], f"{where}.observables", limits
                )
                if observables.num_qubits != circuit.num_qubits:
                    raise QuantumRequestError(
                        f"{where}: observables of {observables.num_qubits} qubits for a "
                        f"circuit of {circuit.num_qubits}"
                    )
                pub_precision = entry["precision"]
                if pub_precision is not None:
                    pub_precision = nonnegative(pub_precision, f"{where}.precision")
                pubs.append(
                    EstimatorPub(circuit, observables, values, pub_precision, validate=False)
                )
        except QuantumRequestError:
            raise
        except (TypeError, ValueError) as exc:  # shapes that do not broadcast
            raise QuantumRequestError(f"{where}: {exc}") from None
    return QuantumRequest(
        primitive=primitive,
        pubs=tuple(pubs),
        shots=shots,
        precision=precision,
        num_qubits=max(circuit_width(pub.circuit) for pub in pubs),
        backend=backend,
        options=unpack_steps(fields["options"], limits),
        optimization_level=level,
        mode=fields["mode"],
        tags=tags,
    )


_counted: dict[tuple[bytes, int], int] = {}


def _check_operations(circuit: Any, limit: int) -> None:
    """A circuit's expanded size, worked out once per content (nested gate definitions and
    loops can stand for billions of operations, which a transpiler would unroll)."""
    content = content_key(circuit)
    key = None if content is None else (content, limit)  # a count stops past its limit
    count = _counted.get(key) if key is not None else None
    if count is None:
        count = operation_count(circuit, limit)
        if key is not None:
            if len(_counted) > 4096:
                _counted.clear()
            _counted[key] = count
    check_operations(circuit, limit, count)


def _unpack_bindings(value: Any, where: str, limits: RequestLimits) -> Any:
    fields = record(value, ("shape", "data"), where)
    shape = shape_of(fields["shape"], where)
    if math.prod(shape) > limits.max_bindings:
        raise QuantumRequestError(
            f"{where}: {math.prod(shape)} parameter-value sets; at most {limits.max_bindings}"
        )
    groups = fields["data"]
    if not isinstance(groups, list):
        raise QuantumRequestError(f"{where}: data must be a list of [names, array] pairs")
    data = {}
    for number, group in enumerate(groups):
        if (
            not isinstance(group, list)
            or len(group) != 2
            or not isinstance(group[0], list)
            or not group[0]
            or not all(isinstance(name, str) and name for name in group[0])
        ):
            raise QuantumRequestError(f"{where}: data[{number}] must be [[names...], array]")
        array = unpack_array(group[1], f"{where}.data[{number}]", dtypes=("float64",))
        data[tuple(group[0])] = array
    try:
        return BindingsArray(data, shape)
    except (TypeError, ValueError) as exc:
        raise QuantumRequestError(f"{where}: {exc}") from None


def check_routing(request: Any, primitive: str, declared: int, needs_exact: bool) -> None:
    """The facts the control plane routed a request by must be those of its content."""
    if request.primitive != primitive:
        raise QuantumRequestError(
            f"the request was routed as a {primitive} request but holds {request.primitive} PUBs"
        )
    if request.num_qubits != declared:
        raise QuantumRequestError(
            f"the request was routed as {declared} qubits wide but its circuits need "
            f"{request.num_qubits}"
        )
    if request.needs_exact != needs_exact:
        raise QuantumRequestError(
            "the request was routed with needs_exact="
            f"{needs_exact} but its PUBs say {request.needs_exact}"
        )
