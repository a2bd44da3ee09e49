"""Prices, usage and quotas of quantum tasks; a pilot's QPU reservation.

docs/costs.md. Run: python examples/costs.py
"""

import time

from qiskit import QuantumCircuit

import qlambda
from qlambda.pilot import PilotDescription, PilotManager

circuit = QuantumCircuit(2)
circuit.h(0)
circuit.cx(0, 1)
circuit.measure_all()


def sample(ctx, tasks: int):
    """``tasks`` sampler calls of 1000 shots, each one quantum task."""
    sampler = ctx.sampler("qpu")
    for _ in range(tasks):
        sampler.run([circuit], shots=1000).result()
    return tasks


config = {
    "backend": [{"name": "qpu", "kind": "aer", "num_qubits": 4}],
    "prices": {"qpu": {"per_second": 1.6, "per_shot": 0.0005}},  # per QPU second, per shot
    "quotas": {"qpu_seconds": 12},  # per user
}
with qlambda.Client(config=config) as client:
    job = client.run(sample, tasks=2)
    job.result(timeout=300)
    used = job.usage()
    print(f"job: {used['tasks']} tasks, {used['qpu_seconds']:.2f} QPU s, cost {used['cost']:.2f}")
    try:
        client.run(sample, tasks=10).result(timeout=300)  # its third task would pass the quota
    except qlambda.JobFailedError as exc:
        print("refused:", exc.reason)
    for user in client.usage()["users"]:
        quota = user["quota"]
        print(
            f"user {user['owner']}: {user['qpu_seconds']:.2f} of {quota['qpu_seconds']:g} "
            f"QPU s, cost {user['cost']:.2f}"
        )

qpu = {"name": "qpu", "kind": "aer", "num_qubits": 4, "emulate_qpu_time": True, "time_scale": 0.1}
with PilotManager(qpus=[qpu]) as manager:  # its pilots share the QPU
    mine = manager.create_pilot(PilotDescription(cores=1))
    theirs = manager.create_pilot(PilotDescription(cores=1))
    window = mine.reserve("qpu", duration=2)  # the QPU runs only my tasks for 2 s
    waiting = theirs.sampler("qpu").run([circuit])
    mine.sampler("qpu").run([circuit]).result()
    print("during my window their task is waiting:", not waiting.done())
    waiting.result()
    print("it ran once the window ended:", time.time() >= window.end)
