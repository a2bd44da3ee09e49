"""Attacks by one tenant on the QPUs of `qlambda serve`, with another tenant's data present.

The QPU executors are shared by every tenant. Each test has user "mallory" attack them
(through her job's channel, or with OpenQASM over ``POST /circuits``) and asserts that
the attack fails and that "bob"'s stored results are intact and his circuits still
return correct counts on the same QPU.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import pickle
import sys
import time

import psutil
import pytest
from qiskit import QuantumCircuit, qpy

import qlambda
from qlambda.core.events import EventKind
from qlambda.quantum.envelope import seal
from qlambda.quantum.request import make_request

# the server harness of the gateway tests, loaded by this folder's conftest
helpers = sys.modules["qlambda_gateway_test_helpers"]

BACKENDS = """
[[backend]]
name = "qpu"
kind = "aer"
num_qubits = 8
seed = 5

[[backend]]
name = "short"
kind = "aer"
num_qubits = 8
task_timeout_seconds = 3
"""
SHOTS = 200


def bobs_circuit(name: str = "bobs-circuit") -> QuantumCircuit:
    """Always measures 11; named, so its QPY bytes (and their hash) are reproducible."""
    circuit = QuantumCircuit(2, name=name)
    circuit.x(0)
    circuit.x(1)
    circuit.measure_all()
    return circuit


def mallorys_circuit(name: str = "bobs-circuit") -> QuantumCircuit:
    """Same name and registers as bob's, but always measures 00."""
    circuit = QuantumCircuit(2, name=name)
    circuit.measure_all()
    return circuit


