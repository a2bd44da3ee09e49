"""Quantum requests as data: what a job sends a QPU executor, and how it is checked.

A QPU executor is shared by every tenant of a server, so what a job sends it is read
as hostile data, never unpickled. A request is a msgpack document of three fields:
``version`` (:data:`REQUEST_FORMAT`), ``values`` (per PUB, per group of parameter
names, the raw bytes of its array: what a variational loop changes from call to call)
and ``request``, the msgpack bytes of everything else, its fixed part. An executor
checks and decodes a fixed part once per content, keyed by a hash of the bytes it
received (never by anything the sender says), and then binds each call's values. The
fixed part holds:

* ``primitive`` ("sampler" | "estimator" | "statevector"), ``shots``, ``precision``, ``backend``,
  ``optimization_level``, ``mode``: numbers, strings or nil; ``tags``: a list of
  strings (absent in a request of an older client: none);
* ``circuits``: QPY bytes, each distinct circuit once (decoded once per content by
  :mod:`qlambda.quantum.wire`, which hashes the bytes it receives);
* ``pubs``: per PUB the index of its circuit, the layout of its parameter values
  (their shape, and per group of parameter names its array's dtype and shape), its
  shots (sampler; 1 for a statevector request) or precision (estimator), and an
  estimator's observables: msgpack bytes of their shape, width and the raw parts of
  each ``SparseObservable`` (coefficients, bit terms, qubit indices, term
  boundaries), decoded once per content like circuits;
* ``options``: execution options as ``{"name", "kwargs"}`` (the keyword arguments as
  JSON text), resolved among the options installed where the executor runs; or, where
  the executor runs the user's own code (the embedded platform), ``{"name", "code"}``,
  a step carried by value, which a shared server refuses.

An array is ``{"dtype", "shape", "data"}`` with the raw bytes in C order (a parameter
value array's bytes travel in ``values``). Decoding checks every field: its type, sizes
against :class:`RequestLimits`, finite numbers, shapes that match their bytes, and the
facts the request was routed by (:func:`check_routing`). Results come back as data
too (:mod:`.results`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data
from qlambda.quantum import observables_memo
from qlambda.quantum.codec.fields import (
    QuantumRequestError,
    array_dtype,
    array_of,
    nonnegative,
    pack_array,
    record,
    shape_of,
    whole_number,
)
from qlambda.quantum.codec.observables import pack_observables, unpack_observables
from qlambda.quantum.codec.steps import pack_step, unpack_steps
from qlambda.quantum.memo import LRUMemo
from qlambda.quantum.qasm import QasmLimitError, check_operations, operation_count
from qlambda.quantum.request import (
    PRIMITIVES,
    QuantumRequest,
    check_mode,
    check_optimization_level,
    check_state_size,
    check_tags,
    circuit_width,
)
from qlambda.quantum.wire import (
    CircuitEncodingError,
    content_hash,
    content_key,
    decode_circuit,
    encode_circuit,
)

REQUEST_FORMAT = 2
"""The request layout: 2 puts the parameter values beside the rest (results are still
of :data:`~qlambda.quantum.codec.fields.FORMAT_VERSION`)."""
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
    values = []
    for pub in request.pubs:
        key, blob = encode_circuit(pub.circuit)
        position = index.get(key)
        if position is None:
            position = index[key] = len(circuits)
            circuits.append(blob)
        layout, arrays = _split_bindings(pub.parameter_values)
        values.append(arrays)
        if request.primitive != "estimator":  # a sampler's or a statevector request's
            pubs.append({"circuit": position, "values": layout, "shots": int(pub.shots)})
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
                    "values": layout,
                    "precision": None if pub.precision is None else float(pub.precision),
                }
            )
            if keys is not None:
                keys.append((key, observables_key))
    fixed = pack_data(
        {
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
    return pack_data({"version": REQUEST_FORMAT, "request": fixed, "values": values})


def _plain_int(value: Any) -> int | None:
    return None if value is None else int(value)  # numpy integers are not msgpack's


def _split_bindings(bindings: Any) -> tuple[dict[str, Any], list[bytes]]:
    """A PUB's parameter values: their layout (names, dtypes, shapes) and their bytes."""
    groups = []
    arrays = []
    for names, array in bindings.data.items():
        packed = pack_array(array)
        arrays.append(packed.pop("data"))
        groups.append([list(names), packed])
    return {"shape": list(bindings.shape), "data": groups}, arrays


