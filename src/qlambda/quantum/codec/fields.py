"""The building blocks of the quantum data formats: arrays, shapes, checked fields."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

FORMAT_VERSION = 1


class QuantumRequestError(ValueError):
    """A quantum request (or result) that is not well-formed data; the message says which
    field and what is accepted."""


_ARRAY_DTYPES = frozenset(
    np.dtype(name).str
    for name in ("float64", "float32", "complex128", "int64", "int32", "uint64", "uint32")
) | {np.dtype("uint8").str, np.dtype("bool").str}
_MAX_NDIM = 32


def pack_array(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    array = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": array.tobytes()}


def unpack_array(
    value: Any, where: str, dtypes: Sequence[str] | None = None, finite: bool = True
) -> np.ndarray[Any, Any]:
    """An array from its data, every field checked; a read-only view of the bytes."""
    fields = record(value, ("dtype", "shape", "data"), where)
    kind = array_dtype(fields["dtype"], where, dtypes)
    shape = shape_of(fields["shape"], where)
    return array_of(fields["data"], kind, shape, where, finite)


def array_dtype(dtype: Any, where: str, dtypes: Sequence[str] | None = None) -> np.dtype[Any]:
    """The dtype an array's data declares, if it is one of ``dtypes`` (or of any array)."""
    if not isinstance(dtype, str) or dtype not in _ARRAY_DTYPES:
        raise QuantumRequestError(f"{where}: dtype {dtype!r}; accepted: {sorted(_ARRAY_DTYPES)}")
    kind = np.dtype(dtype)
    if dtypes is not None and kind not in [np.dtype(d) for d in dtypes]:
        raise QuantumRequestError(f"{where}: dtype {dtype!r}; accepted: {', '.join(dtypes)}")
    return kind


def array_of(
    data: Any, kind: np.dtype[Any], shape: tuple[int, ...], where: str, finite: bool = True
) -> np.ndarray[Any, Any]:
    """A read-only view of ``data`` as an array of ``kind`` and ``shape`` (both checked
    already), if its size matches and, with ``finite``, its numbers are finite."""
    if not isinstance(data, bytes):
        raise QuantumRequestError(f"{where}: data must be bytes")
    if len(data) != math.prod(shape) * kind.itemsize:
        raise QuantumRequestError(
            f"{where}: {len(data)} bytes do not hold a {kind} array of shape {tuple(shape)}"
        )
    array = np.frombuffer(data, dtype=kind).reshape(shape)
    if finite and kind.kind in "fc" and not np.isfinite(array).all():
        raise QuantumRequestError(f"{where}: values must be finite numbers")
    return array


def shape_of(value: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) > _MAX_NDIM
        or not all(type(n) is int and 0 <= n < 1 << 40 for n in value)
    ):
        raise QuantumRequestError(
            f"{where}: a shape must be a list of at most {_MAX_NDIM} sizes >= 0"
        )
    return tuple(value)


def record(value: Any, keys: Sequence[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(keys):
        raise QuantumRequestError(f"{where}: expected a mapping of {', '.join(keys)}")
    return value


def whole_number(value: Any, where: str, low: int, high: int | None = None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f" to {high}" if high is not None else " or more"
        raise QuantumRequestError(f"{where}: must be a whole number from {low}{bound}")
    return value


def nonnegative(value: Any, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise QuantumRequestError(f"{where}: must be a finite number >= 0")
    return float(value)
