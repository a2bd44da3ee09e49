"""The same code against a qlambda server: Client(url, token=...).

README: "Serving qlambda over HTTP". Start a server first, then run:

    qlambda users create alice            # prints alice's token
    qlambda serve --port 8000 &
    QLAMBDA_URL=http://127.0.0.1:8000 QLAMBDA_TOKEN=<token> python examples/http_client.py
"""

import os

from qiskit import QuantumCircuit

import qlambda


def my_function(ctx, n: int) -> dict:
    circuit = QuantumCircuit(n)
    circuit.h(range(n))
    circuit.measure_all()
    counts = ctx.sampler().run([circuit], shots=256).result()[0].data.meas.get_counts()
    print(f"{len(counts)} distinct outcomes of {n} qubits")
    return {"distinct": len(counts)}


client = qlambda.Client(os.environ["QLAMBDA_URL"], token=os.environ["QLAMBDA_TOKEN"])
job = client.run(my_function, priority=2, n=8)  # arguments are JSON values
print("job", job.id)
print("result:", job.result(timeout=300))  # Server-Sent Events, no polling
print("log:", job.logs().strip())
client.close()
