"""Code written for qiskit_ibm_runtime runs inside a function with only its import line
changed, and agrees with the same code run by qiskit_ibm_runtime's local testing mode
on the same fake device."""

from __future__ import annotations

import warnings

import pytest

import qlambda
from qlambda import JobFailedError

BACKENDS = [
    {"name": "aer", "kind": "aer", "num_qubits": 8},
    {"name": "manila", "kind": "fake", "device": "FakeManilaV2", "seed": 5},
    # IBM's own primitives, sessions and batches in its local testing mode
    {"name": "ibm_manila", "kind": "ibm", "channel": "local", "device": "fake_manila", "seed": 5},
]

IBM_IMPORT = "from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session"
QLAMBDA_IMPORT = "from qlambda.runtime import Batch, EstimatorV2, SamplerV2, Session"

# An IBM documentation-style script: transpile for the backend, then a Session with a
# sampler and an estimator set through their options, then a Batch with options given
# to the constructor.
SCRIPT = """
{import_line}
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager


def main(backend):
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)

    pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa_bell = pm.run(bell)
    isa_ghz = pm.run(ghz)
    observable = SparsePauliOp("ZIZ").apply_layout(isa_ghz.layout)

    with Session(backend=backend) as session:
        sampler = SamplerV2(mode=session)
        sampler.options.default_shots = 10_000
        sampler.options.dynamical_decoupling.enable = False
        sampler.options.twirling.enable_gates = True
        sampler.options.twirling.num_randomizations = 16
        bell_result = sampler.run([isa_bell]).result()
        counts = bell_result[0].data.meas.get_counts()

        estimator = EstimatorV2(mode=session)
        estimator.options.resilience_level = 0
        estimator.options.default_shots = 10_000
        raw = estimator.run([(isa_ghz, observable)]).result()[0].data.evs

    with Batch(backend=backend) as batch:
        estimator = EstimatorV2(
            mode=batch, options={{"resilience_level": 1, "default_precision": 0.01}}
        )
        estimator.options.environment.job_tags = ["ghz"]
        mitigated = estimator.run([(isa_ghz, observable)]).result()[0].data.evs

    return {{
        "counts": counts,
        "raw": float(raw),
        "mitigated": float(mitigated),
        "isa_ops": sorted(isa_ghz.count_ops()),
        "width": isa_ghz.num_qubits,
        "sampler_options": bell_result[0].metadata.get("execution_options"),
    }}


def job(ctx, name):
    return main(ctx.backend(name))
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = qlambda.Client(
        data_dir=tmp_path_factory.mktemp("runtime"), workers=2, backends=BACKENDS, seed=1
    )
    assert client.wait_ready(180)
    yield client
    client.close()


def submit_file(client, tmp_path, source, entry="job", **arguments):
    path = tmp_path / "ibm_script.py"
    path.write_text(source)
    function = qlambda.Function("ibm_script", entrypoint=f"{path}:{entry}")
    return client.run(function, **arguments)


def run_file(client, tmp_path, source, entry="job", **arguments):
    return submit_file(client, tmp_path, source, entry, **arguments).result(600)


def run_locally(source):
    """The same script on qiskit_ibm_runtime's local testing mode."""
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    namespace: dict = {}
    exec(compile(source, "ibm_script.py", "exec"), namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # local mode: "options have no effect" for resilience
        return namespace["main"](FakeManilaV2())


def _bell_fidelity(counts):
    return (counts.get("00", 0) + counts.get("11", 0)) / sum(counts.values())


def test_an_ibm_runtime_script_runs_with_only_its_import_changed(client, tmp_path):
    on_qlambda = run_file(
        client, tmp_path, SCRIPT.format(import_line=QLAMBDA_IMPORT), name="manila"
    )
    local = run_locally(SCRIPT.format(import_line=IBM_IMPORT))
    # transpiled for the same device target: same width, same instruction set
    assert on_qlambda["width"] == local["width"] == 5
    assert on_qlambda["isa_ops"] == local["isa_ops"]
    # default_shots reached the sampler; the noisy device's Bell state agrees with IBM's
    # local mode within statistical tolerance (10,000 shots: std ~0.003)
    assert sum(on_qlambda["counts"].values()) == 10_000
    assert sum(local["counts"].values()) == 10_000
    assert _bell_fidelity(on_qlambda["counts"]) == pytest.approx(
        _bell_fidelity(local["counts"]), abs=0.03
    )
    assert _bell_fidelity(on_qlambda["counts"]) < 0.995  # noisy: it did run on the fake device
    assert on_qlambda["sampler_options"] == ["twirl"]  # local mode ignores twirling
    # resilience level 0: the raw value, as local mode gives it
    assert on_qlambda["raw"] == pytest.approx(local["raw"], abs=0.05)
    assert on_qlambda["raw"] < 0.97
    # resilience level 1: readout mitigation, which local testing mode does not apply
    assert on_qlambda["mitigated"] > local["mitigated"] + 0.02
    assert on_qlambda["mitigated"] == pytest.approx(1.0, abs=0.06)


def test_the_script_runs_on_an_ibm_backend_through_ibms_own_primitives(client, tmp_path):
    """The same script against kind ``ibm``: its Session and Batch become Runtime ones,
    each call a Runtime job of qiskit_ibm_runtime's SamplerV2/EstimatorV2, through the
    platform's queue; the results agree with the script run by the SDK directly."""
    job = submit_file(
        client, tmp_path, SCRIPT.format(import_line=QLAMBDA_IMPORT), name="ibm_manila"
    )
    on_qlambda = job.result(600)
    local = run_locally(SCRIPT.format(import_line=IBM_IMPORT))
    assert on_qlambda["width"] == local["width"] == 5
    assert on_qlambda["isa_ops"] == local["isa_ops"]
    assert sum(on_qlambda["counts"].values()) == 10_000
    assert _bell_fidelity(on_qlambda["counts"]) == pytest.approx(
        _bell_fidelity(local["counts"]), abs=0.03
    )
    assert on_qlambda["raw"] == pytest.approx(local["raw"], abs=0.05)
    assert on_qlambda["mitigated"] > local["mitigated"] + 0.02  # the platform's readout step
    vendor = [e.data for e in job.events() if e.kind.value == "QPU_VENDOR"]
    assert len({d["task"] for d in vendor}) == 3  # one Runtime job per call
    assert all(d["vendor_job_id"] for d in vendor)


BACKEND_RUN = """
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile


def job(ctx):
    backend = ctx.backend("aer")
    q = QuantumRegister(3)
    first, second = ClassicalRegister(1, "first"), ClassicalRegister(2, "second")
    circuit = QuantumCircuit(q, first, second)
    circuit.x(0)
    circuit.x(2)
    circuit.measure(0, first[0])
    circuit.measure([1, 2], [second[0], second[1]])
    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    isa = transpile([bell, circuit], backend=backend)
    result = backend.run(isa, shots=300).result()
    memory = backend.run(isa[1], shots=5, memory=True).result().get_memory()
    # Qiskit's own primitives over a backend (what IBM's local testing mode runs) work too
    from qiskit.primitives import BackendSamplerV2

    wrapped = BackendSamplerV2(backend=backend).run([isa[0]], shots=100).result()
    errors = []
    try:
        backend.run(bell, shots=10, meas_level=1)
    except ValueError as exc:
        errors.append(str(exc))
    return {
        "memory": memory,
        "wrapped": wrapped[0].data.meas.get_counts(),
        "bell": result.get_counts(0),
        "registers": result.get_counts(1),
        "by_name": sum(result.get_counts("bell").values()),
        "target_width": backend.target.num_qubits,
        "errors": errors,
    }
"""


def test_backend_run_returns_qiskit_counts_through_the_queue(client, tmp_path):
    job = submit_file(client, tmp_path, BACKEND_RUN)
    value = job.result(600)
    assert set(value["bell"]) <= {"00", "11"} and sum(value["bell"].values()) == 300
    assert value["registers"] == {"10 1": 300}  # Qiskit's keys: last register first
    assert value["by_name"] == 300
    assert value["target_width"] == 8  # the aer backend's configured width
    assert value["memory"] == ["10 1"] * 5
    assert set(value["wrapped"]) <= {"00", "11"} and sum(value["wrapped"].values()) == 100
    assert value["errors"] == [
        "backend.run got unknown option(s) meas_level; accepted: shots, memory, "
        "seed_simulator (the circuits' measurements give the counts)"
    ]
    queued = [e.data["backend"] for e in job.events() if e.kind.value == "QPU_QUEUED"]
    assert queued == ["aer"] * 3  # a quantum task per run, through the platform's queue


UNSUPPORTED = """
from qlambda.runtime import EstimatorV2, SamplerV2


def job(ctx, what):
    backend = ctx.backend("aer")
    estimator = EstimatorV2(mode=backend)
    if what == "twirling":
        estimator.options.twirling.enable_measure = True
    elif what == "typo":
        estimator.options.resilience.zne_mitigaton = True
    elif what == "tags":
        estimator.options.environment.job_tags = ["vqe"] * 9
    elif what == "sampler_resilience":
        SamplerV2(mode=backend, options={"resilience_level": 1})
    elif what == "no_mode":
        SamplerV2()
    elif what == "closed":
        from qlambda.runtime import Session

        with Session(backend=backend) as session:
            sampler = SamplerV2(mode=session)
        sampler.run([])
    return "no error"
"""


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("twirling", r"options.twirling.enable_measure = True is not accepted; accepted: False"),
        ("typo", r"unknown option options.resilience.zne_mitigaton; accepted: measure_mit"),
        ("tags", r"job_tags = .* is not accepted: 9 tags; accepted: a list of strings \(at most 8"),
        ("sampler_resilience", r"unknown option options.resilience_level; accepted: default_s"),
        ("no_mode", r"mode is required outside a 'with Session\(...\)' block"),
        ("closed", r"Session session-\w+ is closed"),
    ],
)
def test_unsupported_options_fail_the_job_saying_what_is_accepted(client, tmp_path, what, message):
    with pytest.raises(JobFailedError, match=message):
        run_file(client, tmp_path, UNSUPPORTED, what=what)


