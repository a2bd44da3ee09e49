"""A Qiskit Serverless notebook on qlambda: upload a function file, run it, follow it.

README: "Coming from Qiskit Serverless or Pilot-Quantum". Run: python examples/serverless.py
(embedded), or against a server with QLAMBDA_URL and QLAMBDA_TOKEN set. The function
file is examples/serverless_function/pattern.py.
"""

import os
from pathlib import Path

from qiskit import QuantumCircuit

from qlambda.compat.serverless import LocalClient, QiskitFunction, ServerlessClient

if os.environ.get("QLAMBDA_URL"):
    client = ServerlessClient(host=os.environ["QLAMBDA_URL"], token=os.environ["QLAMBDA_TOKEN"])
else:
    client = LocalClient()

client.upload(
    QiskitFunction(
        title="pattern",
        entrypoint="pattern.py",
        working_dir=str(Path(__file__).parent / "serverless_function"),
    )
)
bell = QuantumCircuit(2)
bell.h(0)
bell.cx(0, 1)
job = client.get("pattern").run(circuits=[bell], backend_name="aer")
print("job", job.job_id, job.status())
result = job.result()
print("status:", job.status())
print("counts:", result["counts"][0])
print("log:", job.logs().strip())