def qpy_bytes(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def bobs_counts(ctx, backend, name="bobs-circuit"):
    circuit = QuantumCircuit(2, name=name)
    circuit.x(0)
    circuit.x(1)
    circuit.measure_all()
    result = ctx.sampler(backend).run([circuit], shots=SHOTS).result()
    return result[0].data.meas.get_counts()


def send_raw(ctx, envelope):
    """What a job can hand the control plane for a QPU: any data at all (the payload
    arrives in base64, as arguments are JSON)."""
    import base64

    envelope = {**envelope, "payload": base64.b64decode(envelope["payload"])}
    try:
        ctx._channel.request("quantum", envelope).result()
    except Exception as exc:
        return f"refused: {type(exc).__name__}: {exc}"
    return "accepted"


class Detonator:
    """Runs a command in whichever process unpickles it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class DetonatingStep:
    """An execution-option step whose pickle runs a command where it is loaded."""

    name = "harmless"

    def __init__(self, marker):
        self.marker = marker

    def pre(self, executions, backend):
        return list(executions), None

    def post(self, outcomes, context, backend):
        return list(outcomes)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantum-boundary")
    data_dir = folder / "data"
    data_dir.mkdir()
    tokens = helpers.make_users(data_dir, "bob", "mallory")
    config = folder / "server.toml"
    config.write_text(BACKENDS)
    process = helpers.ServerProcess(data_dir, "--workers", "2", "--config", str(config)).start()
    process.tokens = tokens
    process.bob = qlambda.Client(process.url, token=tokens["bob"])
    process.mallory = qlambda.Client(process.url, token=tokens["mallory"])
    process.bob_job = process.bob.run(bobs_counts, backend="qpu")
    assert process.bob_job.result(180) == {"11": SHOTS}
    yield process
    process.bob.close()
    process.mallory.close()
    process.stop()


def assert_bob_intact(server, backend="qpu"):
    """Bob's stored result is his, and his circuit still measures 11 on the QPU."""
    assert server.bob.job(server.bob_job.id).result(30) == {"11": SHOTS}
    assert server.bob.run(bobs_counts, backend=backend).result(180) == {"11": SHOTS}
    assert server.process.poll() is None


def envelope(payload: bytes, primitive: str = "sampler", width: int = 2) -> dict:
    return {
        "primitive": primitive,
        "backend": "qpu",
        "num_qubits": width,
        "workload": [[1, SHOTS, 2]],
        "payload": base64.b64encode(payload).decode(),
        "needs_exact": False,
    }


def as_argument(sealed) -> dict:
    return envelope(sealed.payload, sealed.primitive, sealed.num_qubits)


def test_a_crafted_request_runs_no_code_in_the_qpu_executor(server, tmp_path):
    marker = tmp_path / "ran-in-the-executor"
    pickled = envelope(pickle.dumps(Detonator(str(marker))))
    answer = server.mallory.run(send_raw, envelope=pickled).result(120)
    assert answer.startswith("refused: QuantumRequestError: a quantum request is not msgpack")
    # a well-formed request whose execution option is a step carried by value
    request = make_request("sampler", [bobs_circuit()], options=(DetonatingStep(str(marker)),))
    answer = server.mallory.run(send_raw, envelope=as_argument(seal(request))).result(120)
    assert "'harmless' is code of the job's own" in answer
    assert "run only the options installed on it: ddd, readout, twirl, zne" in answer
    time.sleep(0.5)
    assert not marker.exists()
    assert_bob_intact(server)


def test_a_forged_cache_key_cannot_make_another_tenant_s_circuit_count_wrong(server):
    from qlambda.engine.protocol import pack_data, unpack_data
    from qlambda.quantum import wire

    name = "bobs-next-circuit"  # one the QPU has not seen yet: mallory gets there first
    bobs_key = hashlib.blake2b(qpy_bytes(bobs_circuit(name)), digest_size=16).digest()
    forged = qpy_bytes(mallorys_circuit(name))
    # the pickled layout executors once took, as a call filing her circuit under bob's key
    pickled = envelope(pickle.dumps(_Call(wire.decode_circuit, (bobs_key, forged, "qpy"))))
    answer = server.mallory.run(send_raw, envelope=pickled).result(120)
    assert server.bob.run(bobs_counts, backend="qpu", name=name).result(180) == {"11": SHOTS}
    assert answer.startswith("refused: QuantumRequestError"), answer
    # the data layout has no key to forge: one added anywhere is refused
    sealed = seal(make_request("sampler", [mallorys_circuit(name + "-2")], shots=SHOTS))
    outer = unpack_data(sealed.payload)
    data = unpack_data(outer["request"])
    with_key = {**data, "pubs": [{**data["pubs"][0], "key": bobs_key}]}
    as_tuple = {**data, "circuits": [[bobs_key, forged, "qpy"]]}
    top_level = {**data, "keys": [bobs_key]}
    attempts = [
        pack_data({**outer, "request": pack_data(d)}) for d in (with_key, as_tuple, top_level)
    ]
    attempts.append(pack_data({**outer, "key": bobs_key}))  # beside the request's fixed part
    for attempt in attempts:
        answer = server.mallory.run(send_raw, envelope=envelope(attempt)).result(120)
        assert answer.startswith("refused: QuantumRequestError"), answer
    # her own circuit, sent as it should be, runs and leaves nothing under bob's name
    assert server.mallory.run(send_raw, envelope=as_argument(sealed)).result(120) == "accepted"
    assert server.bob.run(bobs_counts, backend="qpu", name=name + "-2").result(180) == {"11": SHOTS}
    assert_bob_intact(server)


class _Call:
    def __init__(self, function, arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return (self.function, self.arguments)


def post_circuits(server, user, program, backend="qpu"):
    with server.http(server.tokens[user]) as http:
        return http.post(
            "/circuits",
            json={"primitive": "sampler", "circuits": [program], "shots": 10, "backend": backend},
        )


def test_a_huge_qreg_is_refused_before_anything_is_allocated(server):
    before = psutil.Process(server.process.pid).memory_info().rss
    program = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[1000000000]; creg c[1];'
    answer = post_circuits(server, "mallory", program)
    assert answer.status_code == 422, answer.text
    assert "circuits[0] has 1000000000 qubits; backend 'qpu' has 8" in answer.json()["detail"]
    grown = psutil.Process(server.process.pid).memory_info().rss - before
    assert grown < 100 * 2**20
    v3 = 'OPENQASM 3.0; include "stdgates.inc"; qubit[1000000000] q;'
    assert post_circuits(server, "mallory", v3).status_code == 422
    assert_bob_intact(server)


def test_an_include_reads_no_server_file(server):
    secret = server.data_dir / "secret.inc"
    secret.write_text("bobsecret7f3a q;\n")
    for path in (str(secret), "secret.inc", "../data/secret.inc", "/etc/hostname"):
        program = f'OPENQASM 2.0; include "{path}"; qreg q[1]; creg c[1]; measure q -> c;'
        answer = post_circuits(server, "mallory", program)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert "may include only the standard libraries" in detail
        assert "bobsecret" not in detail
    assert_bob_intact(server)


def long_loop(iterations: int) -> str:
    return (
        'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q; bit[2] c;\n'
        f"for uint i in [0:{iterations - 1}] {{ h q[0]; cx q[0], q[1]; }}\n"
        "c = measure q;"
    )


def wait_for_qpu(job, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not any(e.kind is EventKind.QPU_STARTED for e in job.events()):
        assert time.monotonic() < deadline, "the quantum task never started"
        assert not job.done(), job.info()
        time.sleep(0.1)


def qpu_outcomes(job):
    return [e.data["outcome"] for e in job.events() if e.kind is EventKind.QPU_FINISHED]


def test_a_long_loop_is_refused_and_a_canceled_one_frees_the_qpu(server):
    answer = post_circuits(server, "mallory", long_loop(10**8))
    assert answer.status_code == 422
    assert "loops run 100000000 iterations; at most 100000" in answer.json()["detail"]
    # the longest loop accepted holds the QPU for many seconds: canceling frees it
    answer = post_circuits(server, "mallory", long_loop(100_000))
    assert answer.status_code == 201, answer.text
    job = server.mallory.job(answer.json()["id"])
    wait_for_qpu(job)
    assert job.cancel()
    assert job.wait(60)
    assert_bob_intact(server)
    assert qpu_outcomes(job) == ["canceled"]


def test_a_task_past_its_backend_s_time_limit_is_stopped_and_the_qpu_serves_on(server):
    answer = post_circuits(server, "mallory", long_loop(100_000), backend="short")
    assert answer.status_code == 201, answer.text
    job = server.mallory.job(answer.json()["id"])
    assert job.wait(180)
    info = job.info()
    assert info.status.value == "ERROR"
    assert "longer than backend 'short' allows (task_timeout_seconds = 3)" in info.reason
    assert qpu_outcomes(job) == ["error"]
    assert_bob_intact(server, backend="short")