_REQUEST_KEYS = (
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
TEMPLATES = 256
"""Requests' fixed parts an executor keeps decoded (a loop sends one again and again)."""
_templates: LRUMemo[_Template] = LRUMemo(TEMPLATES)


def decode_request(data: bytes, limits: RequestLimits | None = None) -> Any:
    """The :class:`~qlambda.quantum.request.QuantumRequest` in ``data``, or
    :class:`QuantumRequestError` saying what is wrong. Nothing in it is unpickled
    (except option steps carried by value, where ``limits.allow_code``).

    The fixed part is checked and decoded once per content and ``limits``, keyed by a
    hash of its bytes worked out here (never a key the sender gives); each call then
    checks and binds only its parameter values.
    """
    limits = limits or RequestLimits()
    if not isinstance(data, bytes) or len(data) > limits.max_bytes:
        raise QuantumRequestError(f"a quantum request must be at most {limits.max_bytes} bytes")
    try:
        plain = unpack_data(data)
    except ProtocolError as exc:
        raise QuantumRequestError(f"a quantum request is not msgpack data: {exc}") from None
    if isinstance(plain, dict) and plain.get("version", REQUEST_FORMAT) != REQUEST_FORMAT:
        raise QuantumRequestError(
            f"quantum request format {plain['version']!r}; accepted: {REQUEST_FORMAT}"
        )
    fields = record(plain, ("version", "request", "values"), "quantum request")
    fixed = fields["request"]
    if not isinstance(fixed, bytes):
        raise QuantumRequestError("request: must be msgpack bytes")
    template = _templates.get((content_hash(fixed), limits), lambda: _template(fixed, limits))
    return template.bind(fields["values"], limits)


@dataclass(frozen=True, slots=True)
class _PubTemplate:
    """A PUB but for its parameter values: their shape and, per group of names, the
    shape of its array (float64)."""

    circuit: Any
    observables: Any  # an estimator's; None for the other primitives
    shots: int | None  # a sampler's or a statevector request's
    precision: float | None  # an estimator's
    shape: tuple[int, ...]
    groups: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]

    def bind(self, arrays: Any, where: str) -> Any:
        where = f"{where}.values"
        if not isinstance(arrays, list) or len(arrays) != len(self.groups):
            raise QuantumRequestError(f"{where}: one array of bytes per group of parameters")
        data = {}
        for number, ((names, shape), raw) in enumerate(zip(self.groups, arrays, strict=True)):
            data[names] = array_of(raw, _FLOAT, shape, f"{where}.data[{number}]")
        try:
            values = BindingsArray(data, self.shape)
            if values.num_parameters != self.circuit.num_parameters:
                raise QuantumRequestError(
                    f"{where}: {values.num_parameters} parameter values for a circuit of "
                    f"{self.circuit.num_parameters} parameters"
                )
            if self.observables is None:
                return SamplerPub(self.circuit, values, self.shots, validate=False)
            return EstimatorPub(
                self.circuit, self.observables, values, self.precision, validate=False
            )
        except QuantumRequestError:
            raise
        except (TypeError, ValueError) as exc:  # shapes that do not broadcast
            raise QuantumRequestError(f"{where}: {exc}") from None


_FLOAT = np.dtype("float64")


@dataclass(frozen=True, slots=True)
class _Template:
    """A request's fixed part, checked: what stays the same from call to call."""

    primitive: str
    shots: int | None
    precision: float | None
    backend: str | None
    optimization_level: int | None
    mode: str | None
    tags: tuple[str, ...]
    options: Any  # decoded per call: a step may keep state of its own
    pubs: tuple[_PubTemplate, ...]
    num_qubits: int

    def bind(self, values: Any, limits: RequestLimits) -> Any:
        if not isinstance(values, list) or len(values) != len(self.pubs):
            raise QuantumRequestError("values: one list of parameter-value arrays per PUB")
        pubs = tuple(
            pub.bind(arrays, f"pubs[{position}]")
            for position, (pub, arrays) in enumerate(zip(self.pubs, values, strict=True))
        )
        if self.primitive == "statevector":
            try:
                check_state_size(pubs)
            except ValueError as exc:
                raise QuantumRequestError(str(exc)) from None
        return QuantumRequest(
            primitive=self.primitive,
            pubs=pubs,
            shots=self.shots,
            precision=self.precision,
            num_qubits=self.num_qubits,
            backend=self.backend,
            options=unpack_steps(self.options, limits),
            optimization_level=self.optimization_level,
            mode=self.mode,
            tags=self.tags,
        )


