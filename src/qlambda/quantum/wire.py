"""Circuits on the wire: QPY bytes, keyed by their own content, decoded once per process.

A variational loop sends the same circuit with new parameter values hundreds of
times, through two process hops (worker -> dispatcher -> QPU executor). Rebuilding
it on every hop is wasted work: each process keeps the circuits it has decoded,
keyed by a hash of their QPY bytes, so after the first call a hop costs a hash and a
dictionary lookup. The key is always computed here from the bytes received, never
taken from the sender: a QPU executor is shared by every tenant, and a key one
tenant chose could otherwise stand for another tenant's circuit.

QPY is the only format: a circuit QPY cannot express (an instruction of a class of
the user's own with parameters QPY has no encoding for, for instance) is refused
where it is sent, saying why. Before QPY bytes are parsed, their header is read and
the declared widths checked, so a few crafted bytes cannot make the parser allocate
billions of qubits.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import weakref
from collections import OrderedDict

from qiskit import QuantumCircuit, qpy

from qlambda.quantum.transpilation import unchanged

CACHE_SIZE = 256

_lock = threading.Lock()
_decoded: OrderedDict[bytes, QuantumCircuit] = OrderedDict()
# id(circuit) -> (ref, key, blob, snapshot). A user's circuit keeps a snapshot: it is
# re-encoded only if it no longer equals the snapshot (the user changed it).
_encoded: dict[int, tuple[weakref.ref[QuantumCircuit], bytes, bytes, QuantumCircuit | None]] = {}


class CircuitEncodingError(ValueError):
    """A circuit that cannot cross to a QPU executor, or bytes that are not one."""


def content_hash(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


def encode_circuit(circuit: QuantumCircuit) -> tuple[bytes, bytes]:
    """(content key, QPY bytes) of a circuit, encoded again only when its content changed."""
    with _lock:
        known = _encoded.get(id(circuit))
    if (
        known is not None
        and known[0]() is circuit
        and (known[3] is None or unchanged(circuit, known[3]))
    ):
        return known[1], known[2]
    try:
        buffer = io.BytesIO()
        qpy.dump(circuit, buffer)
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise CircuitEncodingError(
            f"circuit {circuit.name!r} cannot be sent to a QPU: circuits cross as QPY, which "
            f"cannot express it ({detail}); accepted: circuits of Qiskit's standard gates and "
            "instructions, custom gates with a definition, parameters and control flow"
        ) from None
    blob = buffer.getvalue()
    key = content_hash(blob)
    with _lock:
        if len(_encoded) > 4 * CACHE_SIZE:
            _encoded.clear()
        _encoded[id(circuit)] = (weakref.ref(circuit), key, blob, circuit.copy())
    return key, blob


def decode_circuit(
    blob: bytes, *, max_qubits: int | None = None, max_clbits: int | None = None
) -> QuantumCircuit:
    """The circuit of QPY ``blob``, keyed by the hash of these very bytes.

    ``max_qubits`` / ``max_clbits``: refuse, before parsing, a circuit that declares more.
    """
    key = content_hash(blob)
    with _lock:
        hit = _decoded.get(key)
        if hit is not None:
            _decoded.move_to_end(key)
    if hit is None:
        check_header(blob, max_qubits, max_clbits)
        try:
            loaded = qpy.load(io.BytesIO(blob))
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise CircuitEncodingError(f"not a readable QPY circuit: {detail}") from None
        if len(loaded) != 1 or not isinstance(loaded[0], QuantumCircuit):
            raise CircuitEncodingError("QPY bytes must hold exactly one circuit")
        hit = loaded[0]
        with _lock:
            _decoded[key] = hit
            # its key, so what is derived from it caches by content; nobody mutates it
            _encoded[id(hit)] = (weakref.ref(hit), key, blob, None)
            while len(_decoded) > CACHE_SIZE:
                _, old = _decoded.popitem(last=False)
                _encoded.pop(id(old), None)
    if max_qubits is not None and hit.num_qubits > max_qubits:
        raise CircuitEncodingError(f"a circuit of {hit.num_qubits} qubits; at most {max_qubits}")
    return hit


# QPY as this Qiskit writes it: a file header, the program type, a table of offsets,
# then each circuit's header (qiskit.qpy.formats: FILE_HEADER_V10, CIRCUIT_HEADER_V12).
_FILE_HEADER = struct.Struct("!6sBBBBQc")
_OFFSET = struct.Struct("!Q")
_CIRCUIT_HEADER = struct.Struct("!H1cHIIQIQI")


def qpy_version() -> int:
    from qiskit.qpy import common

    return int(common.QPY_VERSION)


def check_header(blob: bytes, max_qubits: int | None, max_clbits: int | None) -> None:
    """Refuse QPY bytes that are not one circuit in this Qiskit's QPY version, or that
    declare more qubits or clbits than allowed, without parsing the rest."""
    start = _FILE_HEADER.size + 1 + _OFFSET.size
    if len(blob) < start + _CIRCUIT_HEADER.size:
        raise CircuitEncodingError("QPY bytes too short to hold a circuit")
    preface, version, _, _, _, programs, _ = _FILE_HEADER.unpack_from(blob)
    if preface != b"QISKIT":
        raise CircuitEncodingError("not QPY bytes (no QISKIT preface)")
    if version != qpy_version():
        raise CircuitEncodingError(
            f"QPY version {version}; this platform reads version {qpy_version()} (the one "
            "its Qiskit writes)"
        )
    if programs != 1 or blob[_FILE_HEADER.size : _FILE_HEADER.size + 1] != b"q":
        raise CircuitEncodingError("QPY bytes must hold exactly one circuit")
    (offset,) = _OFFSET.unpack_from(blob, _FILE_HEADER.size + 1)
    if offset != start:
        raise CircuitEncodingError("QPY bytes with an unexpected layout")
    header = _CIRCUIT_HEADER.unpack_from(blob, start)
    qubits, clbits = header[3], header[4]
    if max_qubits is not None and qubits > max_qubits:
        raise CircuitEncodingError(f"a circuit of {qubits} qubits; at most {max_qubits}")
    if max_clbits is not None and clbits > max_clbits:
        raise CircuitEncodingError(f"a circuit of {clbits} classical bits; at most {max_clbits}")


def content_key(circuit: QuantumCircuit) -> bytes | None:
    """The content key of a circuit this process decoded (None for any other circuit)."""
    with _lock:
        known = _encoded.get(id(circuit))
    if known is None or known[0]() is not circuit or known[3] is not None:
        return None
    return known[1]


_depths: dict[bytes, int] = {}


def circuit_depth(circuit: QuantumCircuit, key: bytes | None = None) -> int:
    """Depth, remembered per circuit content (it costs more than encoding the circuit);
    ``key``: the circuit's content key, where the caller has it."""
    key = key or content_key(circuit) or encode_circuit(circuit)[0]
    depth = _depths.get(key)
    if depth is None:
        depth = _depths[key] = circuit.depth()
        if len(_depths) > 4 * CACHE_SIZE:
            _depths.clear()
    return depth
