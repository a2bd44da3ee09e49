"""OpenQASM programs, bounded before they are parsed.

A parser allocates what a program declares: ``qreg q[1000000000];`` is about 100
bytes, and the circuit it declares takes tens of gigabytes. An ``include`` reads a
file of the machine that parses. A loop of 10^8 iterations parses in microseconds
and holds a QPU for hours. So every OpenQASM program, wherever it enters (``POST
/circuits``, ``ctx.sampler()`` / ``ctx.estimator()``, Cirq circuits, which cross as
OpenQASM 2), is first scanned token by token, in time linear in its size and
without building anything, against :class:`QasmLimits`:

* its size;
* ``include``: only the standard libraries ``qelib1.inc`` and ``stdgates.inc``, which
  the parsers know without reading a file; nothing else, and no file is ever read;
* the qubits and classical bits it declares (``qreg``, ``creg``, ``qubit[n]``,
  ``bit[n]``, hardware qubits ``$n``), whose sizes must be integer literals;
* ``for`` loops: their ranges must be integer literals (or ``{a, b, ...}`` sets), and
  the iterations of all loops, nested ones multiplied, are counted.

Only then is it parsed (OpenQASM 2 with no include path), and the circuit's
operations, once gate definitions and loops are expanded, counted too (a few nested
gate definitions can stand for billions of gates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

STANDARD_INCLUDES = ("qelib1.inc", "stdgates.inc")


@dataclass(frozen=True)
class QasmLimits:
    """What one OpenQASM program may declare and do."""

    max_bytes: int = 1_000_000
    max_qubits: int = 1024
    max_clbits: int = 4096
    max_loop_iterations: int = 100_000
    """All iterations of all ``for`` loops of a program, nested loops multiplied."""
    max_operations: int = 10_000_000
    """Operations of the parsed circuit with every gate definition and loop expanded."""


class QasmLimitError(ValueError):
    """A program past a limit, or using what is not allowed; the message says which.

    ``kind`` names the limit ("bytes", "include", "qubits", "clbits", "sizes", "loops",
    "operations"; "syntax" for a program without its version line), ``value`` what the
    program has (where it is a number).
    """

    def __init__(self, message: str, kind: str = "syntax", value: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from the process that parses
        return (type(self), (str(self), self.kind, self.value))


_TOKENS = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"[^"\n]*"|'[^'\n]*')
  | (?P<number>\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<hardware>\$\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>.)
    """,
    re.DOTALL | re.VERBOSE,
)
_INTEGER = re.compile(r"\d[\d_]*")
_QUANTUM = ("qreg", "qubit")
_CLASSICAL = ("creg", "bit")


def _tokens(program: str) -> list[str]:
    return [
        match.group()
        for match in _TOKENS.finditer(program)
        if match.lastgroup not in ("space", "comment")
    ]


def qasm_version(program: str) -> int:
    """2 or 3, from the program's ``OPENQASM`` statement (which must come first)."""
    tokens = _tokens(program[:4096])
    if len(tokens) < 3 or tokens[0] != "OPENQASM" or tokens[2] != ";":
        raise QasmLimitError(
            "an OpenQASM program must start with 'OPENQASM 2.0;' or 'OPENQASM 3.0;'"
        )
    version = tokens[1].split(".")[0]
    if version not in ("2", "3"):
        raise QasmLimitError(f"OpenQASM {tokens[1]} is not supported; accepted: 2 and 3")
    return int(version)


def scan(program: str, limits: QasmLimits | None = None) -> int:
    """Check ``program`` against ``limits`` without parsing it; returns its version.

    Raises :class:`QasmLimitError` saying what is past which limit.
    """
    limits = limits or QasmLimits()
    if not isinstance(program, str):
        raise QasmLimitError(f"an OpenQASM program is a string, not {type(program).__name__}")
    size = len(program.encode("utf-8", errors="replace"))
    if size > limits.max_bytes:
        raise QasmLimitError(
            f"the program is {size} bytes; at most {limits.max_bytes} are accepted", "bytes", size
        )
    version = qasm_version(program)
    tokens = _tokens(program)
    _check_includes(tokens)
    qubits, clbits = _declared_bits(tokens, limits)
    if qubits > limits.max_qubits:
        raise QasmLimitError(
            f"the program declares {qubits} qubits; at most {limits.max_qubits}", "qubits", qubits
        )
    if clbits > limits.max_clbits:
        raise QasmLimitError(
            f"the program declares {clbits} classical bits; at most {limits.max_clbits}",
            "clbits",
            clbits,
        )
    iterations = _loop_iterations(tokens, limits)
    if iterations > limits.max_loop_iterations:
        raise QasmLimitError(
            f"the program's loops run {iterations} iterations; at most "
            f"{limits.max_loop_iterations} (nested loops multiply)",
            "loops",
            iterations,
        )
    return version


