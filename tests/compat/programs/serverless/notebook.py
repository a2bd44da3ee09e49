"""Uploads the sample pattern and runs it, as a Qiskit Serverless notebook does: against
the gateway at $GATEWAY_HOST, or locally without one."""

import json
import os
from pathlib import Path

from qiskit import QuantumCircuit
from qiskit_serverless import LocalClient, QiskitFunction, ServerlessClient

if os.environ.get("GATEWAY_HOST"):
    client = ServerlessClient(
        token=os.environ.get("GATEWAY_TOKEN"), host=os.environ.get("GATEWAY_HOST")
    )
else:
    client = LocalClient()

function = QiskitFunction(
    title="sample-pattern",
    entrypoint="sample_pattern.py",
    working_dir=str(Path(__file__).parent / "source_files"),
    dependencies=["qiskit>=1.0"],
)
client.upload(function)

circuits = []
for width in (2, 3):
    ghz = QuantumCircuit(width)
    ghz.h(0)
    for qubit in range(width - 1):
        ghz.cx(qubit, qubit + 1)
    ghz.measure_all()
    circuits.append(ghz)

pattern = client.get("sample-pattern")
job = pattern.run(circuits=circuits, shots=2000, backend_name="aer")
print("submitted", job.job_id, job.status())

result = job.result()
print("ended", job.status())
print("logs:", job.logs())
print("listed", job.job_id in [listed.job_id for listed in client.jobs()])
print("by function", [listed.job_id for listed in pattern.jobs()] == [job.job_id])
print("RESULT", json.dumps(result))
