"""A burst of ten times what the platform admits, through HTTP.

The server admits at most ``c_max`` active jobs (admission control); a burst of
``c_max`` simultaneous submissions is the baseline, measured in the same run,
then a burst ten times larger. Every request must be answered (stored as
QUEUED, or stored as DROPPED with the reason), the server must keep serving,
and the admitted jobs' time from submission to end must stay bounded.

    .venv/bin/python benchmarks/bench_gateway_burst.py [--c-max 20] [--job-seconds 0.05]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time

import httpx

from gateway_load import Server, load, percentile

SLEEPER = b"import time\n\ndef sleeper(seconds):\n    time.sleep(seconds)\n    return seconds\n"


def burst(server: Server, size: int, seconds: float) -> dict:
    body = {"function": "sleeper", "arguments": {"seconds": seconds}}
    result = load(server.url, server.headers(), "POST", "/jobs", body, concurrency=size, count=size)
    admitted = [a["id"] for a in result["answers"] if a["status"] != "DROPPED"]
    dropped = [a for a in result["answers"] if a["status"] == "DROPPED"]
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        deadline = time.monotonic() + 300
        ended: dict[str, dict] = {}
        while len(ended) < len(admitted) and time.monotonic() < deadline:
            for job_id in admitted:
                if job_id not in ended:
                    row = http.get(f"/jobs/{job_id}").json()
                    if row["ended_at"] is not None:
                        ended[job_id] = row
            time.sleep(0.2)
        alive = http.get("/me").status_code == 200
    turnaround = [row["ended_at"] - row["created_at"] for row in ended.values()]
    latencies = result["latencies"]
    return {
        "size": size,
        "answered": len(latencies),
        "errors": result["errors"],
        "statuses": result["statuses"],
        "admitted": len(admitted),
        "dropped": len(dropped),
        "reason": dropped[0]["reason"] if dropped else "",
        "done": sum(row["status"] == "DONE" for row in ended.values()),
        "submit_p50": 1000 * statistics.median(latencies),
        "submit_p99": 1000 * percentile(latencies, 0.99),
        "submit_max": 1000 * max(latencies),
        "turnaround_p50": statistics.median(turnaround) if turnaround else float("nan"),
        "turnaround_max": max(turnaround) if turnaround else float("nan"),
        "alive": alive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c-max", type=int, default=20)
    parser.add_argument("--job-seconds", type=float, default=0.05)
    args = parser.parse_args()

    server = Server(config=f"[platform]\nworkers = 1\nc_max = {args.c_max}\n")
    try:
        with httpx.Client(base_url=server.url, headers=server.headers()) as http:
            http.post(
                "/functions",
                json={
                    "name": "sleeper",
                    "kind": "source",
                    "content": base64.b64encode(SLEEPER).decode(),
                    "entrypoint": "sleeper.py:sleeper",
                },
            ).raise_for_status()
        burst(server, 4, 0.0)  # warm the worker
        rows = [burst(server, args.c_max, args.job_seconds)]
        rows.append(burst(server, 10 * args.c_max, args.job_seconds))
    finally:
        server.stop()

    print(
        f"\nBursts of simultaneous submissions, admission C_max={args.c_max}, "
        f"1 job worker, jobs of {args.job_seconds:g} s, SQLite, 2-core machine"
    )
    print(
        f"{'burst':>6s} {'answered':>9s} {'errors':>7s} {'admitted':>9s} {'dropped':>8s} "
        f"{'done':>5s} {'submit p50/p99/max ms':>22s} {'admitted end-to-end p50/max s':>30s}"
    )
    for row in rows:
        print(
            f"{row['size']:6d} {row['answered']:9d} {row['errors']:7d} {row['admitted']:9d} "
            f"{row['dropped']:8d} {row['done']:5d} "
            f"{row['submit_p50']:8.1f}/{row['submit_p99']:6.1f}/{row['submit_max']:6.1f} "
            f"{row['turnaround_p50']:15.2f}/{row['turnaround_max']:6.2f}"
        )
    big = rows[-1]
    print(
        f"HTTP statuses in the 10x burst: {big['statuses']}; server still serving: {big['alive']}"
    )
    if big["reason"]:
        print(f"a dropped job's reason: {big['reason']}")


if __name__ == "__main__":
    main()
