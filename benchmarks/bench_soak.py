"""Soak: `qlambda serve` under a steady mix of good and failing jobs, with retention on.

For ``--minutes`` minutes a driver submits jobs at ``--rate`` per second over HTTP:
classical jobs that print and write a file, quantum jobs (a GHZ circuit on the
sampler), and failing ones: raising, timing out, exceeding their memory limit, and
canceled while they run. The server applies a short retention policy (DONE jobs kept
60 s, their results and logs 20 s; failed ones 60 s; canceled and dropped 30 s) every
10 s. Each minute it records the server's processes, their memory (RSS of the server
and of its workers and QPU executors), open file descriptors, the database's size and
the data directory's disk use, then prints the first and last minute side by side: a
platform that can run for weeks shows them flat. The first minute is the baseline.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 5] [--rate 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import qlambda
from gateway_load import Server

RETENTION = """
[retention]
interval = "10s"
[retention.DONE]
max_age = "60s"
output_max_age = "20s"
[retention.ERROR]
max_age = "60s"
[retention.CANCELED]
max_age = "30s"
[retention.DROPPED]
max_age = "30s"
"""


@qlambda.function(name="classical")
def classical(n):
    print(f"summing {n} numbers")
    Path("partial.txt").write_text(str(n))
    return sum(range(n))


@qlambda.function(name="quantum")
def quantum(ctx, shots):
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.cx(1, 2)
    circuit.measure_all()
    counts = ctx.sampler().run([circuit], shots=shots).result()[0].data.meas.get_counts()
    print(counts)
    return counts


@qlambda.function(name="raises")
def raises(n):
    raise ValueError(f"bad input {n}")


@qlambda.function(name="overtime", timeout="1s")
def overtime(seconds):
    time.sleep(seconds)


@qlambda.function(name="hog", memory="50MB")
def hog(megabytes):
    block = bytearray(megabytes << 20)
    time.sleep(2)
    return len(block)


@qlambda.function(name="long")
def long(seconds):
    time.sleep(seconds)


# what the driver submits, with its weight and arguments
MIX = [
    (classical, 50, {"n": 1000}),
    (quantum, 20, {"shots": 200}),
    (raises, 10, {"n": 3}),
    (overtime, 7, {"seconds": 5}),
    (hog, 6, {"megabytes": 200}),
    (long, 7, {"seconds": 5}),  # canceled 0.3 s after submission
]
CANCEL_AFTER = 0.3


@dataclass
class Sample:
    minute: int
    submitted: int
    stored: int
    processes: int
    server_mb: float
    children_mb: float
    pss_mb: float
    fds: int
    db_mb: float
    disk_mb: float
    inodes: int


def processes(server: Server) -> int:
    return 1 + len(psutil.Process(server.process.pid).children(recursive=True))


def measure(server: Server, minute: int, submitted: int) -> Sample:
    process = psutil.Process(server.process.pid)
    children = process.children(recursive=True)
    children_rss = fds = 0
    pss = process.memory_full_info().pss
    for child in children:
        with contextlib.suppress(psutil.Error):  # it may have exited meanwhile
            children_rss += child.memory_info().rss
            fds += child.num_fds()
            pss += child.memory_full_info().pss
    data = Path(server.directory)
    db = sum(
        (data / name).stat().st_size
        for name in ("qlambda.db", "qlambda.db-wal", "qlambda.db-shm")
        if (data / name).exists()
    )
    disk, inodes = 0, 0
    for root, dirs, files in os.walk(data):
        inodes += len(dirs) + len(files)
        for name in files:
            with contextlib.suppress(OSError):  # deleted meanwhile
                disk += os.lstat(os.path.join(root, name)).st_blocks * 512
    with sqlite3.connect(f"file:{data / 'qlambda.db'}?mode=ro", uri=True, timeout=30) as conn:
        stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    return Sample(
        minute,
        submitted,
        stored,
        1 + len(children),
        process.memory_info().rss / 2**20,
        children_rss / 2**20,
        pss / 2**20,
        process.num_fds() + fds,
        db / 2**20,
        disk / 2**20,
        inodes,
    )


# RSS counts pages shared with the forkserver once per process; PSS shares them out
HEADER = (
    f"{'min':>3} {'sent':>6} {'stored':>6} {'procs':>5} {'server':>6} {'workers':>7} "
    f"{'PSS':>6} {'fds':>5} {'db MB':>6} {'disk MB':>7} {'inodes':>6}\n"
    f"{'':>3} {'jobs':>6} {'jobs':>6} {'':>5} {'RSS MB':>6} {'RSS MB':>7} "
    f"{'MB':>6} {'':>5} {'':>6} {'':>7} {'':>6}"
)


def row(s: Sample) -> str:
    return (
        f"{s.minute:>3} {s.submitted:>6,} {s.stored:>6,} {s.processes:>5} "
        f"{s.server_mb:>6.0f} {s.children_mb:>7.0f} {s.pss_mb:>6.0f} {s.fds:>5} "
        f"{s.db_mb:>6.2f} {s.disk_mb:>7.2f} {s.inodes:>6,}"
    )


def drive(client, mix, stop: threading.Event, rate: float, counts: dict, seed: int) -> None:
    rng = random.Random(seed)
    for function, _, _ in mix:
        client.register(function)
    weights = [weight for _, weight, _ in mix]
    to_cancel: list[tuple[float, object]] = []
    next_at = time.monotonic()
    while not stop.is_set():
        function, _, arguments = rng.choices(mix, weights)[0]
        try:
            job = client.run(function.name, **arguments)
        except Exception as exc:  # the server refused: count it, keep going
            counts["refused"] = counts.get("refused", 0) + 1
            counts["last_refusal"] = str(exc)[:70]
        else:
            counts[function.name] = counts.get(function.name, 0) + 1
            counts["submitted"] += 1
            if function is long:
                to_cancel.append((time.monotonic() + CANCEL_AFTER, job))
        now = time.monotonic()
        while to_cancel and to_cancel[0][0] <= now:
            _, job = to_cancel.pop(0)
            with contextlib.suppress(Exception):  # it may have ended already
                job.cancel()
        next_at += rng.expovariate(rate)
        stop.wait(max(0.0, next_at - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--rate", type=float, default=4.0, help="jobs submitted per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-processes",
        type=int,
        default=200,
        help="stop early past this many processes, to spare the machine's memory",
    )
    names = [f.name for f, _, _ in MIX]
    parser.add_argument(
        "--kinds",
        default=",".join(names),
        help=f"which jobs to submit, comma-separated (default: all of {','.join(names)})",
    )
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    unknown = sorted(set(kinds) - set(names))
    if unknown:
        parser.error(f"unknown kind(s) {unknown}; accepted: {', '.join(names)}")
    mix = [entry for entry in MIX if entry[0].name in kinds]

    server = Server("--workers", str(args.workers), config=RETENTION)
    counts: dict = {"submitted": 0}
    stop = threading.Event()
    samples: list[Sample] = []
    try:
        with qlambda.Client(server.url, token=server.token) as client:
            driver = threading.Thread(
                target=drive, args=(client, mix, stop, args.rate, counts, args.seed), daemon=True
            )
            started = time.monotonic()
            driver.start()
            print(f"soak: {args.minutes} min at {args.rate:g} jobs/s, {args.workers} workers")
            print(f"jobs: {', '.join(f'{f.name} {w}%' for f, w, _ in mix)}")
            print(HEADER)
            for minute in range(1, args.minutes + 1):
                crowded = False
                while not crowded and time.monotonic() < started + 60 * minute:
                    stop.wait(min(5.0, max(0.0, started + 60 * minute - time.monotonic())))
                    crowded = processes(server) > args.max_processes
                samples.append(measure(server, minute, counts["submitted"]))
                print(row(samples[-1]), flush=True)
                if crowded:
                    print(f"stopped early: more than {args.max_processes} processes")
                    break
            stop.set()
            driver.join(30)
            statuses = client.request("GET", "/jobs", params={"limit": 1000})
    finally:
        stop.set()
        server.stop()
    report(samples, counts, statuses)


def report(samples: list[Sample], counts: dict, listed: list[dict]) -> None:
    first, last = samples[0], samples[-1]
    print()
    print(f"{'what':<28}  {'minute ' + str(first.minute):>10}  {'minute ' + str(last.minute):>10}")
    lines = [
        ("jobs submitted (total)", first.submitted, last.submitted, "{:,.0f}"),
        ("jobs stored", first.stored, last.stored, "{:,.0f}"),
        ("processes", first.processes, last.processes, "{:.0f}"),
        ("server RSS MB", first.server_mb, last.server_mb, "{:.0f}"),
        ("workers + executors RSS MB", first.children_mb, last.children_mb, "{:.0f}"),
        ("all processes PSS MB", first.pss_mb, last.pss_mb, "{:.0f}"),
        ("open file descriptors", first.fds, last.fds, "{:.0f}"),
        ("database MB", first.db_mb, last.db_mb, "{:.2f}"),
        ("data dir disk MB", first.disk_mb, last.disk_mb, "{:.2f}"),
        ("data dir inodes", first.inodes, last.inodes, "{:,.0f}"),
    ]
    for label, a, b, fmt in lines:
        growth = b - a
        relative = f"{100 * growth / a:+.0f}%" if a else ""
        print(
            f"{label:<28}  {fmt.format(a):>10}  {fmt.format(b):>10}  "
            f"{'+' if growth >= 0 else ''}{fmt.format(growth):>9} {relative:>6}"
        )
    submitted = ", ".join(f"{f.name} {counts.get(f.name, 0)}" for f, _, _ in MIX)
    print(f"\nsubmitted: {submitted}")
    if counts.get("refused"):
        print(f"refused: {counts['refused']} ({counts.get('last_refusal')})")
    by_status: dict[str, int] = {}
    for job in listed:
        by_status[job["status"]] = by_status.get(job["status"], 0) + 1
    stored = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    print(f"stored now (newest 1000): {stored}")


if __name__ == "__main__":
    main()