def _template(data: bytes, limits: RequestLimits) -> _Template:
    """A request's fixed part, every field checked."""
    try:
        plain = unpack_data(data)
    except ProtocolError as exc:
        raise QuantumRequestError(f"a quantum request is not msgpack data: {exc}") from None
    if isinstance(plain, dict):
        plain.setdefault("mode", None)  # a request made before sessions existed
        plain.setdefault("tags", [])  # or before requests carried their job tags
    fields = record(plain, _REQUEST_KEYS, "quantum request")
    primitive = fields["primitive"]
    if primitive not in PRIMITIVES:
        raise QuantumRequestError(f"primitive {primitive!r}; accepted: {', '.join(PRIMITIVES)}")
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
            if primitive != "estimator"
            else ("circuit", "observables", "values", "precision")
        )
        entry = record(entry, keys, where)
        circuit = circuits[whole_number(entry["circuit"], f"{where}.circuit", 0, len(circuits) - 1)]
        shape, groups = _bindings_layout(entry["values"], f"{where}.values", limits)
        if primitive != "estimator":
            pub_shots = whole_number(entry["shots"], f"{where}.shots", 1, limits.max_shots)
            total_shots += pub_shots * max(math.prod(shape), 1)
            if total_shots > limits.max_total_shots:
                raise QuantumRequestError(
                    f"{where}: the request asks for {total_shots} shots in all (shots "
                    f"times parameter-value sets); at most {limits.max_total_shots}"
                )
            pubs.append(_PubTemplate(circuit, None, pub_shots, None, shape, groups))
        else:
            observables = unpack_observables(entry["observables"], f"{where}.observables", limits)
            if observables.num_qubits != circuit.num_qubits:
                raise QuantumRequestError(
                    f"{where}: observables of {observables.num_qubits} qubits for a "
                    f"circuit of {circuit.num_qubits}"
                )
            pub_precision = entry["precision"]
            if pub_precision is not None:
                pub_precision = nonnegative(pub_precision, f"{where}.precision")
            pubs.append(_PubTemplate(circuit, observables, None, pub_precision, shape, groups))
    unpack_steps(fields["options"], limits)  # refused here already if it is not accepted
    return _Template(
        primitive=primitive,
        shots=shots,
        precision=precision,
        backend=backend,
        optimization_level=level,
        mode=fields["mode"],
        tags=tags,
        options=fields["options"],
        pubs=tuple(pubs),
        num_qubits=max(circuit_width(pub.circuit) for pub in pubs),
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


def _bindings_layout(
    value: Any, where: str, limits: RequestLimits
) -> tuple[tuple[int, ...], tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]]:
    """A PUB's parameter values but for their bytes: their shape, and per group of
    parameter names the shape of its float64 array."""
    fields = record(value, ("shape", "data"), where)
    shape = shape_of(fields["shape"], where)
    if math.prod(shape) > limits.max_bindings:
        raise QuantumRequestError(
            f"{where}: {math.prod(shape)} parameter-value sets; at most {limits.max_bindings}"
        )
    groups = fields["data"]
    if not isinstance(groups, list):
        raise QuantumRequestError(f"{where}: data must be a list of [names, array] pairs")
    layout = []
    for number, group in enumerate(groups):
        if (
            not isinstance(group, list)
            or len(group) != 2
            or not isinstance(group[0], list)
            or not group[0]
            or not all(isinstance(name, str) and name for name in group[0])
        ):
            raise QuantumRequestError(f"{where}: data[{number}] must be [[names...], array]")
        at = f"{where}.data[{number}]"
        array = record(group[1], ("dtype", "shape"), at)
        array_dtype(array["dtype"], at, dtypes=("float64",))
        array_shape = shape_of(array["shape"], at)
        if math.prod(array_shape) * _FLOAT.itemsize > limits.max_bytes:
            raise QuantumRequestError(f"{at}: an array larger than a request may be")
        layout.append((tuple(group[0]), array_shape))
    return shape, tuple(layout)


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
