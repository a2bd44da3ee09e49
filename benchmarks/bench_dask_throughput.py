"""No-op task throughput through ``pilot.submit`` on Dask, against bare Dask on the same cluster.

The baseline runs in the same process, on the private ``LocalCluster`` the pilot
started: ``client.submit(noop, pure=False)`` for every task, then ``gather``.

    .venv/bin/python benchmarks/bench_dask_throughput.py [--cores 2] [--repeat 3]
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


def dask_rate(client, n: int) -> float:
    start = time.perf_counter()
    client.gather([client.submit(noop, pure=False) for _ in range(n)])
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="workers of the private cluster")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (median reported)")
    options = parser.parse_args()

    from qlambda.pilot import PilotDescription, PilotManager

    start = time.perf_counter()
    with PilotManager() as manager:
        pilot = manager.create_pilot(PilotDescription(engine="dask", cores=options.cores))
        pilot.submit(noop, 1).result()
        print(f"create_pilot to the first finished task: {time.perf_counter() - start:.2f} s\n")
        client = pilot.engine.client
        for _ in range(2):  # warm both paths
            dask_rate(client, 512)
            pilot_rate(pilot, 512)
        rows = []
        for n in SIZES:
            bare = statistics.median(dask_rate(client, n) for _ in range(options.repeat))
            ours = statistics.median(pilot_rate(pilot, n) for _ in range(options.repeat))
            rows.append((n, bare, ours))
    print(f"{'N':>6} {'bare Dask tasks/s':>18} {'pilot.submit tasks/s':>21} {'pilot/bare':>11}")
    for n, bare, ours in rows:
        print(f"{n:>6} {bare:>18.0f} {ours:>21.0f} {ours / bare:>10.0%}")


if __name__ == "__main__":
    main()
