"""OpenQASM over HTTP: POST /circuits runs them as a job; bad ones are refused with a 4xx."""

from __future__ import annotations

import pytest

BELL_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
h q[0];
cx q[0], q[1];
"""


def run_and_wait(http, body: dict) -> dict:
    answer = http.post("/circuits", json=body)
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["function"] == "circuits"
    result = http.get(f"/jobs/{job['id']}/result", params={"wait": 60}).json()
    assert result["status"] == "DONE", result
    return result["value"]


def test_sampler_runs_openqasm_2_and_returns_counts_per_register(server):
    with server.http(server.tokens["alice"]) as http:
        counts = run_and_wait(
            http, {"primitive": "sampler", "circuits": [BELL_QASM2, BELL_QASM2], "shots": 500}
        )
    assert len(counts) == 2
    for registers in counts:
        assert set(registers) == {"c"}
        assert sum(registers["c"].values()) == 500
        assert set(registers["c"]) <= {"00", "11"} and len(registers["c"]) == 2


def test_estimator_runs_openqasm_3_with_pauli_observables(server):
    precision = 0.02
    with server.http(server.tokens["alice"]) as http:
        values = run_and_wait(
            http,
            {
                "primitive": "estimator",
                "circuits": [BELL_QASM3, BELL_QASM3],
                "observables": ["ZZ", {"XX": 0.5, "ZI": 1.0}],
                "precision": precision,
                "priority": 2,
            },
        )
    # Bell state: <ZZ> = <XX> = 1, <ZI> = 0
    assert values[0]["ev"] == pytest.approx(1.0, abs=5 * precision)
    assert values[1]["ev"] == pytest.approx(0.5, abs=5 * precision)
    assert values[0]["std"] == pytest.approx(precision)


WIDE = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[200];\ncreg c[1];\nmeasure q[0] -> c[0];\n'
PARAMETRIC = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit q;\nrx(theta) q;\n'
NO_MEASURE = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"primitive": "sampler", "circuits": ["OPENQASM 2.0; qreg q[2]; hh q[0];"]},
            "circuits[0] is not a valid OpenQASM program",
        ),
        (
            {"primitive": "sampler", "circuits": [BELL_QASM2, "hello"]},
            "circuits[1] is not a valid OpenQASM program",
        ),
        ({"primitive": "sampler", "circuits": [WIDE]}, "circuits[0] has 200 qubits"),
        (
            {"primitive": "estimator", "circuits": [PARAMETRIC], "observables": ["Z"]},
            "free parameters (theta)",
        ),
        (
            {"primitive": "sampler", "circuits": [BELL_QASM2], "backend": "nope"},
            "unknown backend 'nope'; available: ",
        ),
        ({"primitive": "sampler", "circuits": [NO_MEASURE]}, "measures nothing"),
        (
            {"primitive": "estimator", "circuits": [BELL_QASM3]},
            "one observable per circuit: 1 circuits, 0 observables",
        ),
        (
            {"primitive": "estimator", "circuits": [BELL_QASM3], "observables": ["ZQ"]},
            "accepted: strings of 2 letters from I, X, Y, Z",
        ),
        (
            {"primitive": "estimator", "circuits": [BELL_QASM3], "observables": ["ZZZ"]},
            "observables[0] has the term 'ZZZ'",
        ),
        (
            {"primitive": "sampler", "circuits": [BELL_QASM2], "options": ["zen"]},
            "zen",
        ),
        ({"primitive": "sampler", "circuits": [BELL_QASM2], "shots": 0}, "shots"),
        ({"primitive": "sample", "circuits": [BELL_QASM2]}, "primitive"),
        ({"primitive": "sampler", "circuits": []}, "circuits"),
        ({"primitive": "sampler", "circuits": [BELL_QASM2], "shotz": 5}, "shotz: unknown field"),
    ],
)
def test_bad_circuit_runs_get_a_4xx_that_says_what_was_wrong(server, body, message):
    with server.http(server.tokens["bob"]) as http:
        before = len(http.get("/jobs").json())
        answer = http.post("/circuits", json=body)
        assert 400 <= answer.status_code < 500, answer.text
        assert message in answer.json()["detail"], answer.json()["detail"]
        assert len(http.get("/jobs").json()) == before  # nothing stored
        assert http.get("/me").status_code == 200  # still serving
