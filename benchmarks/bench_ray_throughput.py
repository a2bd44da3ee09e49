"""No-op task throughput through ``pilot.submit`` on Ray, against bare Ray on the same cluster.

The baseline is measured in the same run, on the same private local Ray instance
the pilot started: ``@ray.remote`` no-op tasks, all submitted, then ``ray.get``.
The pilot's number includes what bare Ray lacks: one ``concurrent.futures``
Future per task, priorities, and the code shipping of ``pilot.submit``. Also
reported: seconds from ``create_pilot`` to the first finished task on a fresh
Ray pilot (this process has not imported Ray before).

    .venv/bin/python benchmarks/bench_ray_throughput.py [--cores 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

SIZES = (256, 1024, 4096)


def noop(x=None):
    return x


def pilot_rate(pilot, n: int) -> float:
    start = time.perf_counter()
    futures = [pilot.submit(noop) for _ in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - start)


def ray_rate(remote_noop, n: int) -> float:
    import ray

    start = time.perf_counter()
    ray.get([remote_noop.remote() for _ in range(n)])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="cpus of the private Ray instance")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    options = parser.parse_args()

    start = time.perf_counter()
    from qlambda.pilot import PilotDescription, PilotManager

    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="ray", cores=options.cores))
        created = time.perf_counter()
        pilot.submit(noop, 1).result()
        first = time.perf_counter()
        print(f"create_pilot: {created - start:.2f} s, then first task done: {first - start:.2f} s")
        print("(Pilot-Quantum on this machine: 20-33 s to the first task)\n")

        import ray

        remote_noop = ray.remote(noop)
        for _ in range(3):  # warm both paths: workers started, functions exported
            ray_rate(remote_noop, 1024)
            pilot_rate(pilot, 1024)
        rows = []
        for n in SIZES:
            bare = statistics.median(ray_rate(remote_noop, n) for _ in range(options.repeat))
            ours = statistics.median(pilot_rate(pilot, n) for _ in range(options.repeat))
            rows.append((n, bare, ours))
    print(f"{'N':>6} {'bare Ray tasks/s':>17} {'pilot.submit tasks/s':>21} {'pilot/bare':>11}")
    for n, bare, ours in rows:
        print(f"{n:>6} {bare:>17.0f} {ours:>21.0f} {ours / bare:>10.0%}")
    print("\ntarget: pilot.submit at least 80% of bare Ray; first task under 10 s")


if __name__ == "__main__":
    main()
