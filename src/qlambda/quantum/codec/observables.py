"""Estimator observables as data: the raw parts of each ``SparseObservable``, decoded
and validated once per content (a variational loop sends the same Hamiltonian every call)."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparseObservable

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data
from qlambda.quantum.codec.fields import (
    QuantumRequestError,
    pack_array,
    record,
    shape_of,
    unpack_array,
    whole_number,
)
from qlambda.quantum.wire import content_hash


def pack_observables(observables: Any) -> bytes:
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


_observables_lock = threading.Lock()
_observables: OrderedDict[bytes, Any] = OrderedDict()
OBSERVABLES_CACHE_SIZE = 256


def unpack_observables(value: Any, where: str, limits: Any) -> Any:
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


def _build_observables(value: Any, where: str, limits: Any) -> Any:
    fields = record(value, ("shape", "num_qubits", "terms"), where)
    shape = shape_of(fields["shape"], where)
    width = whole_number(fields["num_qubits"], f"{where}.num_qubits", 0, limits.max_qubits)
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
        parts = record(term, ("coeffs", "bit_terms", "indices", "boundaries"), at)
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