def _check_includes(tokens: list[str]) -> None:
    for index, token in enumerate(tokens):
        if token != "include":
            continue
        name = tokens[index + 1] if index + 1 < len(tokens) else ""
        if len(name) < 2 or name[0] not in "\"'" or name[1:-1] not in STANDARD_INCLUDES:
            raise QasmLimitError(
                f"include {name or '(nothing)'} is not allowed: a program may include only "
                "the standard libraries qelib1.inc (OpenQASM 2) and stdgates.inc "
                "(OpenQASM 3); no file is read",
                "include",
            )


def _size(tokens: list[str], index: int, limit: int, kind: str) -> int:
    """The integer literal at ``tokens[index]``, refused past ``limit``."""
    token = tokens[index] if index < len(tokens) else ""
    if not _INTEGER.fullmatch(token):
        raise QasmLimitError(
            f"a declared size must be an integer literal, not {token!r} (for instance qreg q[4];)",
            "sizes",
        )
    value = int(token.replace("_", ""))
    if value > limit:
        noun = "qubits" if kind == "qubits" else "classical bits"
        raise QasmLimitError(f"the program declares {value} {noun}; at most {limit}", kind, value)
    return value


def _declared_bits(tokens: list[str], limits: QasmLimits) -> tuple[int, int]:
    qubits = clbits = 0
    for index, token in enumerate(tokens):
        if token.startswith("$"):
            number = int(token[1:])
            if number >= limits.max_qubits:
                raise QasmLimitError(
                    f"the program uses hardware qubit {token}; at most {limits.max_qubits} qubits",
                    "qubits",
                    number + 1,
                )
            qubits = max(qubits, number + 1)
            continue
        if token not in _QUANTUM and token not in _CLASSICAL:
            continue
        limit = limits.max_qubits if token in _QUANTUM else limits.max_clbits
        kind = "qubits" if token in _QUANTUM else "clbits"
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in ("qreg", "creg"):  # qreg name[size];
            if index + 2 < len(tokens) and tokens[index + 2] == "[":
                count = _size(tokens, index + 3, limit, kind)
            else:
                count = 1
        elif following == "[":  # qubit[size] name;
            count = _size(tokens, index + 2, limit, kind)
        elif following and (following[0].isalpha() or following[0] == "_"):
            count = 1
        else:
            continue
        if token in _QUANTUM:
            qubits += count
        else:
            clbits += count
        if qubits > limits.max_qubits or clbits > limits.max_clbits:
            break  # past a limit already: the caller says which
    return qubits, clbits


def _integer_at(tokens: list[str], index: int) -> tuple[int, int]:
    """(value, next index) of an integer literal, optionally negative, at ``index``."""
    sign = 1
    if index < len(tokens) and tokens[index] == "-":
        sign, index = -1, index + 1
    token = tokens[index] if index < len(tokens) else ""
    if not _INTEGER.fullmatch(token):
        raise QasmLimitError(
            f"a loop range must be made of integer literals, not {token!r} "
            "(for instance for uint i in [0:9] or for uint i in {1, 3, 5})",
            "loops",
        )
    return sign * int(token.replace("_", "")), index + 1


