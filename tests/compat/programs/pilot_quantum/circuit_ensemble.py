"""An ensemble of classical and circuit-simulation tasks on a Ray (or Dask) pilot, in the
style of Pilot-Quantum's examples: the tasks simulate their circuits with Aer where they
run, and the script collects the results."""

import json
import os

from pilot.pilot_compute_service import ExecutionEngine, PilotComputeService
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

RESOURCE_URL = "ssh://localhost"
WORKING_DIRECTORY = os.path.join(os.environ.get("PILOT_HOME", os.path.expanduser("~")), "work")
ENGINE = ExecutionEngine.DASK if os.environ.get("PILOT_TYPE") == "dask" else ExecutionEngine.RAY

pilot_compute_description = {
    "resource": RESOURCE_URL,
    "working_directory": WORKING_DIRECTORY,
    "type": ENGINE.value,
    "number_of_nodes": 1,
    "cores_per_node": 2,
    "gpus_per_node": 0,
    "queue": "debug",
    "walltime": 30,
    "project": "quantum",
}


def square(number):
    return number**2


def ghz_counts(width, shots):
    """Counts of a GHZ state of ``width`` qubits, simulated where the task runs."""
    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure_all()
    return AerSimulator(seed_simulator=width).run(circuit, shots=shots).result().get_counts()


if __name__ == "__main__":
    pcs = None
    try:
        pcs = PilotComputeService(execution_engine=ENGINE, working_directory=WORKING_DIRECTORY)
        pilot = pcs.create_pilot(pilot_compute_description=pilot_compute_description)
        pilot.wait()

        tasks = []
        for i in range(8):
            resources = {"num_cpus": 1, "num_gpus": 0, "memory": None}
            tasks.append(pcs.submit_task(square, i, resources=resources, task_name=f"square-{i}"))
        pcs.wait_tasks(tasks)
        squares = pcs.get_results(tasks)

        tasks = []
        for width in (2, 3, 4):
            tasks.append(
                pcs.submit_task(
                    ghz_counts,
                    width,
                    2000,
                    resources={"num_cpus": 1, "num_gpus": 0},
                    task_name=f"ghz-{width}",
                )
            )
        pcs.wait_tasks(tasks)
        counts = pcs.get_results(tasks)
        print("RESULT", json.dumps({"squares": squares, "counts": counts}))
    finally:
        if pcs:
            pcs.cancel()
