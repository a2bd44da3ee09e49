"""A Qiskit Serverless function file, run by examples/serverless.py (the import lines are
the only change from Qiskit Serverless)."""

from qiskit.transpiler import generate_preset_pass_manager

from qlambda.compat.serverless import distribute_task, get, get_arguments, save_result
from qlambda.runtime import QiskitRuntimeService, SamplerV2


@distribute_task(target={"cpu": 1})
def add_measurements(circuit):
    """A child task on the platform's workers."""
    measured = circuit.copy()
    measured.measure_all()
    return measured


arguments = get_arguments()
circuits = get([add_measurements(circuit) for circuit in arguments["circuits"]])
print(f"prepared {len(circuits)} circuits in child tasks")

backend = QiskitRuntimeService().backend(arguments.get("backend_name", "aer"))
isa = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuits)
result = SamplerV2(mode=backend).run(isa, shots=1000).result()  # one quantum task
save_result({"counts": [pub.data.meas.get_counts() for pub in result]})
