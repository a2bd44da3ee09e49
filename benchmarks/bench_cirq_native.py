"""Cirq programs through qlambda against ``cirq.Simulator``, side by side in one job.

Each workload is a loop written as Cirq's documentation writes it, run inside one qlambda
function (the same worker process, runs alternating so load hits them alike): on
``cirq.Simulator()``, and on ``ctx.cirq_sampler("aer")``, the one-line change, whose
every call is a quantum task through the platform's queue to the ideal Aer executor.

- ``run``: a small circuit (3 qubits, 6 gates, one symbol), ``sampler.run(circuit,
  {"t": value}, repetitions=1000)`` with a new value each call;
- ``run``, 6 qubits: the same loop on a 6-qubit, 3-layer hardware-efficient ansatz;
- ``run_sweep``: 20 points of a ``cirq.Linspace`` in one call (one quantum task);
- ``simulate``: the final state vector, a new value each call;
- ``expectation``: ``simulate_expectation_values`` of two Pauli sums.

Figures: the median milliseconds per call over the loop, then the median over repeats.
Target: qlambda within 1.5x of ``cirq.Simulator`` on small circuits. A third column runs
the same qlambda code with an Aer executor in the job's own process (sealed, opened and
run there): the difference to the platform's column is what the queue and the two
process hops cost per call.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cirq_native.py [--calls 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in the platform's workers
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import qlambda


def workloads(calls: int) -> dict[str, Callable[[Any], float]]:
    """Per workload, a loop over a Cirq sampler/simulator returning ms per call."""
    import cirq
    import numpy as np
    import sympy

    t = sympy.Symbol("t")
    q = cirq.LineQubit.range(6)
    small = cirq.Circuit(
        cirq.H(q[0]),
        cirq.CNOT(q[0], q[1]),
        cirq.rx(t).on(q[2]),
        cirq.CNOT(q[1], q[2]),
        cirq.measure(*q[:3], key="m"),
    )
    thetas = sympy.symbols("a0:18")
    ansatz = cirq.Circuit()
    for layer in range(3):
        ansatz.append(cirq.ry(thetas[6 * layer + k]).on(q[k]) for k in range(6))
        ansatz.append(cirq.CZ(q[k], q[k + 1]) for k in range(5))
    measured = ansatz + cirq.measure(*q, key="m")
    rng = np.random.default_rng(1)
    angles = rng.uniform(0, np.pi, size=(calls, 18))
    unmeasured = small[:-1]
    observables = [cirq.Z(q[0]) * cirq.Z(q[1]), cirq.X(q[2]) + 0.5 * cirq.Z(q[0])]

    def timed(step: Callable[[int], object]) -> float:
        step(0)  # the structure's first call (conversion, caches) is not the loop's
        started = time.perf_counter()
        for index in range(calls):
            step(index)
        return (time.perf_counter() - started) / calls * 1e3

    def run_small(sim: Any) -> float:
        return timed(lambda i: sim.run(small, {"t": 0.1 * i}, repetitions=1000))

    def run_ansatz(sim: Any) -> float:
        return timed(
            lambda i: sim.run(
                measured, dict(zip(map(str, thetas), angles[i], strict=True)), repetitions=1000
            )
        )

    def run_sweep(sim: Any) -> float:
        sweep = cirq.Linspace("t", 0, np.pi, 20)
        return timed(lambda i: sim.run_sweep(small, sweep, repetitions=1000))

    def simulate(sim: Any) -> float:
        return timed(lambda i: sim.simulate(unmeasured, {"t": 0.1 * i}).final_state_vector)

    def expectation(sim: Any) -> float:
        return timed(
            lambda i: sim.simulate_expectation_values(unmeasured, observables, {"t": 0.1 * i})
        )

    return {
        "run, 3 qubits": run_small,
        "run, 6 qubits 3 layers": run_ansatz,
        "run_sweep, 20 points": run_sweep,
        "simulate, 3 qubits": simulate,
        "expectation values": expectation,
    }


def side_by_side(ctx: Any, calls: int, repeats: int) -> dict[str, list[list[float]]]:
    """Inside a job: per workload, [cirq, qlambda, in-process] ms per repeat, alternating."""
    import cirq

    from qlambda.quantum.primitives import (
        PlatformEstimatorV2,
        PlatformSamplerV2,
        PlatformStateVectors,
    )
    from qlambda.quantum.sdk.cirq_sampler import PlatformCirqSampler

    loops = workloads(calls)
    from qlambda.quantum.in_process import in_process_submit

    submit = in_process_submit()
    samplers = [
        cirq.Simulator(),
        ctx.cirq_sampler("aer"),
        PlatformCirqSampler(
            PlatformSamplerV2(submit), PlatformEstimatorV2(submit), PlatformStateVectors(submit)
        ),
    ]
    times: dict[str, list[list[float]]] = {name: [[], [], []] for name in loops}
    for _ in range(repeats):
        for name, loop in loops.items():
            for k, sampler in enumerate(samplers):
                times[name][k].append(loop(sampler))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per loop")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data, qlambda.Client(data_dir=data) as client:
        client.wait_ready()
        print(f"running {args.repeats} x {args.calls} calls of each workload in one job ...")
        times = client.run(side_by_side, calls=args.calls, repeats=args.repeats).result()
    print(f"load average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print()
    print(f"{'workload':<24} {'cirq.Simulator':>14} {'qlambda':>8} {'ratio':>6} {'in-process':>11}")
    print(f"{'(ms per call)':<24} {'':>14} {'aer':>8} {'':>6} {'executor':>11}")
    for name, (bare, platform, local) in times.items():
        b, p, q = (statistics.median(values) for values in (bare, platform, local))
        print(f"{name:<24} {b:>14.2f} {p:>8.2f} {p / b:>5.2f}x {q:>11.2f}")
    print("target: qlambda within 1.5x of cirq.Simulator. in-process executor: the same")
    print("code path with the Aer executor in the job's process (no queue, no process hops).")


if __name__ == "__main__":
    main()