def unknown_backend(ctx):
    return ctx.backend("torino")


def test_an_unknown_backend_lists_the_available_ones(client):
    with pytest.raises(JobFailedError, match=r"unknown backend 'torino'; available: aer, manila"):
        client.run(unknown_backend).result(120)


def ctx_primitive_options(ctx):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    sampler = ctx.sampler("aer")
    sampler.options.default_shots = 777
    measured = circuit.measure_all(inplace=False)
    shots = sampler.run([measured]).result()[0].data.meas.num_shots
    estimator = ctx.estimator("manila")
    estimator.options.resilience.measure_mitigation = True
    estimator.options.resilience.zne_mitigation = True
    estimator.options.resilience.zne.noise_factors = [1, 3]
    estimator.options.environment.job_tags = ["vqe", "run-7"]
    result = estimator.run([(circuit, "ZZ")], precision=0.02).result()
    return {
        "shots": int(shots),
        "options": result[0].metadata["execution_options"],
        "zne": result[0].metadata["outcomes"][0]["zne"]["scale_factors"],
        "tags": result.metadata["job_tags"],
    }


def test_ctx_primitives_take_ibm_runtime_options(client):
    value = client.run(ctx_primitive_options).result(300)
    assert value["shots"] == 777
    assert value["options"] == ["readout", "zne"]
    assert value["zne"] == [1.0, 3.0]
    assert value["tags"] == ["vqe", "run-7"]


MITIQ_EXECUTOR = """
from mitiq import zne
from qiskit import QuantumCircuit


def job(ctx):
    backend = ctx.backend("manila")
    circuit = QuantumCircuit(2)
    for _ in range(4):  # the identity, ideally: P(00) = 1
        circuit.h(0)
        circuit.cx(0, 1)
        circuit.cx(0, 1)
        circuit.h(0)
    circuit.measure_all()

    def executor(folded):  # the executor mitiq's documentation writes for a Qiskit backend
        counts = backend.run(folded, shots=8000).result().get_counts()
        return counts.get("00", 0) / 8000

    return {
        "raw": executor(circuit),
        "zne": zne.execute_with_zne(circuit, executor, scale_noise=zne.scaling.fold_global),
    }
"""


def test_mitiq_executors_reach_the_device_through_backend_run(client, tmp_path):
    value = run_file(client, tmp_path, MITIQ_EXECUTOR)
    assert value["raw"] < 0.97  # the fake device's noise
    assert value["zne"] > value["raw"] + 0.01  # mitiq's folds ran as folded, and helped
