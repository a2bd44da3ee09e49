"""Code written for IBM's qiskit_ibm_runtime, run on qlambda with its import line changed.

README: "IBM-Runtime-style code". Run: python examples/ibm_runtime.py
"""

import qlambda

BACKENDS = [
    {"name": "aer", "kind": "aer", "num_qubits": 12},
    {"name": "manila", "kind": "fake", "device": "FakeManilaV2", "seed": 1},  # noisy, 5 qubits
]


def ibm_style(ctx, backend_name: str) -> dict:
    # was: from qiskit_ibm_runtime import EstimatorV2 as Estimator, SamplerV2 as Sampler, ...
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager

    from qlambda.runtime import EstimatorV2 as Estimator
    from qlambda.runtime import SamplerV2 as Sampler
    from qlambda.runtime import Session

    backend = ctx.backend(backend_name)  # was: service.least_busy(operational=True)

    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(1, 2)
    pm = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa = pm.run(ghz)
    observable = SparsePauliOp("ZZI").apply_layout(isa.layout)

    values = {}
    with Session(backend=backend) as session:
        estimator = Estimator(mode=session)
        estimator.options.default_shots = 10_000
        for level in (0, 1, 2):
            estimator.options.resilience_level = level
            values[f"resilience_level={level}"] = float(
                estimator.run([(isa, observable)]).result()[0].data.evs
            )
        sampler = Sampler(mode=session, options={"default_shots": 4000})
        sampler.options.dynamical_decoupling.enable = True
        sampler.options.dynamical_decoupling.sequence_type = "XY4"
        sampler.options.twirling.enable_gates = True  # Pauli twirling, 4000 shots over copies
        measured = pm.run(ghz.measure_all(inplace=False))
        counts = sampler.run([measured]).result()[0].data.meas.get_counts()
    # what mitiq's executors call: backend.run, one quantum task, Qiskit counts back
    raw_counts = backend.run(measured, shots=1000).result().get_counts()
    return {"values": values, "counts": counts, "backend.run": raw_counts}


def twirled(ctx) -> None:
    from qlambda.runtime import EstimatorV2

    estimator = EstimatorV2(mode=ctx.backend("manila"))
    estimator.options.twirling.enable_measure = True


client = qlambda.Client(backends=BACKENDS, seed=1)
result = client.run(ibm_style, backend_name="manila").result(timeout=600)
for label, value in result["values"].items():
    print(f"<ZZ> on GHZ-3, {label}: {value:.3f} (ideal 1)")
top = sorted(result["counts"].items(), key=lambda item: -item[1])[:2]
print(f"sampler, 4000 shots, XY4 decoupling and twirling, top outcomes: {top}")
print(f"backend.run, 1000 shots: {sum(result['backend.run'].values())} counts")
try:  # an option qlambda cannot honour fails at the line that sets it
    client.run(twirled).result(timeout=600)
except qlambda.JobFailedError as error:
    print(f"measurement twirling: {str(error).splitlines()[0]}")
client.close()
