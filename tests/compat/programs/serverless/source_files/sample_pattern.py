"""A Qiskit Function: samples the client's circuits in parallel child tasks, then
estimates <ZZ> of a Bell pair and samples it on a backend, with Qiskit Runtime's
primitives."""

from qiskit import QuantumCircuit
from qiskit.primitives import StatevectorSampler
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import EstimatorV2, QiskitRuntimeService, SamplerV2
from qiskit_serverless import Job, distribute_task, get, get_arguments, save_result, update_status


@distribute_task(target={"cpu": 1})
def distributed_sample(circuit, shots):
    """The counts of one circuit, sampled where the task runs."""
    result = StatevectorSampler(default_shots=shots).run([circuit]).result()
    return result[0].data.meas.get_counts()


arguments = get_arguments()
circuits = arguments.get("circuits", [])
shots = arguments.get("shots", 1000)
backend_name = arguments.get("backend_name")

references = [distributed_sample(circuit, shots) for circuit in circuits]
sampled = get(references)
print(f"sampled {len(sampled)} circuits in parallel")

update_status(Job.MAPPING)
service = QiskitRuntimeService()
if backend_name:
    backend = service.backend(backend_name)
else:
    backend = service.least_busy(min_num_qubits=2)
bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
isa_bell = pass_manager.run(bell)
observable = SparsePauliOp("ZZ").apply_layout(isa_bell.layout)

update_status(Job.WAITING_QPU)
estimator = EstimatorV2(mode=backend)
zz = estimator.run([(isa_bell, observable)]).result()[0].data.evs
measured = bell.copy()
measured.measure_all()
sampler = SamplerV2(mode=backend)
counts = sampler.run([pass_manager.run(measured)], shots=shots).result()[0].data.meas.get_counts()
print(f"<ZZ> = {float(zz):.3f} on {backend.name}")

save_result({"sampled": sampled, "zz": float(zz), "bell_counts": counts, "backend": backend.name})
