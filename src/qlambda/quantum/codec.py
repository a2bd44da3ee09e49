"""Quantum requests and results as data: what crosses to and from a QPU executor.

A QPU executor is shared by every tenant of a server, so what a job sends it is read
as hostile data, never unpickled. A request is one msgpack document:

* ``primitive`` ("sampler" | "estimator"), ``shots``, ``precision``, ``backend``,
  ``optimization_level``: numbers, strings or nil;
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
shapes that match their bytes. Results come back the same way: per PUB its data
fields (a ``BitArray`` as its bytes, bit count and shape; anything else an array) and
its metadata as plain data.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.containers.sampler_pub_result import SamplerPubResult
from qiskit.quantum_info import SparseObservable

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data
from qlambda.quantum.qasm import QasmLimitError, check_operations, operation_count
from qlambda.quantum.request import QuantumRequest, check_optimization_level, circuit_width
from qlambda.quantum.wire import (
    CircuitEncodingError,
    content_hash,
    content_key,
    decode_circuit,
    encode_circuit,
)

FORMAT_VERSION = 1
MAX_SHOTS = 10_000_000
"""Shots one PUB may ask for (IBM devices take at most 10 million per job)."""


class QuantumRequestError(ValueError):
    """A quantum request (or result) that is not well-formed data; the message says which
    field and what is accepted."""


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


# ------------------------------------------------------------------------- arrays
_ARRAY_DTYPES = frozenset(
    np.dtype(name).str
    for name in ("float64", "float32", "complex128", "int64", "int32", "uint64", "uint32")
) | {np.dtype("uint8").str, np.dtype("bool").str}
_MAX_NDIM = 32


def pack_array(array: np.ndarray) -> dict[str, Any]:
    array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": array.tobytes()}


def unpack_array(
    value: Any, where: str, dtypes: Sequence[str] | None = None, finite: bool = True
) -> np.ndarray:
    """An array from its data, every field checked; a read-only view of the bytes."""
    fields = _record(value, ("dtype", "shape", "data"), where)
    dtype, shape, data = fields["dtype"], fields["shape"], fields["data"]
    if not isinstance(dtype, str) or dtype not in _ARRAY_DTYPES:
        raise QuantumRequestError(f"{where}: dtype {dtype!r}; accepted: {sorted(_ARRAY_DTYPES)}")
    if dtypes is not None and np.dtype(dtype) not in [np.dtype(d) for d in dtypes]:
        raise QuantumRequestError(f"{where}: dtype {dtype!r}; accepted: {', '.join(dtypes)}")
    shape = _shape(shape, where)
    if not isinstance(data, bytes):
        raise QuantumRequestError(f"{where}: data must be bytes")
    kind = np.dtype(dtype)
    if len(data) != math.prod(shape) * kind.itemsize:
        raise QuantumRequestError(
            f"{where}: {len(data)} bytes do not hold a {kind} array of shape {tuple(shape)}"
        )
    array = np.frombuffer(data, dtype=kind).reshape(shape)
    if finite and kind.kind in "fc" and not np.isfinite(array).all():
        raise QuantumRequestError(f"{where}: values must be finite numbers")
    return array


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) > _MAX_NDIM
        or not all(type(n) is int and 0 <= n < 1 << 40 for n in value)
    ):
        raise QuantumRequestError(
            f"{where}: a shape must be a list of at most {_MAX_NDIM} sizes >= 0"
        )
    return tuple(value)


def _record(value: Any, keys: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(keys):
        raise QuantumRequestError(f"{where}: expected a mapping of {', '.join(keys)}")
    return value


def _integer(value: Any, where: str, low: int, high: int | None = None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f" to {high}" if high is not None else " or more"
        raise QuantumRequestError(f"{where}: must be a whole number from {low}{bound}")
    return value


def _number(value: Any, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise QuantumRequestError(f"{where}: must be a finite number >= 0")
    return float(value)


# ----------------------------------------------------------------- requests: encode
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
            observables = _pack_observables(pub.observables)
            pubs.append(
                {
                    "circuit": position,
                    "observables": observables,
                    "values": values,
                    "precision": None if pub.precision is None else float(pub.precision),
                }
            )
            if keys is not None:
                keys.append((key, content_hash(observables)))
    return pack_data(
        {
            "version": FORMAT_VERSION,
            "primitive": request.primitive,
            "shots": _plain_int(request.shots),
            "precision": None if request.precision is None else float(request.precision),
            "backend": request.backend,
            "optimization_level": _plain_int(request.optimization_level),
            "options": [_pack_step(step) for step in request.options],
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


def _pack_observables(observables: Any) -> bytes:
    elements = observables.sparse_observables_array()
    return pack_data(
        {
            "shape": list(elements.shape),
            "num_qubits": int(observables.num_qubits),
            "terms": [
                {
                    "coeffs": pack_array(np.asarray(item.coeffs, dtype=np.complex128)),
                    "bit_terms": np.asarray(item.bit_terms, dtype=np.uint8).tobytes(),
                    "indices": pack_array(np.asarray(item.indices, dtype=np.uint32)),
                    "boundaries": pack_array(np.asarray(item.boundaries, dtype=np.uint64)),
                }
                for item in elements.reshape(-1)
            ],
        }
    )


def _pack_step(step: Any) -> dict[str, Any]:
    """An execution option by name when it is installed (and its arguments are JSON), else
    by value, which only an executor running the user's own code accepts."""
    from qlambda.quantum.pipeline.registry import option_spec

    spec = option_spec(step)
    if spec is not None and spec[2]:
        try:
            arguments = json.dumps(spec[1], allow_nan=False, sort_keys=True)
        except (TypeError, ValueError):
            pass
        else:
            return {"name": spec[0], "kwargs": arguments}
    name = spec[0] if spec is not None else str(getattr(step, "name", type(step).__name__))
    return {"name": name, "code": _pickle_step(step)}


