"""Trivial job round trip (submit to result) on the embedded platform.

Baselines measured in the same run: the same no-op as a bare engine task (the
warm worker pool alone, no store, no events) and through a ProcessPoolExecutor
with the same number of workers. The platform's job includes what the others
lack: a durable row before the submission returns, admission control, events,
the result stored before it is reported.

    .venv/bin/python benchmarks/bench_roundtrip.py [--jobs 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import qlambda
from qlambda.engine import TaskSpec
from qlambda.engine.local import LocalEngine


def noop(x=0):
    return x


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return pick(0.5) * 1e3, pick(0.9) * 1e3, pick(0.99) * 1e3


def timed(call, n: int) -> list[float]:
    for _ in range(20):  # warm-up
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        rows.append(
            ("ProcessPoolExecutor task", timed(lambda: pool.submit(noop).result(), args.jobs))
        )
    engine = LocalEngine(cpus=args.workers)
    engine.start()
    engine.wait_ready(120)
    rows.append(
        ("bare engine task", timed(lambda: engine.submit(TaskSpec(noop)).result(), args.jobs))
    )
    engine.shutdown()
    with (
        tempfile.TemporaryDirectory() as data,
        qlambda.Client(data_dir=data, workers=args.workers) as client,
    ):
        client.wait_ready()
        rows.append(("qlambda job (embedded)", timed(lambda: client.run(noop).result(), args.jobs)))

    print(f"\nRound trip of a no-op, {args.jobs} sequential calls, {args.workers} workers (ms)")
    print(f"{'path':28s} {'p50':>8s} {'p90':>8s} {'p99':>8s} {'mean':>8s}")
    for name, samples in rows:
        p50, p90, p99 = percentiles(samples)
        print(f"{name:28s} {p50:8.2f} {p90:8.2f} {p99:8.2f} {1e3 * statistics.mean(samples):8.2f}")
    job_p50 = percentiles(rows[-1][1])[0]
    print(f"\nqlambda job p50 {job_p50:.2f} ms (target: at most 20 ms)")


if __name__ == "__main__":
    main()
