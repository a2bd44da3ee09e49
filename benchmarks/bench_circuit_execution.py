"""Circuit execution ensembles: throughput and duration by task count (Pilot-Quantum's
Table I), on a qlambda pilot against bare execution measured in the same run.

Each task builds and simulates one mirror circuit of --qubits qubits (Aer, --shots shots):
``pilot backends`` deals them as sampler tasks over Q Aer backends, ``pilot workers`` as
classical tasks over the pilot's W workers, ``bare`` on a ProcessPoolExecutor of W
processes, and with --ray ``bare ray`` as Ray tasks on a private W-cpu Ray (and the
pilot on the Ray engine too). Every row also checks that each circuit got its own result.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_circuit_execution.py
     [--tasks 16 64 256] [--qubits 8] [--workers 2] [--qpus 2] [--ray]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

from qlambda.apps.circuit_execution import (
    check_results,
    run_bare,
    run_on_backends,
    run_on_workers,
    simulate,
)
from qlambda.pilot import PilotDescription, PilotManager


def bare_ray(n: int, qubits: int, shots: int) -> tuple[float, int]:
    import ray

    remote = ray.remote(simulate)
    started = time.perf_counter()
    results = ray.get([remote.remote(qubits, i, 1, shots, 0) for i in range(n)])
    return time.perf_counter() - started, check_results(results, qubits, shots)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[16, 64, 256])
    parser.add_argument("--qubits", type=int, default=8)
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--qpus", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="pilot on Ray, plus bare Ray")
    args = parser.parse_args()
    engine = "ray" if args.ray else "local"
    qpus = [
        {"name": f"qpu-{i}", "kind": "aer", "num_qubits": args.qubits} for i in range(args.qpus)
    ]
    names = [q["name"] for q in qpus]
    with PilotManager() as manager, ProcessPoolExecutor(args.workers) as pool:
        pilot = manager.create_pilot(PilotDescription(engine=engine, cores=args.workers, qpus=qpus))
        pilot.engine.wait_ready(300)
        if args.ray:
            import ray

            ray.init(num_cpus=args.workers, include_dashboard=False, ignore_reinit_error=True)
            bare_ray(args.workers, args.qubits, args.shots)  # warm
        run_bare(args.workers * 2, args.qubits, args.workers, shots=args.shots, pool=pool)
        run_on_workers(pilot, args.workers * 2, args.qubits, shots=args.shots)
        run_on_backends(pilot, args.qpus * 2, args.qubits, names, shots=args.shots)
        print(
            f"\n{args.qubits}-qubit mirror circuits, {args.shots} shots, W={args.workers} "
            f"workers, Q={args.qpus} backends, pilot engine {engine}: seconds (tasks/s)"
        )
        header = f"{'tasks':>6} {'pilot backends':>17} {'pilot workers':>17} {'bare':>17}"
        print(header + (f" {'bare ray':>17}" if args.ray else ""))
        for n in args.tasks:
            cells = []
            for summary, _ in (
                run_on_backends(pilot, n, args.qubits, names, shots=args.shots),
                run_on_workers(pilot, n, args.qubits, shots=args.shots),
                run_bare(n, args.qubits, args.workers, shots=args.shots, pool=pool),
            ):
                assert summary.correct == n, f"{summary.mode}: {summary.correct}/{n} correct"
                cells.append(f"{summary.seconds:7.2f} ({summary.throughput:6.1f})")
            if args.ray:
                seconds, correct = bare_ray(n, args.qubits, args.shots)
                assert correct == n
                cells.append(f"{seconds:7.2f} ({n / seconds:6.1f})")
            print(f"{n:>6} " + " ".join(f"{c:>17}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
