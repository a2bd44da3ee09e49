"""Turn a circuit written with any supported SDK into a Qiskit circuit.

Accepted: ``qiskit.QuantumCircuit``; an OpenQASM 2 or 3 program as a string (the version
line decides; bounded as :mod:`qlambda.quantum.qasm` says); a ``cirq.Circuit`` (converted
gate by gate, :mod:`.cirq_circuits`; its parameters must be resolved first:
``cirq.resolve_parameters``, or use ``ctx.cirq_sampler()``, which takes sweeps).
PennyLane tapes reach the platform through the ``qlambda.platform`` device instead.
"""

from __future__ import annotations

from typing import Any

from qiskit import QuantumCircuit

from qlambda.quantum.qasm import QasmLimitError, QasmLimits, parse, qasm_version

ACCEPTED = (
    "a qiskit QuantumCircuit, an OpenQASM 2 or 3 program (str), or a cirq.Circuit "
    "(PennyLane: use the 'qlambda.platform' device)"
)


class UnsupportedCircuitError(TypeError):
    """A circuit from an SDK (or of a kind) the platform does not take."""


def _is_cirq_circuit(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("cirq") and hasattr(value, "all_qubits")


def from_qasm(program: str, limits: QasmLimits | None = None) -> QuantumCircuit:
    """An OpenQASM 2 or 3 program as a Qiskit circuit, within ``limits`` (the defaults of
    :class:`~qlambda.quantum.qasm.QasmLimits`): see :mod:`qlambda.quantum.qasm`."""
    try:
        qasm_version(program)
    except QasmLimitError as exc:
        raise UnsupportedCircuitError(f"a circuit given as a string: {exc}") from None
    return parse(program, limits)


def from_cirq(circuit: Any) -> QuantumCircuit:
    """A Cirq circuit as a Qiskit circuit, converted gate by gate (no OpenQASM), once per
    circuit structure; qubits in Cirq's sorted order (q[0] first).

    A measurement with key ``k`` becomes the classical register ``m_k``.
    """
    from qlambda.quantum.sdk.cirq_circuits import cirq_program

    program = cirq_program(circuit)
    if program.symbols:
        raise UnsupportedCircuitError(
            "a Cirq circuit with unresolved parameters cannot be sent as a PUB; resolve "
            "them first (cirq.resolve_parameters(circuit, values)) or use "
            "ctx.cirq_sampler(), which takes parameter resolvers and sweeps"
        )
    if any(any(m.invert) for m in program.measurements):
        raise UnsupportedCircuitError(
            "a Cirq measurement with an invert mask cannot be sent as a PUB (a Qiskit "
            "register has no inverted bits); use ctx.cirq_sampler(), which applies it"
        )
    return program.circuit


def to_qiskit(circuit: Any) -> QuantumCircuit:
    """``circuit`` as a Qiskit circuit, whatever SDK wrote it (see the module doc)."""
    if isinstance(circuit, QuantumCircuit):
        return circuit
    if isinstance(circuit, str):
        return from_qasm(circuit)
    if _is_cirq_circuit(circuit):
        return from_cirq(circuit)
    raise UnsupportedCircuitError(
        f"unsupported circuit of type {type(circuit).__module__}.{type(circuit).__qualname__}; "
        f"accepted: {ACCEPTED}"
    )


def convert_pub(pub: Any) -> Any:
    """A PUB-like with its circuit made a Qiskit circuit; already-coerced PUBs pass."""
    if isinstance(pub, tuple | list) and pub:
        return (to_qiskit(pub[0]), *pub[1:])
    if hasattr(pub, "circuit") and hasattr(pub, "parameter_values"):
        return pub  # a SamplerPub / EstimatorPub
    return to_qiskit(pub)
