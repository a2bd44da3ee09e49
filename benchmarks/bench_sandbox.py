"""What sandboxing tenants costs a shared server: `qlambda serve` with each tenant's
workers in bubblewrap (the default) against the same server with ``--sandbox none``,
measured in the same run.

Two figures per server: the round trip of a trivial job through HTTP (submit, then
the result as soon as it exists: ``GET /jobs/{id}/result?wait=``), one client at a
time, after warm-up; and submissions per second from a load generator in its own
process (4 connections). Target: at least 500 submissions/s on SQLite, sandboxed.

    .venv/bin/python benchmarks/bench_sandbox.py [--jobs 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time

import httpx

from gateway_load import Server, load, percentile, summary

TRIVIAL = b"def trivial(x):\n    return x\n"


def round_trips(server: Server, jobs: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as http:
        for index in range(jobs + 20):
            began = time.perf_counter()
            job = http.post("/jobs", json={"function": "trivial", "arguments": {"x": index}})
            job.raise_for_status()
            answer = http.get(f"/jobs/{job.json()['id']}/result", params={"wait": 30})
            answer.raise_for_status()
            assert answer.json()["value"] == index
            if index >= 20:  # the first ones start the tenant's sandbox and warm it
                samples.append(time.perf_counter() - began)
    return samples


def measure(sandbox: str, jobs: int, seconds: float) -> dict[str, float]:
    server = Server("--workers", "2", "--sandbox", sandbox, "--max-active-jobs", "1000000")
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
        samples = round_trips(server, jobs)
        body = {"function": "trivial", "arguments": {"x": 1}}
        submit = summary(
            load(
                server.url, server.headers(), "POST", "/jobs", body, concurrency=4, duration=seconds
            )
        )
    finally:
        server.stop()
    return {
        "p50": 1000 * statistics.median(samples),
        "p90": 1000 * percentile(samples, 0.9),
        "per_second": submit["per_second"],
        "submit_p50": submit["p50_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = [(mode, measure(mode, args.jobs, args.seconds)) for mode in ("none", "bwrap")]
    print("\n`qlambda serve`, SQLite, 2 job workers; same run, sandbox off then on")
    print(f"{'sandbox':10s} {'round trip p50':>15s} {'p90':>8s} {'submits/s':>10s} {'p50 ms':>8s}")
    for mode, row in rows:
        print(
            f"{mode:10s} {row['p50']:12.2f} ms {row['p90']:8.2f} {row['per_second']:10.0f} "
            f"{row['submit_p50']:8.2f}"
        )
    off, on = rows[0][1], rows[1][1]
    print(
        f"sandboxed / unsandboxed: round trip {on['p50'] / off['p50']:.2f}x, "
        f"submissions {on['per_second'] / off['per_second']:.2f}x"
    )
    print("target: at least 500 submissions/s sandboxed (4 connections)")


if __name__ == "__main__":
    main()