def _pickle_step(step: Any) -> bytes:
    """The step by value where its module cannot be imported elsewhere (a user's function
    module lives only in its worker), by reference otherwise."""
    import importlib.util
    import sys

    import cloudpickle

    module = type(step).__module__
    if module in sys.modules and module != "__main__":
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            cloudpickle.register_pickle_by_value(sys.modules[module])
    return cloudpickle.dumps(step)


# ----------------------------------------------------------------- requests: decode
_REQUEST_KEYS = (
    "version",
    "primitive",
    "shots",
    "precision",
    "backend",
    "optimization_level",
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
    fields = _record(plain, _REQUEST_KEYS, "quantum request")
    if fields["version"] != FORMAT_VERSION:
        raise QuantumRequestError(
            f"quantum request format {fields['version']!r}; accepted: {FORMAT_VERSION}"
        )
    primitive = fields["primitive"]
    if primitive not in ("sampler", "estimator"):
        raise QuantumRequestError(f"primitive {primitive!r}; accepted: sampler, estimator")
    shots = fields["shots"]
    if shots is not None:
        _integer(shots, "shots", 1, limits.max_shots)
    precision = fields["precision"]
    if precision is not None:
        precision = _number(precision, "precision")
    backend = fields["backend"]
    if backend is not None and not isinstance(backend, str):
        raise QuantumRequestError("backend: must be a name or nil")
    level = fields["optimization_level"]
    try:
        check_optimization_level(level)
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
        entry = _record(entry, keys, where)
        circuit = circuits[_integer(entry["circuit"], f"{where}.circuit", 0, len(circuits) - 1)]
        values = _unpack_bindings(entry["values"], f"{where}.values", limits)
        if values.num_parameters != circuit.num_parameters:
            raise QuantumRequestError(
                f"{where}: {values.num_parameters} parameter values for a circuit of "
                f"{circuit.num_parameters} parameters"
            )
        try:  # the parts are checked here: Qiskit's own validation would repeat it
            if primitive == "sampler":
                pub_shots = _integer(entry["shots"], f"{where}.shots", 1, limits.max_shots)
                total_shots += pub_shots * max(values.size, 1)
                if total_shots > limits.max_total_shots:
                    raise QuantumRequestError(
                        f"{where}: the request asks for {total_shots} shots in all (shots "
                        f"times parameter-value sets); at most {limits.max_total_shots}"
                    )
                pubs.append(SamplerPub(circuit, values, pub_shots, validate=False))
            else:
                observables = _unpack_observables(
                    entry["observables"], f"{where}.observables", limits
                )
                if observables.num_qubits != circuit.num_qubits:
                    raise QuantumRequestError(
                        f"{where}: observables of {observables.num_qubits} qubits for a "
                        f"circuit of {circuit.num_qubits}"
                    )
                pub_precision = entry["precision"]
                if pub_precision is not None:
                    pub_precision = _number(pub_precision, f"{where}.precision")
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
        options=_unpack_steps(fields["options"], limits),
        optimization_level=level,
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
    fields = _record(value, ("shape", "data"), where)
    shape = _shape(fields["shape"], where)
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


_observables_lock = threading.Lock()
_observables: OrderedDict[bytes, Any] = OrderedDict()
OBSERVABLES_CACHE_SIZE = 256


def _unpack_observables(value: Any, where: str, limits: RequestLimits) -> Any:
    """An ``ObservablesArray``, decoded and validated once per content (a variational
    loop sends the same Hamiltonian every call); the key is the hash of the bytes."""
    if not isinstance(value, bytes):
        raise QuantumRequestError(f"{where}: must be msgpack bytes")
    key = content_hash(value)
    with _observables_lock:
        known = _observables.get(key)
        if known is not None:
            _observables.move_to_end(key)
    if known is None:
        try:
            plain = unpack_data(value)
        except ProtocolError as exc:
            raise QuantumRequestError(f"{where}: {exc}") from None
        known = _build_observables(plain, where, limits)
        with _observables_lock:
            _observables[key] = known
            while len(_observables) > OBSERVABLES_CACHE_SIZE:
                _observables.popitem(last=False)
    if limits.max_qubits is not None and known.num_qubits > limits.max_qubits:
        raise QuantumRequestError(f"{where}: observables of {known.num_qubits} qubits")
    if known.size > limits.max_observables:
        raise QuantumRequestError(
            f"{where}: {known.size} observables; at most {limits.max_observables}"
        )
    return known


def _build_observables(value: Any, where: str, limits: RequestLimits) -> Any:
    fields = _record(value, ("shape", "num_qubits", "terms"), where)
    shape = _shape(fields["shape"], where)
    width = _integer(fields["num_qubits"], f"{where}.num_qubits", 0, limits.max_qubits)
    terms = fields["terms"]
    if not isinstance(terms, list) or len(terms) != math.prod(shape):
        raise QuantumRequestError(f"{where}: one observable per element of shape {shape}")
    if len(terms) > limits.max_observables:
        raise QuantumRequestError(
            f"{where}: {len(terms)} observables; at most {limits.max_observables}"
        )
    items = np.empty(len(terms), dtype=object)
    for number, term in enumerate(terms):
        at = f"{where}.terms[{number}]"
        parts = _record(term, ("coeffs", "bit_terms", "indices", "boundaries"), at)
        if not isinstance(parts["bit_terms"], bytes):
            raise QuantumRequestError(f"{at}.bit_terms: must be bytes")
        try:
            items[number] = SparseObservable.from_raw_parts(
                width,
                unpack_array(parts["coeffs"], f"{at}.coeffs", dtypes=("complex128",)),
                np.frombuffer(parts["bit_terms"], dtype=np.uint8),
                unpack_array(parts["indices"], f"{at}.indices", dtypes=("uint32",)),
                unpack_array(parts["boundaries"], f"{at}.boundaries", dtypes=("uint64",)),
            )
        except QuantumRequestError:
            raise
        except Exception as exc:  # from_raw_parts checks every part; its errors vary
            raise QuantumRequestError(f"{at}: not an observable: {exc}") from None
    try:
        return ObservablesArray(items.reshape(shape), num_qubits=width, validate=True)
    except (TypeError, ValueError) as exc:
        raise QuantumRequestError(f"{where}: {exc}") from None


def _unpack_steps(value: Any, limits: RequestLimits) -> tuple[Any, ...]:
    from qlambda.quantum.pipeline.registry import installed_options, installed_step

    if not isinstance(value, list):
        raise QuantumRequestError("options: must be a list")
    steps = []
    for number, item in enumerate(value):
        where = f"options[{number}]"
        if not isinstance(item, dict) or set(item) not in ({"name", "kwargs"}, {"name", "code"}):
            raise QuantumRequestError(f"{where}: expected {{name, kwargs}} or {{name, code}}")
        name = item["name"]
        if not isinstance(name, str):
            raise QuantumRequestError(f"{where}.name: must be a string")
        if "code" in item:
            if not limits.allow_code:
                raise QuantumRequestError(
                    f"execution option {name!r} is code of the job's own (a step registered "
                    "with @register_step in the job, or a step object); this server's QPUs "
                    "run only the options installed on it: "
                    f"{', '.join(installed_options())} (a package declaring the "
                    "'qlambda.pipeline_steps' entry point, installed on the server, adds one)"
                )
            import cloudpickle

            if not isinstance(item["code"], bytes):
                raise QuantumRequestError(f"{where}.code: must be bytes")
            steps.append(cloudpickle.loads(item["code"]))
            continue
        arguments = item["kwargs"]
        try:
            kwargs = json.loads(arguments) if isinstance(arguments, str) else None
        except ValueError:
            kwargs = None
        if not isinstance(kwargs, dict):
            raise QuantumRequestError(f"{where}.kwargs: must be a JSON object")
        try:
            steps.append(installed_step(name, kwargs))
        except (TypeError, ValueError) as exc:
            raise QuantumRequestError(str(exc)) from None
    return tuple(steps)


# ------------------------------------------------------------------------- results
def encode_result(result: Any) -> bytes:
    """A ``PrimitiveResult`` as msgpack bytes."""
    pubs = []
    for pub in result:
        fields = []
        for name, value in pub.data.items():
            if isinstance(value, BitArray):
                encoded = {
                    "bits": value.array.tobytes(),
                    "num_bits": int(value.num_bits),
                    "shape": [*value.shape, int(value.num_shots)],
                }
            else:
                encoded = pack_array(np.asarray(value))
            fields.append([str(name), encoded])
        pubs.append(
            {
                "kind": "sampler" if type(pub).__name__ == "SamplerPubResult" else "pub",
                "shape": list(pub.data.shape),
                "fields": fields,
                "metadata": plain_data(pub.metadata),
            }
        )
    return pack_data(
        {"version": FORMAT_VERSION, "pubs": pubs, "metadata": plain_data(result.metadata)}
    )


def decode_result(data: bytes) -> Any:
    """The ``PrimitiveResult`` in ``data`` (what a QPU executor sent), every field checked."""
    try:
        plain = unpack_data(data)
    except ProtocolError as exc:
        raise QuantumRequestError(f"a quantum result is not msgpack data: {exc}") from None
    fields = _record(plain, ("version", "pubs", "metadata"), "quantum result")
    if fields["version"] != FORMAT_VERSION or not isinstance(fields["pubs"], list):
        raise QuantumRequestError("quantum result: unknown format")
    results = []
    for position, entry in enumerate(fields["pubs"]):
        where = f"result pubs[{position}]"
        entry = _record(entry, ("kind", "shape", "fields", "metadata"), where)
        shape = _shape(entry["shape"], where)
        values: dict[str, Any] = {}
        if not isinstance(entry["fields"], list):
            raise QuantumRequestError(f"{where}: fields must be a list")
        for item in entry["fields"]:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
                raise QuantumRequestError(f"{where}: a field is [name, value]")
            name, value = item
            if isinstance(value, dict) and "num_bits" in value:
                bits = _record(value, ("bits", "num_bits", "shape"), f"{where}.{name}")
                size = _shape(bits["shape"], f"{where}.{name}")
                width = _integer(bits["num_bits"], f"{where}.{name}.num_bits", 0)
                raw = bits["bits"]
                nbytes = (width + 7) // 8
                if not isinstance(raw, bytes) or len(raw) != math.prod(size) * nbytes:
                    raise QuantumRequestError(f"{where}.{name}: bits do not match their shape")
                array = np.frombuffer(raw, dtype=np.uint8).reshape((*size, nbytes))
                values[name] = BitArray(array.copy(), width)
            else:  # a copy: the caller may write into its evs
                values[name] = unpack_array(value, f"{where}.{name}", finite=False).copy()
        if not isinstance(entry["metadata"], dict):
            raise QuantumRequestError(f"{where}: metadata must be a mapping")
        kind = SamplerPubResult if entry["kind"] == "sampler" else PubResult
        results.append(kind(DataBin(**values, shape=shape), metadata=entry["metadata"]))
    if not isinstance(fields["metadata"], dict):
        raise QuantumRequestError("quantum result: metadata must be a mapping")
    return PrimitiveResult(results, metadata=fields["metadata"])


def plain_data(value: Any, depth: int = 0) -> Any:
    """``value`` as msgpack-able plain data: mappings with string keys, lists, strings,
    numbers, booleans, nil; numpy values become numbers and lists, anything else text."""
    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(key): plain_data(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_data(item, depth + 1) for item in value]
    return str(value)


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
