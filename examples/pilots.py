"""Pilots: reserve cpus and QPUs, submit tasks, get concurrent.futures Futures back.

README: "Pilots". Run: python examples/pilots.py
"""

from qiskit import QuantumCircuit

from qlambda.pilot import PilotDescription, PilotManager


def simulate_chunk(seed: int) -> float:
    """Some classical work: the mean of a seeded random sample."""
    import numpy as np

    return float(np.random.default_rng(seed).normal(size=10_000).mean())


def zz_of_bell(ctx) -> float:
    """A task with a ctx parameter: it reaches the pilot's QPUs, through the same queue."""
    from qiskit.quantum_info import SparsePauliOp

    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    return float(ctx.estimator().run([(bell, SparsePauliOp("ZZ"))]).result()[0].data.evs)


circuit = QuantumCircuit(2)
circuit.h(0)
circuit.cx(0, 1)
circuit.measure_all()
with PilotManager() as manager:
    description = PilotDescription(engine="local", cores=2, qpus=[{"name": "aer", "kind": "aer"}])
    pilot = manager.create_pilot(description)
    future = pilot.submit(
        simulate_chunk, 3, resources={"cpus": 1, "timeout": "30s", "memory": "1GB"}
    )
    print(f"one task: {future.result(60):+.4f}")
    results = list(pilot.map(simulate_chunk, range(100)))
    print("map over 100 items:", len(results), "results, in order")
    result = pilot.sampler().run([circuit]).result()  # the pilot's QPUs
    print("Bell counts:", result[0].data.meas.get_counts())
    print(f"a task on the pilot's QPUs: <ZZ> = {pilot.submit(zz_of_bell).result(60):.3f}")
    print(f"on the least loaded pilot: {manager.submit(simulate_chunk, 4).result(60):+.4f}")
    pilot.cancel()  # queued tasks canceled, running ones stopped
