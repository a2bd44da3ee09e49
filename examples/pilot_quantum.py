"""A Pilot-Quantum program on qlambda: only its import line changed.

README: "Coming from Qiskit Serverless or Pilot-Quantum". Run: python examples/pilot_quantum.py
(a private local Dask cluster; "type": "ray" starts Ray instead).
"""

import os
import tempfile

from qiskit import QuantumCircuit

from qlambda.compat.pilot_quantum import ExecutionEngine, PilotComputeService

WORKING_DIRECTORY = os.path.join(tempfile.gettempdir(), "work")

pilot_compute_description = {
    "resource": "ssh://localhost",
    "working_directory": WORKING_DIRECTORY,
    "type": "dask",
    "number_of_nodes": 1,
    "cores_per_node": 2,
}


def square(number):
    return number**2


def bell_counts(shots, ctx):
    """A task that uses its pilot's QPUs (qlambda's addition: a ctx parameter)."""
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return ctx.sampler().run([circuit], shots=shots).result()[0].data.meas.get_counts()


if __name__ == "__main__":  # Dask's worker processes import this script
    pcs = PilotComputeService(
        execution_engine=ExecutionEngine.DASK, working_directory=WORKING_DIRECTORY
    )
    try:
        pilot = pcs.create_pilot(pilot_compute_description=pilot_compute_description)
        pilot.wait()
        tasks = [
            pcs.submit_task(square, i, resources={"num_cpus": 1}, task_name=f"square-{i}")
            for i in range(10)
        ]
        pcs.wait_tasks(tasks)
        print("squares:", pcs.get_results(tasks))
        print("Bell counts:", pcs.get_results([pcs.submit_task(bell_counts, 1000)])[0])
    finally:
        pcs.cancel()
