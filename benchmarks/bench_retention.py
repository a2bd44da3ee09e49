"""How long retention holds the store's writer, and what submissions feel meanwhile.

Fills a store with ``--jobs`` ended jobs (each with 8 events, 2 quantum tasks, a
checkpoint and a log folder, as a real job leaves them), then deletes them all with a
retention pass while another thread keeps storing new jobs and waits for each commit,
as a submission does. The baseline, measured in the same run, is that thread's commit
latency with no retention running. Reports the pass's rate, its longest write (the
longest the writer was held) and the submission latency percentiles.

    .venv/bin/python benchmarks/bench_retention.py [--jobs 20000] [--batch 200] [--postgres]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from qlambda.core.events import Event, EventKind
from qlambda.platform import layout
from qlambda.platform.retention import RetentionPolicy, Rule, apply_policy
from qlambda.store import Store, sqlite_url
from qlambda.store import retention as db

DAY = 86400.0


def fill(store: Store, data_dir: Path, count: int, ended: float) -> None:
    store.put_function(
        {"id": "f1", "name": "f", "kind": "pickle", "payload": b"x", "cpus": 1, "created_at": 1.0}
    ).result()
    futures = []
    for index in range(count):
        job_id = f"{int((ended + index / 1000) * 1000):011x}{index:06x}"
        layout.job_dir(data_dir, job_id).mkdir(parents=True)  # as a job leaves them
        log = layout.job_log(data_dir, job_id)
        log.write_text("some output\n")
        row = {
            "id": job_id,
            "function_id": "f1",
            "function_name": "f",
            "owner": "bench",
            "priority": 1.0,
            "status": "DONE",
            "arguments": b"a" * 100,
            "result": b"r" * 200,
            "attempts": 1,
            "created_at": ended - 1,
            "ended_at": ended + index / 1000,
            "log_path": str(log),
        }
        kinds = [EventKind.SUBMITTED, EventKind.ADMITTED, EventKind.STARTED]
        kinds += [EventKind.QPU_QUEUED, EventKind.QPU_STARTED, EventKind.QPU_FINISHED]
        kinds += [EventKind.CHECKPOINT, EventKind.DONE]
        store.insert_job(row, *(Event(job_id, ended, kind) for kind in kinds))
        for seq in (1, 2):
            store.add_quantum_task(
                {
                    "job_id": job_id,
                    "seq": seq,
                    "backend": "aer",
                    "primitive": "estimator",
                    "num_qubits": 8,
                    "queued_at": ended,
                    "outcome": "done",
                }
            )
        futures.append(store.save_checkpoint(job_id, ended, b"s" * 100))
    for future in futures:
        future.result()
    store.writer.flush()


_new_ids = itertools.count()


def submissions(store: Store, stop: threading.Event, latencies: list[float]) -> None:
    """Store small new jobs one after the other, waiting for each commit."""
    while not stop.is_set():
        job_id = f"f{next(_new_ids):016x}"
        row = {
            "id": job_id,
            "function_id": "f1",
            "function_name": "f",
            "owner": "bench",
            "priority": 1.0,
            "status": "QUEUED",
            "arguments": b"a",
            "attempts": 0,
            "created_at": time.time(),
        }
        started = time.perf_counter()
        store.insert_job(row, Event(job_id, time.time(), EventKind.SUBMITTED)).result()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.002)


def timed_writes() -> list[float]:
    """Time each of the pass's writes (a batch is marked, then deleted: two writes),
    which run on the store's writer."""
    times: list[float] = []
    for name in ("delete_outputs", "delete_jobs"):
        original = getattr(db, name)

        def timed(*args: Any, _original: Any = original) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args)
            finally:
                times.append(time.perf_counter() - started)

        setattr(db, name, timed)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def postgres_url() -> str:
    path = Path(__file__).resolve().parents[1] / "scripts" / "postgres_server.py"
    spec = importlib.util.spec_from_file_location("postgres_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    server = module.start()
    return server, server.create_database(f"bench_retention_{int(time.time())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="a local PostgreSQL server")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="qlambda-retention-"))
    server = None
    if args.postgres:
        server, url = postgres_url()
    else:
        url = sqlite_url(data_dir / "qlambda.db")
    store = Store(url)
    try:
        now = time.time()
        started = time.perf_counter()
        print(f"storing {args.jobs:,} ended jobs...", flush=True)
        fill(store, data_dir, args.jobs, now - 10 * DAY)
        took = time.perf_counter() - started
        print(f"stored {args.jobs:,} ended jobs in {took:.1f} s ({url.split(':')[0]})")

        quiet: list[float] = []
        stop = threading.Event()
        thread = threading.Thread(target=submissions, args=(store, stop, quiet))
        thread.start()
        time.sleep(5)
        stop.set()
        thread.join()

        busy: list[float] = []
        stop = threading.Event()
        thread = threading.Thread(target=submissions, args=(store, stop, busy))
        writes = timed_writes()
        policy = RetentionPolicy({"DONE": Rule(max_age=DAY)}, batch_size=args.batch)
        thread.start()
        report = apply_policy(store, data_dir, policy, now=now)
        stop.set()
        thread.join()
    finally:
        store.close()
        if server is not None:
            server.stop()
    done = report.statuses["DONE"]
    print(
        f"deleted {done.jobs:,} jobs, {done.events:,} events, {done.quantum_tasks:,} quantum "
        f"tasks in {report.seconds:.1f} s ({done.jobs / report.seconds:,.0f} jobs/s)"
    )
    median, longest = 1e3 * statistics.median(writes), 1e3 * max(writes)
    print(
        f"{len(writes)} writes (batches of {args.batch}, each marked then deleted): "
        f"median {median:.0f} ms, longest {longest:.0f} ms"
    )
    print(f"\n{'a submission commit':<28}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'n':>7}")
    for label, values in (("no retention (baseline)", quiet), ("during retention", busy)):
        print(
            f"{label:<28}{1e3 * statistics.median(values):>8.1f}"
            f"{1e3 * percentile(values, 0.99):>8.1f}{1e3 * max(values):>8.1f}{len(values):>7,}"
        )


if __name__ == "__main__":
    main()
