"""Replicas on one PostgreSQL database: submissions through HTTP on one server, one
replica and two replicas (the load spread over both), measured in the same run; then
the recovery from a replica killed with SIGKILL: the time from the kill to every one of
its unfinished jobs claimed by the survivor, and to the jobs it was running running
again there (their lease runs out first: ``lease_seconds``).

    .venv/bin/python benchmarks/bench_replicas.py [--seconds 10] [--concurrency 8]
        [--leases 5 15] [--jobs 12]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from gateway_load import load, start_serve, stop_serve, summary
from qlambda.store import Store, schema

SOURCE = b"""
import time

def trivial(x):
    return x

def sleeps(seconds):
    time.sleep(seconds)
    return seconds
"""
CONFIG = "[platform]\nreplica = {replica}\nlease_seconds = {lease}\n"


def postgres() -> Any:
    path = Path(__file__).resolve().parents[1] / "scripts" / "postgres_server.py"
    spec = importlib.util.spec_from_file_location("postgres_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.start()


class Replica:
    """`qlambda serve` over a data directory of its own, on ``database``."""

    def __init__(
        self, database: str, *options: str, replica: bool = True, lease: float = 15
    ) -> None:
        self.directory = tempfile.mkdtemp(prefix="qlambda-bench-replica-")
        self.process, self.url = start_serve(
            self.directory,
            ["--sandbox", "none", "--max-active-jobs", "1000000", *options],
            CONFIG.format(replica=str(replica).lower(), lease=lease),
            database,
        )

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop_serve(self.process, self.directory)


def new_database(server: Any, name: str) -> tuple[str, dict[str, str]]:
    """A fresh database with the user ``bench``; its URL and that user's headers."""
    url = server.create_database(f"bench_replicas_{name}_{os.getpid()}")
    store = Store(url)
    try:
        token = store.create_user("bench")
    finally:
        store.close()
    return url, {"Authorization": f"Bearer {token}"}


