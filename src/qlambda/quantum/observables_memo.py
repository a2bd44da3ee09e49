"""A variational loop's observables, coerced and packed once in the caller's process.

An estimator loop passes the same ``SparsePauliOp`` to every call. Coercing it to
Qiskit's ``ObservablesArray`` and packing that as data (:mod:`qlambda.quantum.codec`)
costs about as much as the rest of the call's request; this keeps both per operator
object and reuses them while the object still holds what it held: a snapshot of its
arrays is compared on every call, so an operator changed in place is coerced again.
Only what the caller's process made is kept here; an executor decodes by content
(:func:`qlambda.quantum.codec.observables.unpack_observables`), never by these keys.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.quantum_info import SparsePauliOp

from qlambda.quantum.wire import content_hash

MEMO_SIZE = 64
"""Operators remembered per process (a loop uses one or a few)."""


@dataclass(slots=True)
class _Entry:
    operator: weakref.ref[SparsePauliOp]
    snapshot: tuple[bytes, ...]
    coerced: ObservablesArray
    packed: tuple[bytes, bytes] | None = None  # (packed bytes, content key), once asked


_lock = threading.Lock()
_by_operator: OrderedDict[int, _Entry] = OrderedDict()  # id(operator) -> entry
_by_array: dict[int, _Entry] = {}  # id(entry.coerced) -> entry


def _snapshot(operator: SparsePauliOp) -> tuple[bytes, ...] | None:
    """The operator's content as bytes, or None where bytes would not be its content
    (symbolic coefficients are objects)."""
    coeffs = operator.coeffs
    if coeffs.dtype.kind == "O":
        return None
    paulis = operator.paulis
    return (
        coeffs.dtype.str.encode(),
        coeffs.tobytes(),
        paulis.z.tobytes(),
        paulis.x.tobytes(),
        paulis.phase.tobytes(),
        bytes(str(paulis.z.shape), "ascii"),
    )


def coerced(observables: Any) -> Any:
    """``observables`` as Qiskit's ``ObservablesArray`` when it is a ``SparsePauliOp``
    (the same array object while the operator is unchanged); anything else as it is,
    for Qiskit's own coercion."""
    if type(observables) is not SparsePauliOp:
        return observables
    snapshot = _snapshot(observables)
    if snapshot is None:
        return observables
    with _lock:
        entry = _by_operator.get(id(observables))
        if entry is not None and entry.operator() is observables and entry.snapshot == snapshot:
            _by_operator.move_to_end(id(observables))
            return entry.coerced
    array = ObservablesArray.coerce(observables)
    entry = _Entry(weakref.ref(observables), snapshot, array)
    with _lock:
        old = _by_operator.pop(id(observables), None)
        if old is not None:
            _by_array.pop(id(old.coerced), None)
        _by_operator[id(observables)] = entry
        _by_array[id(array)] = entry
        while len(_by_operator) > MEMO_SIZE:
            _, dropped = _by_operator.popitem(last=False)
            _by_array.pop(id(dropped.coerced), None)
    return array


def validated(observables: Any) -> bool:
    """Whether ``observables`` is an array :func:`coerced` made (and Qiskit validated
    then), still remembered: nothing needs walking its observables again."""
    with _lock:
        entry = _by_array.get(id(observables))
    return entry is not None and entry.coerced is observables


def packed(observables: Any, pack: Any) -> tuple[bytes, bytes]:
    """(``pack(observables)``, its content key), worked out once for an array
    :func:`coerced` made; any other array is packed every time."""
    with _lock:
        entry = _by_array.get(id(observables))
        if entry is not None and entry.coerced is observables and entry.packed is not None:
            return entry.packed
    data = pack(observables)
    result = (data, content_hash(data))
    if entry is not None and entry.coerced is observables:
        with _lock:
            entry.packed = result
    return result
