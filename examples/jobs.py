"""Run a function as a job on the embedded platform: submit, follow, collect.

README: "Run functions as jobs". Run: python examples/jobs.py
"""

from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

import qlambda


@qlambda.function(name="energy", cpus=1, timeout="10m", memory="2GB")
def energy(ctx, nodes: int, reps: int = 1):
    """A GHZ state on ``nodes`` qubits; its <Z...Z> through the platform's estimator."""
    circuit = QuantumCircuit(nodes)
    circuit.h(0)
    for qubit in range(nodes - 1):
        circuit.cx(qubit, qubit + 1)
    estimator = ctx.estimator()  # a Qiskit EstimatorV2: each run() is one quantum task
    value = float(estimator.run([(circuit, SparsePauliOp("Z" * nodes))]).result()[0].data.evs)
    print(f"<Z...Z> on {nodes} qubits: {value:.3f}")  # goes to the job's log
    return {"energy": -value * reps, "nodes": nodes}


client = qlambda.Client()  # no server, no configuration: data in ./.qlambda/
job = client.run(energy, priority=2, nodes=8)  # returns once the job is stored
print("submitted job", job.id, "status", job.status().value)
print("result:", job.result(timeout=300))  # returns the moment the job ends
print("log:", job.logs().strip())
print("events:", ", ".join(event.kind.value for event in job.events()))
print("done jobs stored:", len(client.jobs(status="DONE")))
client.close()  # unfinished jobs would stay stored and resume at the next start