def register(url: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for name in ("trivial", "sleeps"):
            http.post(
                "/functions",
                json={
                    "name": name,
                    "kind": "source",
                    "content": base64.b64encode(SOURCE).decode(),
                    "entrypoint": f"jobs.py:{name}",
                },
            ).raise_for_status()


def spread(
    urls: list[str], headers: dict[str, str], concurrency: int, seconds: float
) -> dict[str, Any]:
    """``concurrency`` connections spread over ``urls``, each URL's load from a process of
    its own; the runs' latencies together."""
    body = {"function": "trivial", "arguments": {"x": 1}}
    shares = [concurrency // len(urls) + (i < concurrency % len(urls)) for i in range(len(urls))]
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = list(
            pool.map(
                lambda job: load(
                    job[0], headers, "POST", "/jobs", body, concurrency=job[1], duration=seconds
                ),
                zip(urls, shares, strict=True),
            )
        )
    return {
        "elapsed": max(r["elapsed"] for r in runs),
        "latencies": [x for r in runs for x in r["latencies"]],
        "statuses": {
            s: sum(r["statuses"].get(s, 0) for r in runs) for r0 in runs for s in r0["statuses"]
        },
        "errors": sum(r["errors"] for r in runs),
    }


def throughput(server: Any, label: str, count: int, replica: bool, args: Any) -> dict[str, Any]:
    database, headers = new_database(server, label)
    servers = [Replica(database, "--workers", "1", replica=replica) for _ in range(count)]
    try:
        register(servers[0].url, headers)
        urls = [s.url for s in servers]
        spread(urls, headers, 4, 2)  # warm up: connections, caches, workers
        print(f"  {label}: {args.seconds:g} s of submissions...", flush=True)
        return spread(urls, headers, args.concurrency, args.seconds)
    finally:
        for s in servers:
            s.stop()


def recovery(server: Any, lease: float, jobs: int) -> dict[str, float]:
    """Replica A runs 2 jobs and holds ``jobs - 2`` queued; A is killed: how long until B
    owns them all, and runs again those A was running."""
    database, headers = new_database(server, f"recovery_{int(lease)}")
    a = Replica(database, "--workers", "2", lease=lease)
    b = Replica(database, "--workers", "2", lease=lease)
    store = Store(database)
    try:
        register(a.url, headers)
        with httpx.Client(base_url=a.url, headers=headers, timeout=60) as http:
            ids = [
                http.post(
                    "/jobs", json={"function": "sleeps", "arguments": {"seconds": 60}}
                ).json()["id"]
                for _ in range(jobs)
            ]
        jobs_table = schema.jobs
        running: list[str] = []
        while len(running) < 2:
            with store.engine.connect() as conn:
                running = list(
                    conn.execute(
                        sa.select(jobs_table.c.id).where(
                            jobs_table.c.id.in_(ids), jobs_table.c.status == "RUNNING"
                        )
                    ).scalars()
                )
            time.sleep(0.05)
        with store.engine.connect() as conn:
            owner = conn.execute(
                sa.select(jobs_table.c.controller).where(jobs_table.c.id == ids[0])
            ).scalar_one()
        print(f"  lease {lease:g} s: killing the replica that runs 2 of {jobs} jobs", flush=True)
        killed = time.monotonic()
        a.kill()
        claimed_after = running_after = None
        while running_after is None:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(jobs_table.c.id, jobs_table.c.controller, jobs_table.c.status).where(
                        jobs_table.c.id.in_(ids)
                    )
                ).all()
            elapsed = time.monotonic() - killed
            if claimed_after is None and all(r.controller != owner for r in rows):
                claimed_after = elapsed
            again = [r for r in rows if r.id in running and r.controller != owner]
            if claimed_after is not None and all(r.status == "RUNNING" for r in again):
                running_after = elapsed
            if elapsed > 10 * lease + 60:
                raise RuntimeError("the survivor did not take the jobs over")
            time.sleep(0.02)
        return {"lease": lease, "claimed": claimed_after, "running": running_after}
    finally:
        store.close()
        a.stop()
        b.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--leases", type=float, nargs="*", default=[5.0, 15.0])
    parser.add_argument("--jobs", type=int, default=12, help="the killed replica's jobs")
    args = parser.parse_args()

    print("starting PostgreSQL...", flush=True)
    server = postgres()
    try:
        print("submissions through HTTP:", flush=True)
        rows = [
            ("1 server (baseline)", throughput(server, "single", 1, False, args)),
            ("1 replica", throughput(server, "one", 1, True, args)),
            ("2 replicas, load spread", throughput(server, "two", 2, True, args)),
        ]
        print("recovery from SIGKILL:", flush=True)
        recoveries = [recovery(server, lease, args.jobs) for lease in args.leases]
    finally:
        server.stop()

    print(
        f"\nPOST /jobs on PostgreSQL, {args.concurrency} connections in all, "
        f"{args.seconds:g} s, 1 job worker a server"
    )
    print(f"{'servers':26s}{'subm/s':>9s}{'p50 ms':>9s}{'p99 ms':>9s}{'max ms':>9s}{'errors':>8s}")
    base = summary(rows[0][1])["per_second"]
    for label, result in rows:
        row = summary(result)
        failed = sum(n for status, n in result["statuses"].items() if status >= 300)
        print(
            f"{label:26s}{row['per_second']:9.0f}{row['p50_ms']:9.2f}{row['p99_ms']:9.2f}"
            f"{row['max_ms']:9.1f}{row['errors'] + failed:8d}"
        )
    two = summary(rows[2][1])["per_second"]
    print(f"2 replicas reach {two / base:.0%} of one server's submission rate")
    print(
        f"\nrecovery of a replica killed with SIGKILL ({args.jobs} jobs: 2 running, "
        f"{args.jobs - 2} queued)"
    )
    print(f"{'lease_seconds':>14s}{'all claimed s':>16s}{'running again s':>18s}")
    for r in recoveries:
        print(f"{r['lease']:14g}{r['claimed']:16.2f}{r['running']:18.2f}")
    print("a job's lease is its owner's: claims wait for it to expire (at most the lease,")
    print("plus a takeover round of lease/4)")


if __name__ == "__main__":
    main()
