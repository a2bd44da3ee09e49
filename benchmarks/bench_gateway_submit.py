"""Submissions of a trivial function through HTTP (SQLite store), from a load
generator in a separate process, against the same server's cheapest
authenticated request (``GET /me``: HTTP, auth, no store write) measured in the
same run. Each submission is answered only once the job is stored.

Targets: at least 500 submissions/s sustained, p50 submit latency at most 10 ms.

    .venv/bin/python benchmarks/bench_gateway_submit.py [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import base64

import httpx

from gateway_load import Server, load, summary

TRIVIAL = b"def trivial(x):\n    return x\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    # raw throughput: the per-user limit on active jobs (100 by default) is lifted
    server = Server("--workers", str(args.workers), "--max-active-jobs", "1000000")
    try:
        with httpx.Client(base_url=server.url, headers=server.headers()) as http:
            http.post(
                "/functions",
                json={
                    "name": "trivial",
                    "kind": "source",
                    "content": base64.b64encode(TRIVIAL).decode(),
                    "entrypoint": "trivial.py:trivial",
                },
            ).raise_for_status()
        body = {"function": "trivial", "arguments": {"x": 1}}
        load(server.url, server.headers(), "POST", "/jobs", body, concurrency=4, count=300)
        rows = []
        baseline = load(
            server.url,
            server.headers(),
            "GET",
            "/me",
            concurrency=args.concurrency,
            duration=args.seconds,
        )
        rows.append(("GET /me (baseline)", summary(baseline), baseline["statuses"]))
        submit = load(
            server.url,
            server.headers(),
            "POST",
            "/jobs",
            body,
            concurrency=args.concurrency,
            duration=args.seconds,
        )
        rows.append(("POST /jobs (stored)", summary(submit), submit["statuses"]))
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
            stored = len(http.get("/jobs", params={"limit": 1000}).json())
    finally:
        server.stop()

    print(
        f"\nHTTP against `qlambda serve` (SQLite, {args.workers} job worker), "
        f"{args.concurrency} connections, {args.seconds:g} s each, 2-core machine"
    )
    print(
        f"{'request':24s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
        f"{'errors':>7s}  statuses"
    )
    for label, row, statuses in rows:
        print(
            f"{label:24s} {row['per_second']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['max_ms']:8.1f} {row['errors']:7d}  {statuses}"
        )
    ratio = rows[1][1]["per_second"] / rows[0][1]["per_second"]
    print(
        f"submissions reach {ratio:.0%} of the baseline's request rate; "
        f"jobs listed afterwards (first page): {stored}"
    )
    print("targets: at least 500 submissions/s sustained, p50 at most 10 ms")


if __name__ == "__main__":
    main()
