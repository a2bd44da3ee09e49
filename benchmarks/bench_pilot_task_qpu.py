"""A pilot task's quantum calls: ``ctx.sampler()`` inside a task against the pilot's own
``pilot.sampler()`` from the driver, the baseline, measured in the same run.

Both send a 4-qubit GHZ circuit (100 shots) to the same QPU, an ideal Aer simulator, one
call at a time; a task's call also crosses its worker's channel to the pilot and back.
Rounds alternate so that a noisy neighbour hurts both alike.

    .venv/bin/python benchmarks/bench_pilot_task_qpu.py [--calls 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from qiskit import QuantumCircuit

from qlambda.pilot import PilotDescription, PilotManager


def ghz(width: int = 4) -> QuantumCircuit:
    circuit = QuantumCircuit(width)
    circuit.h(0)
    for qubit in range(width - 1):
        circuit.cx(qubit, qubit + 1)
    circuit.measure_all()
    return circuit


def calls_in_a_task(calls: int, ctx) -> float:  # type: ignore[no-untyped-def]
    """Seconds per call, timed inside the task."""
    sampler, circuit = ctx.sampler(), ghz()
    sampler.run([circuit], shots=100).result()  # the first call decodes the circuit
    start = time.perf_counter()
    for _ in range(calls):
        sampler.run([circuit], shots=100).result()
    return (time.perf_counter() - start) / calls


def calls_from_the_driver(pilot, calls: int) -> float:  # type: ignore[no-untyped-def]
    sampler, circuit = pilot.sampler(), ghz()
    sampler.run([circuit], shots=100).result()
    start = time.perf_counter()
    for _ in range(calls):
        sampler.run([circuit], shots=100).result()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    description = PilotDescription(engine="local", cores=2, qpus=[{"name": "aer", "kind": "aer"}])
    with PilotManager() as manager:
        pilot = manager.create_pilot(description)
        pilot.engine.wait_ready(120)
        driver, task = [], []
        for round_number in range(1, args.rounds + 1):
            driver.append(calls_from_the_driver(pilot, args.calls))
            task.append(pilot.submit(calls_in_a_task, args.calls).result(600))
            print(f"round {round_number}/{args.rounds} done", flush=True)
    base, ours = statistics.median(driver), statistics.median(task)
    print()
    print(f"GHZ-4 sampler calls, {args.calls} per round, median of {args.rounds} rounds")
    print(f"{'caller':<40}{'ms per call':>14}{'ratio':>10}")
    print(f"{'pilot.sampler() in the driver (baseline)':<40}{base * 1e3:>14.2f}{1:>10.2f}")
    print(f"{'ctx.sampler() in a pilot task':<40}{ours * 1e3:>14.2f}{ours / base:>10.2f}")
    print(f"difference per call: {1e3 * (ours - base):+.2f} ms (a task's call also crosses its")
    print("worker's channel to the pilot; the driver's shares its process with the dispatcher)")


if __name__ == "__main__":
    main()
