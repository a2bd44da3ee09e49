"""Quantum backends from a TOML file: an ideal simulator and a noisy fake IBM device.

README: "Quantum backends" (the file is examples/backends.toml).
Run: python examples/backends.py
"""

from pathlib import Path

from qiskit import QuantumCircuit

import qlambda

CONFIG = Path(__file__).with_name("backends.toml")


def bell_counts(ctx, backend: str | None = None) -> dict:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    sampler = ctx.sampler(backend=backend)  # no name: the least loaded wide enough
    return sampler.run([circuit], shots=1000).result()[0].data.meas.get_counts()


client = qlambda.Client(backends=CONFIG)
ideal = client.run(bell_counts).result(timeout=300)
noisy = client.run(bell_counts, backend="torino").result(timeout=300)
print("ideal (aer):      ", dict(sorted(ideal.items())))
print("noisy (FakeTorino):", dict(sorted(noisy.items())))
for backend in client.backends():
    print(f"{backend['backend']}: {backend['completed']} tasks")
client.close()
