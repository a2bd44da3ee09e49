"""The function context: QPUs through Qiskit primitives, status, checkpoints, fan-out.

README: "The function context". Run: python examples/function_context.py
"""

import numpy as np
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp

import qlambda


def post_process(chunk):
    """Classical work that fans out onto the workers."""
    return float(np.sum(np.square(chunk)))


def vqe(ctx, steps: int, qubits: int = 4):
    circuit = efficient_su2(qubits, reps=1)
    observable = SparsePauliOp("Z" * qubits)
    estimator = ctx.estimator()  # a Qiskit EstimatorV2; ctx.sampler() a SamplerV2
    state = ctx.restore() or {"step": 0, "params": [0.1] * circuit.num_parameters}
    params = np.array(state["params"])
    for step in range(state["step"], steps):
        ctx.status(f"step {step}")  # shown as the job's sub-status
        value = float(estimator.run([(circuit, observable, params)]).result()[0].data.evs)
        params = params - 0.1 * value  # a stand-in for an optimiser's update
        ctx.checkpoint({"step": step + 1, "params": params.tolist()})  # durable on return
    ctx.log(f"finished after {steps} steps, <Z...Z> = {value:.3f}")  # a timestamped line
    chunks = np.array_split(params, 4)
    return sum(ctx.map(post_process, chunks))  # fan out onto the pilot's workers


client = qlambda.Client()
job = client.run(vqe, steps=5)
print("result:", round(job.result(timeout=300), 4))
print("attempt:", job.info().attempts, "log:", job.logs().strip())
client.close()
