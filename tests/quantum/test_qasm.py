"""OpenQASM programs are scanned against limits before any parser allocates anything."""

from __future__ import annotations

import pytest

from qlambda.quantum.qasm import QasmLimitError, QasmLimits, parse, scan
from qlambda.quantum.sdk.circuits import to_qiskit

V2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
V3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def loop(count: int, body: str = "h q[0];") -> str:
    return V3 + f"qubit[1] q;\nfor uint i in [0:{count - 1}] {{ {body} }}\n"


@pytest.mark.parametrize(
    ("program", "kind", "message"),
    [
        (V2 + "qreg q[1000000000];", "qubits", "declares 1000000000 qubits; at most 1024"),
        (V2 + "qreg a[1000]; qreg b[1000];", "qubits", "declares 2000 qubits"),
        (V3 + "qubit[4000000000] q;", "qubits", "declares 4000000000 qubits"),
        (V3 + "qubit[1_000_000] q;", "qubits", "declares 1000000 qubits"),
        (V3 + "h $99999999;", "qubits", r"hardware qubit \$99999999"),
        (V2 + "qreg q[1]; creg c[100000000];", "clbits", "100000000 classical bits"),
        (V3 + "bit[5000] c;", "clbits", "5000 classical bits; at most 4096"),
        (V3 + "qubit[n] q;", "sizes", "must be an integer literal, not 'n'"),
        (loop(10**8), "loops", "run 100000000 iterations; at most 100000"),
        (
            V3 + "qubit q; for uint i in [0:999] { for uint j in [0:999] { h q; } }",
            "loops",
            "run 1001000 iterations",
        ),
        (V3 + "qubit q; for uint i in [0:999] for uint j in [0:999] h q;", "loops", "1001000"),
        (V3 + "qubit q; for uint i in [0:n] { h q; }", "loops", "integer literals, not 'n'"),
        ("OPENQASM 4.0; qreg q[1];", "syntax", "OpenQASM 4.0 is not supported"),
        ("qreg q[1];", "syntax", "must start with 'OPENQASM 2.0;'"),
    ],
)
def test_past_a_limit_a_program_is_refused_before_it_is_parsed(program, kind, message):
    with pytest.raises(QasmLimitError, match=message) as caught:
        scan(program)
    assert caught.value.kind == kind


@pytest.mark.parametrize(
    "include",
    [
        '"/etc/hostname"',
        "'/etc/hostname'",
        '"qelib1.inc/../../etc/hostname"',
        '"../qelib1.inc"',
        "/etc/hostname",
    ],
)
def test_only_the_standard_libraries_may_be_included_and_no_file_is_read(include, tmp_path):
    secret = tmp_path / "secret.inc"
    secret.write_text("topsecret content;")
    for program in (V2 + f"include {include};\nqreg q[1];", f'OPENQASM 2.0; include "{secret}";'):
        with pytest.raises(QasmLimitError, match="may include only the standard") as caught:
            parse(program)
        assert "topsecret" not in str(caught.value)
        assert caught.value.kind == "include"


def test_what_a_comment_says_is_not_a_declaration_nor_an_include():
    program = (
        V3 + '// include "/etc/passwd"; qubit[1000000000] x;\n/* qreg y[99999999]; */\nqubit[2] q;'
    )
    assert scan(program) == 3
    assert parse(program).num_qubits == 2


def test_programs_within_the_limits_parse():
    assert (
        parse(V2 + "qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; measure q -> c;").num_qubits == 2
    )
    circuit = parse(loop(10, "h q[0];"))
    assert circuit.data[0].operation.name == "for_loop"
    assert scan(V3 + "qubit q; for uint i in {1, 3, 5} { h q; }") == 3
    assert scan(V3 + "qubit q; for uint i in [0:2:9] { h q; }") == 3


def test_the_limits_are_the_caller_s():
    limits = QasmLimits(max_bytes=50)
    with pytest.raises(QasmLimitError, match="bytes; at most 50"):
        scan(V2 + "qreg q[1];" + " " * 100, limits)
    scan(V2 + "qreg q[30];", QasmLimits(max_qubits=30))
    with pytest.raises(QasmLimitError, match="at most 29"):
        scan(V2 + "qreg q[30];", QasmLimits(max_qubits=29))


def test_nested_gate_definitions_are_counted_once_expanded():
    lines = [V2, "gate g0 a { h a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, 40)]
    lines += ["qreg q[1];", "g39 q[0];"]
    with pytest.raises(QasmLimitError, match="expands to more than 10000000 operations"):
        parse("\n".join(lines))
    small = "\n".join(lines[:12]) + "\nqreg q[1];\ng10 q[0];"
    assert parse(small).num_qubits == 1


def test_a_job_s_openqasm_strings_meet_the_same_limits():
    with pytest.raises(QasmLimitError, match="1000000000 qubits"):
        to_qiskit(V2 + "qreg q[1000000000];")
    with pytest.raises(QasmLimitError, match="may include only"):
        to_qiskit(V2 + 'include "/etc/passwd";')