def _loop_count(tokens: list[str], index: int) -> tuple[int, int]:
    """(iterations, index after the range) of the loop range starting at ``index``."""
    opener = tokens[index] if index < len(tokens) else ""
    if opener == "{":
        count, index = 0, index + 1
        while index < len(tokens) and tokens[index] != "}":
            _, index = _integer_at(tokens, index)
            count += 1
            if index < len(tokens) and tokens[index] == ",":
                index += 1
        return count, index + 1
    if opener != "[":
        raise QasmLimitError(
            f"a loop must run over a range [start:end] or a set {{a, b, ...}} of integer "
            f"literals, not {opener!r}",
            "loops",
        )
    numbers = []
    index += 1
    while True:
        value, index = _integer_at(tokens, index)
        numbers.append(value)
        token = tokens[index] if index < len(tokens) else ""
        index += 1
        if token == "]":
            break
        if token != ":" or len(numbers) == 3:
            raise QasmLimitError("a loop range is [start:end] or [start:step:end]", "loops")
    if len(numbers) == 1:
        return 1, index
    start, step, end = (numbers[0], 1, numbers[1]) if len(numbers) == 2 else numbers
    if step == 0:
        raise QasmLimitError("a loop range's step must not be 0", "loops")
    return max(0, (end - start) // step + 1), index


def _loop_iterations(tokens: list[str], limits: QasmLimits) -> int:
    """Iterations of every ``for`` loop, each multiplied by those of the loops around it."""
    total = 0
    # enclosing loops: (multiplier, depth of its body's brace, ends at the next ';')
    frames: list[tuple[int, int, bool]] = []
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            while frames and not frames[-1][2] and frames[-1][1] > depth:
                frames.pop()
        elif token == ";":
            while frames and frames[-1][2] and frames[-1][1] == depth:
                frames.pop()
        elif token == "for":
            position = index + 1
            while position < len(tokens) and tokens[position] != "in":
                position += 1
            count, position = _loop_count(tokens, position + 1)
            multiplier = (frames[-1][0] if frames else 1) * count
            total += multiplier
            if total > limits.max_loop_iterations:
                return total
            if position < len(tokens) and tokens[position] == "{":
                frames.append((multiplier, depth + 1, False))
            else:  # a single statement: the loop ends at its ';'
                frames.append((multiplier, depth, True))
            index = position
            continue
        index += 1
    return total


def parse(program: str, limits: QasmLimits | None = None) -> Any:
    """``program`` as a Qiskit circuit, once :func:`scan` accepted it; the parsed circuit's
    expanded operations are then counted against ``limits.max_operations``."""
    limits = limits or QasmLimits()
    version = scan(program, limits)
    if version == 2:
        from qiskit import qasm2

        circuit = qasm2.loads(
            program, include_path=(), custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS
        )
    else:
        from qiskit import qasm3

        circuit = qasm3.loads(program)
    check_operations(circuit, limits.max_operations)
    return circuit


def check_operations(circuit: Any, limit: int, count: int | None = None) -> None:
    """Refuse a circuit of more than ``limit`` operations once every gate definition and
    loop is expanded (``count``: that number, where the caller has it already)."""
    if count is None:
        count = operation_count(circuit, limit)
    if count > limit:
        raise QasmLimitError(
            f"the circuit expands to more than {limit} operations (gate definitions and "
            "loops unrolled)",
            "operations",
            count,
        )


def operation_count(circuit: Any, limit: int) -> int:
    """Operations of ``circuit`` with definitions and loops expanded, stopping past ``limit``.

    A custom gate's expansion is worked out once per gate (its name and arity): its
    instances rebuild their definitions, so walking each would be as costly as the
    expansion it measures.
    """
    gates: dict[tuple[Any, ...], int] = {}

    def count(body: Any) -> int:
        total = 0
        for instruction in body.data:
            operation = instruction.operation
            inner = 1
            blocks = getattr(operation, "blocks", ())
            if blocks:
                inner = sum(count(block) for block in blocks) or 1
                if operation.name == "for_loop":
                    inner *= max(len(operation.params[0]), 1)
            elif not _standard(operation):
                key = (operation.name, operation.num_qubits, operation.num_clbits)
                known = gates.get(key)
                if known is None:
                    definition = _definition(operation)
                    known = gates[key] = 1 if definition is None else max(count(definition), 1)
                inner = known
            total += inner
            if total > limit:
                break
        return total

    return count(circuit)


def _definition(operation: Any) -> Any:
    try:
        return operation.definition
    except Exception:  # an opaque instruction: one operation
        return None


def _standard(operation: Any) -> bool:
    """Qiskit's own gates: their definitions are small and known."""
    if getattr(operation, "_standard_gate", None) is not None:
        return True
    return (type(operation).__module__ or "").startswith("qiskit.circuit.library")
