"""Quantum requests on the wire: circuits as QPY, decoded once per distinct circuit.

A variational loop sends the same circuit with new parameter values hundreds of
times, through two process hops (worker -> dispatcher -> QPU executor). Pickling a
QuantumCircuit costs about four times what QPY does, and rebuilding it on every hop
is wasted work: each process keeps the circuits it has decoded, keyed by a hash of
their QPY bytes, so after the first call a hop costs a dictionary lookup. The key is
the content, so a circuit the user changes between calls is simply a new circuit.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
import weakref
from collections import OrderedDict
from typing import Any

from qiskit import QuantumCircuit, qpy

from qlambda.quantum.transpilation import unchanged

CACHE_SIZE = 256

_lock = threading.Lock()
_decoded: OrderedDict[bytes, tuple[QuantumCircuit, bytes, str]] = OrderedDict()
# id(circuit) -> (ref, key, blob, format, snapshot). A user's circuit keeps a snapshot:
# it is re-encoded only if it no longer equals the snapshot (the user changed it).
_encoded: dict[
    int, tuple[weakref.ref[QuantumCircuit], bytes, bytes, str, QuantumCircuit | None]
] = {}


def encode_circuit(circuit: QuantumCircuit) -> tuple[bytes, bytes, str]:
    """(key, bytes, format) of a circuit, encoded again only when its content changed."""
    with _lock:
        known = _encoded.get(id(circuit))
    if (
        known is not None
        and known[0]() is circuit
        and (known[4] is None or unchanged(circuit, known[4]))
    ):
        return known[1], known[2], known[3]
    try:
        buffer = io.BytesIO()
        qpy.dump(circuit, buffer)
        blob, fmt = buffer.getvalue(), "qpy"
    except Exception:  # what QPY cannot express still travels, more slowly
        blob, fmt = pickle.dumps(circuit, protocol=5), "pickle"
    key = hashlib.blake2b(blob, digest_size=16).digest()
    with _lock:
        if len(_encoded) > 4 * CACHE_SIZE:
            _encoded.clear()
        _encoded[id(circuit)] = (weakref.ref(circuit), key, blob, fmt, circuit.copy())
    return key, blob, fmt


def decode_circuit(key: bytes, blob: bytes, fmt: str) -> QuantumCircuit:
    with _lock:
        hit = _decoded.get(key)
        if hit is not None:
            _decoded.move_to_end(key)
            return hit[0]
    circuit = qpy.load(io.BytesIO(blob))[0] if fmt == "qpy" else pickle.loads(blob)
    with _lock:
        _decoded[key] = (circuit, blob, fmt)
        # remember the bytes so forwarding this circuit costs nothing; nobody mutates it
        _encoded[id(circuit)] = (weakref.ref(circuit), key, blob, fmt, None)
        while len(_decoded) > CACHE_SIZE:
            _, (old, _, _) = _decoded.popitem(last=False)
            _encoded.pop(id(old), None)
    return circuit


def content_key(circuit: QuantumCircuit) -> bytes | None:
    """The wire key of a circuit this process decoded (None for any other circuit)."""
    with _lock:
        known = _encoded.get(id(circuit))
    if known is None or known[0]() is not circuit or known[4] is not None:
        return None
    return known[1]


_depths: dict[bytes, int] = {}


def circuit_depth(circuit: QuantumCircuit) -> int:
    """Depth, remembered per circuit content (it costs more than encoding the circuit)."""
    key = content_key(circuit) or encode_circuit(circuit)[0]
    depth = _depths.get(key)
    if depth is None:
        depth = _depths[key] = circuit.depth()
        if len(_depths) > 4 * CACHE_SIZE:
            _depths.clear()
    return depth


def reduce_pub(pub: Any) -> tuple[Any, ...]:
    """What travels for a SamplerPub or EstimatorPub."""
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    encoded = encode_circuit(pub.circuit)
    if isinstance(pub, EstimatorPub):
        return ("estimator", encoded, pub.observables, pub.parameter_values, pub.precision)
    return ("sampler", encoded, pub.parameter_values, pub.shots)


def rebuild_pub(state: tuple[Any, ...]) -> Any:
    from qiskit.primitives.containers.estimator_pub import EstimatorPub
    from qiskit.primitives.containers.sampler_pub import SamplerPub

    circuit = decode_circuit(*state[1])
    if state[0] == "estimator":
        _, _, observables, values, precision = state
        return EstimatorPub(circuit, observables, values, precision, validate=False)
    _, _, values, shots = state
    return SamplerPub(circuit, values, shots, validate=False)
