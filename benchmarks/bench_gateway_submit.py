"""Submissions of a trivial function through HTTP on each store, SQLite and PostgreSQL,
from a load generator in a separate process, at 4 and 16 connections, against the same
server's cheapest authenticated request (``GET /me``) measured in the same run. Each
submission carries an ``Idempotency-Key`` of its own (as the Python client's do) and is
answered only once the job is stored.

``cpu ms`` is the server process's CPU time (user + system; the job workers are child
processes, not counted) per request. Two kinds of submission are measured:

- ``run``: the jobs run on a worker as they come; the CPU is counted from the first
  submission until the last of these jobs has ended (start and end stored), so it is
  what a job costs the server from submission to end, on either store;
- ``held``: jobs of a user whose one running slot is taken by a long job: each is
  stored and waits queued, so the CPU is the submission path's alone (HTTP, auth,
  admission, the insert of the job and its events).

PostgreSQL's own processes are measured apart (``db ms``); SQLite works inside the
server's process. PostgreSQL is started on loopback with ``scripts/postgres_server.py``.

Targets: at least 500 submissions/s on SQLite at 4 connections, p50 at most 10 ms;
PostgreSQL's server CPU per submission at most 1.5x SQLite's.

    .venv/bin/python benchmarks/bench_gateway_submit.py [--database sqlite|postgresql]
        [--seconds 10] [--connections 4,16]
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from gateway_load import Server, load, summary

TRIVIAL = b"def trivial(x):\n    return x\n"
BLOCKER = b"import time\n\ndef blocker(seconds):\n    time.sleep(seconds)\n"
DATABASES = ("sqlite", "postgresql")


def postgres_helper() -> Any:
    path = Path(__file__).resolve().parents[1] / "scripts" / "postgres_server.py"
    spec = importlib.util.spec_from_file_location("qlambda_postgres_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class DatabaseCpu:
    """CPU seconds used by a PostgreSQL server's processes (postmaster and backends)
    since ``start``; a backend that exited meanwhile is not counted."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._seen: dict[int, float] = {}

    def _now(self) -> dict[int, float]:
        if self.pid is None:
            return {}
        found = {}
        root = psutil.Process(self.pid)
        for process in [root, *root.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            found[process.pid] = times.user + times.system
        return found

    def start(self) -> None:
        self._seen = self._now()

    def seconds(self) -> float:
        return sum(t - self._seen.get(pid, 0.0) for pid, t in self._now().items())


def register(server: Server) -> None:
    for user in server.tokens:
        with httpx.Client(base_url=server.url, headers=server.headers(user), timeout=60) as http:
            for name, source in (("trivial", TRIVIAL), ("blocker", BLOCKER)):
                http.post(
                    "/functions",
                    json={
                        "name": name,
                        "kind": "source",
                        "content": base64.b64encode(source).decode(),
                        "entrypoint": f"{name}.py:{name}",
                    },
                ).raise_for_status()
    # takes the held user's only running slot: their later jobs are stored and wait
    with httpx.Client(base_url=server.url, headers=server.headers("held"), timeout=60) as http:
        http.post(
            "/jobs", json={"function": "blocker", "arguments": {"seconds": 3600}}
        ).raise_for_status()


def drain(server: Server, timeout: float = 600) -> None:
    """Return once none of the user bench's jobs is queued or running."""
    query = {"status": ["QUEUED", "RUNNING"], "limit": 1}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        while http.get("/jobs", params=query).json():
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still unfinished after {timeout:g} s")
            time.sleep(0.1)


def measure(
    server: Server,
    database: DatabaseCpu,
    request: tuple[str, str, str, Any],
    connections: int,
    seconds: float,
) -> dict[str, Any]:
    label, method, path, body = request
    user = "held" if "held" in label else "bench"
    cpu = server.cpu_seconds()
    database.start()
    result = load(
        server.url,
        server.headers(user),
        method,
        path,
        body,
        concurrency=connections,
        duration=seconds,
        keys=method == "POST",  # as the Python client sends them
    )
    if "run" in label:
        drain(server)  # the jobs' runs are part of their cost
    cpu, db = server.cpu_seconds() - cpu, database.seconds()
    row = summary(result)
    answered = max(1, row["requests"])
    failed = sum(n for status, n in result["statuses"].items() if status >= 300)
    row.update(
        cpu_ms=1000 * cpu / answered,
        db_ms=1000 * db / answered if database.pid else None,
        failed=failed + row["errors"],
    )
    return row


def run_database(kind: str, connections: list[int], seconds: float) -> list[dict[str, Any]]:
    postgres = None
    url = None
    if kind == "postgresql":
        print("starting PostgreSQL (scripts/postgres_server.py)", file=sys.stderr)
        postgres = postgres_helper().start()
        url = postgres.create_database("bench")
    rows: list[dict[str, Any]] = []
    server = None
    try:
        # raw throughput: the per-user limit on active jobs (100 by default) is lifted;
        # one worker runs bench's jobs, the other holds the held user's long job
        server = Server(
            "--workers",
            "2",
            "--max-active-jobs",
            "1000000",
            database_url=url,
            users={"held": {"max_running_jobs": 1}},
        )
        register(server)
        database = DatabaseCpu(postgres.pid if postgres else None)
        body = {"function": "trivial", "arguments": {"x": 1}}
        load(server.url, server.headers(), "POST", "/jobs", body, concurrency=4, count=300)
        drain(server)
        requests = [
            ("GET /me", "GET", "/me", None),
            ("POST /jobs, run", "POST", "/jobs", body),
            ("POST /jobs, held", "POST", "/jobs", body),
        ]
        for n in connections:
            for request in requests:
                print(f"{kind}: {request[0]}, {n} connections, {seconds:g} s", file=sys.stderr)
                row = measure(server, database, request, n, seconds)
                rows.append({"store": kind, "connections": n, "request": request[0], **row})
    finally:
        if server is not None:
            server.stop()
        if postgres is not None:
            postgres.stop()
    return rows


def print_table(rows: list[dict[str, Any]], seconds: float) -> None:
    print(f"\nHTTP against `qlambda serve`, {seconds:g} s of load per row, 2-core machine")
    print(
        f"{'store':10s} {'conns':>5s} {'request':16s} {'req/s':>6s} {'p50 ms':>7s} "
        f"{'p99 ms':>7s} {'cpu ms':>6s} {'db ms':>6s} {'failed':>6s}"
    )
    for row in rows:
        db = "-" if row["db_ms"] is None else f"{row['db_ms']:6.2f}"
        print(
            f"{row['store']:10s} {row['connections']:5d} {row['request']:16s} "
            f"{row['per_second']:6.0f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f} "
            f"{row['cpu_ms']:6.2f} {db:>6s} {row['failed']:6d}"
        )
    print("cpu ms: the server process's CPU per request (run: until the jobs ended);")
    print("db ms: PostgreSQL's own processes")
    by_key = {(r["store"], r["connections"], r["request"]): r for r in rows}
    for n in sorted({r["connections"] for r in rows}):
        ratios = []
        for label in ("POST /jobs, held", "POST /jobs, run"):
            sqlite = by_key.get(("sqlite", n, label))
            postgres = by_key.get(("postgresql", n, label))
            if sqlite and postgres:
                ratios.append(
                    f"{label.split(', ')[1]} {postgres['cpu_ms'] / sqlite['cpu_ms']:.2f}x "
                    f"CPU, {postgres['per_second'] / sqlite['per_second']:.2f}x rate"
                )
        if ratios:
            print(f"PostgreSQL/SQLite at {n} connections: " + "; ".join(ratios))
    print("targets: SQLite >= 500 submissions/s at 4 connections, p50 <= 10 ms;")
    print("PostgreSQL's server CPU per submission (held) <= 1.5x SQLite's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", choices=DATABASES, action="append", help="repeatable; default: both"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--connections", default="4,16", help="comma-separated connection counts (4,16)"
    )
    args = parser.parse_args()
    try:
        connections = [int(n) for n in args.connections.split(",")]
    except ValueError:
        parser.error(f"--connections takes numbers separated by commas, not {args.connections!r}")
    if not connections or min(connections) < 1:
        parser.error("--connections takes positive numbers")
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    for kind in args.database or DATABASES:
        rows += run_database(kind, connections, args.seconds)
    print_table(rows, args.seconds)
    print(f"(took {time.monotonic() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
