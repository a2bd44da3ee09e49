"""No-op task throughput: ``pilot.submit`` against a bare ProcessPoolExecutor.

Both with the same number of workers, measured in the same run, alternating so a
noisy neighbour hurts both alike. Target: the pilot reaches at least 80% of the
executor's tasks/s.

    .venv/bin/python benchmarks/bench_pilot_throughput.py [--tasks 2000 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, wait

from qlambda.pilot import PilotDescription, PilotManager


def noop():
    return None


def rate(submit, n: int) -> float:
    start = time.perf_counter()
    futures = [submit(noop) for _ in range(n)]
    wait(futures)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with PilotManager() as manager, ProcessPoolExecutor(args.workers) as pool:
        pilot = manager.create_pilot(PilotDescription(engine="local", cores=args.workers))
        pilot.engine.wait_ready(120)
        rate(pool.submit, 500)  # warm both
        rate(pilot.submit, 500)
        print(f"\nNo-op tasks/s with {args.workers} workers (median of {args.rounds} rounds)")
        print(f"{'tasks':>7s} {'ProcessPoolExecutor':>20s} {'pilot.submit':>14s} {'ratio':>7s}")
        for n in args.tasks:
            bare, ours = [], []
            for _ in range(args.rounds):
                bare.append(rate(pool.submit, n))
                ours.append(rate(pilot.submit, n))
            b, o = statistics.median(bare), statistics.median(ours)
            print(f"{n:7d} {b:20.0f} {o:14.0f} {o / b:7.2f}")
        print("target: ratio at least 0.80")


if __name__ == "__main__":
    main()
