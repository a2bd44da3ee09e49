"""Quantum results as data: what a QPU executor answers, decoded in the job's own worker.

Per PUB its data fields (a ``BitArray`` as its bytes, bit count and shape; anything else
an array) and its metadata as plain data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from qiskit.primitives import BitArray, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.sampler_pub_result import SamplerPubResult

from qlambda.engine.protocol import ProtocolError, pack_data, unpack_data
from qlambda.quantum.codec.fields import (
    FORMAT_VERSION,
    QuantumRequestError,
    pack_array,
    record,
    shape_of,
    unpack_array,
    whole_number,
)


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
    fields = record(plain, ("version", "pubs", "metadata"), "quantum result")
    if fields["version"] != FORMAT_VERSION or not isinstance(fields["pubs"], list):
        raise QuantumRequestError("quantum result: unknown format")
    results = []
    for position, entry in enumerate(fields["pubs"]):
        where = f"result pubs[{position}]"
        entry = record(entry, ("kind", "shape", "fields", "metadata"), where)
        shape = shape_of(entry["shape"], where)
        values: dict[str, Any] = {}
        if not isinstance(entry["fields"], list):
            raise QuantumRequestError(f"{where}: fields must be a list")
        for item in entry["fields"]:
            if not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str):
                raise QuantumRequestError(f"{where}: a field is [name, value]")
            name, value = item
            if isinstance(value, dict) and "num_bits" in value:
                bits = record(value, ("bits", "num_bits", "shape"), f"{where}.{name}")
                size = shape_of(bits["shape"], f"{where}.{name}")
                width = whole_number(bits["num_bits"], f"{where}.{name}.num_bits", 0)
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


_PLAIN = frozenset({type(None), bool, int, float, str, bytes})


def plain_data(value: Any, depth: int = 0) -> Any:
    """``value`` as msgpack-able plain data: mappings with string keys, lists, strings,
    numbers, booleans, nil; numpy values become numbers and lists, anything else text."""
    kind = type(value)
    if kind in _PLAIN:  # most of a result's metadata, checked first
        return value
    if kind is dict and depth <= 50:
        return {
            key if type(key) is str else str(key): plain_data(item, depth + 1)
            for key, item in value.items()
        }
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
