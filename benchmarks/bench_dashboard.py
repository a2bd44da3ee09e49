"""The dashboard with 100,000 jobs stored: server time of the jobs page, and how soon the
page shows what happens.

1. Server time (loopback, keep-alive, one request at a time) of ``/ui/jobs`` pages:
   the first page, filtered ones, searches and a page 50,000 jobs deep (after a
   cursor), against the baseline measured in the same run: the API's ``GET /jobs``
   page (offset pagination), first and 50,000 deep. Target: p50 <= 50 ms.
2. Update lag: a headless Chromium shows the jobs page while jobs are submitted at
   1,000 job events a minute (each job: submitted, started, ended); the lag is from the
   event's time as the server stored it to the moment the page's row shows it.

    .venv/bin/python benchmarks/bench_dashboard.py [--jobs 100000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import tempfile
import time

import httpx

from gateway_load import percentile, start_serve, stop_serve
from qlambda.store import Store, schema

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
SLEEPER = b"import time\n\ndef sleeper(seconds):\n    time.sleep(seconds)\n    return seconds\n"
STATUSES = ["DONE"] * 80 + ["ERROR"] * 8 + ["CANCELED"] * 6 + ["DROPPED"] * 6
FUNCTIONS = ["qaoa_maxcut", "vqe_h2", "sample_ghz", "zne_batch", "cutting"]
OWNERS = ["alice", "bob", "carol", "dave", "erin"]
EVENTS_PER_JOB = 3  # submitted, started, ended


def fill(directory: str, count: int) -> str:
    """``count`` ended jobs over the last week, in a few large transactions; returns the
    token of the admin ``root``."""
    store = Store.open(directory)
    try:
        for index, name in enumerate(FUNCTIONS):
            store.put_function(
                {"id": f"{index:032x}", "name": name, "kind": "pickle", "payload": b"x",
                 "cpus": 1, "created_at": 1.0}
            ).result()  # fmt: skip
        rng = random.Random(1)
        now = time.time() - 3600
        batch = []
        with store.engine.begin() as conn:
            for n in range(count):
                created = now - 7 * 86400 * (1 - n / count)
                batch.append(
                    {
                        "id": f"{int(created * 1000):011x}{n:06x}",
                        "function_id": f"{0:032x}",
                        "function_name": rng.choice(FUNCTIONS),
                        "owner": rng.choice(OWNERS),
                        "priority": rng.choice([1.0, 2.0, 4.0]),
                        "status": rng.choice(STATUSES),
                        "arguments": b"\x80\x05}\x94.",
                        "attempts": 1,
                        "created_at": created,
                        "started_at": created + 1,
                        "ended_at": created + 30,
                    }
                )
                if len(batch) == 5000:
                    conn.execute(schema.jobs.insert(), batch)
                    batch = []
            if batch:
                conn.execute(schema.jobs.insert(), batch)
        return store.create_user("root", "admin")
    finally:
        store.close()


def login(http: httpx.Client, token: str) -> None:
    form = http.get("/ui/login").text
    secret = form.split('name="login_csrf" value="')[1].split('"')[0]
    answer = http.post("/ui/login", data={"token": token, "login_csrf": secret})
    assert answer.status_code == 303, answer.text


def timed(http: httpx.Client, path: str, repeats: int) -> list[float]:
    http.get(path)  # warm
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        answer = http.get(path)
        times.append(time.perf_counter() - began)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return times


def page_times(url: str, token: str, repeats: int, count: int) -> list[tuple[str, list[float]]]:
    store_rows: list[tuple[str, list[float]]] = []
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    ui = httpx.Client(base_url=url, timeout=60)
    login(ui, token)
    deep = min(50_000, count // 2)
    page = ui.get(f"/ui/jobs?limit=50&before={_cursor_at(url, token, deep)}")
    assert page.status_code == 200 and page.text.count("<tr data-id=") == 50
    some_id = api.get("/jobs", params={"limit": 1, "offset": 12345 % count}).json()[0]["id"]
    cases = [
        ("API GET /jobs, first 50 (baseline)", api, "/jobs?limit=50"),
        (f"API GET /jobs, offset {deep:,} (baseline)", api, f"/jobs?limit=50&offset={deep}"),
        ("/ui/jobs, first page", ui, "/ui/jobs"),
        (f"/ui/jobs, {deep:,} deep (cursor)", ui,
         f"/ui/jobs?before={_cursor_at(url, token, deep)}"),
        ("/ui/jobs?status=ERROR", ui, "/ui/jobs?status=ERROR"),
        ("/ui/jobs?status=RUNNING (none)", ui, "/ui/jobs?status=RUNNING"),
        ("/ui/jobs?user=carol&status=DONE", ui, "/ui/jobs?user=carol&status=DONE"),
        ("/ui/jobs?function=vqe_h2", ui, "/ui/jobs?function=vqe_h2"),
        ("/ui/jobs?q=<id start>", ui, f"/ui/jobs?q={some_id[:13]}"),
        ("/ui/jobs?q=zne (function)", ui, "/ui/jobs?q=zne"),
        ("/ui/jobs?q=nothing (no match)", ui, "/ui/jobs?q=nothing"),
    ]  # fmt: skip
    for label, client, path in cases:
        store_rows.append((label, timed(client, path, repeats)))
        print(f"  measured {label}", flush=True)
    api.close()
    ui.close()
    return store_rows


def _cursor_at(url: str, token: str, offset: int) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        row = api.get("/jobs", params={"limit": 1, "offset": offset - 1}).json()[0]
    return f"{row['created_at']!r}~{row['id']}"


def update_lag(url: str, token: str, seconds: float, events_per_minute: int) -> dict:
    """Submit jobs at the rate giving ``events_per_minute`` while Chromium shows the jobs
    page; the lag of each job's row appearing, turning RUNNING, turning DONE."""
    from playwright.sync_api import sync_playwright

    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    content = base64.b64encode(SLEEPER).decode()
    api.post("/functions", json={"name": "sleeper", "kind": "source", "content": content,
                                 "entrypoint": "sleeper.py:sleeper"})  # fmt: skip
    gap = 60.0 / (events_per_minute / EVENTS_PER_JOB)
    submitted: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=url, bypass_csp=True)
        tab = context.new_page()
        tab.goto("/ui/login")
        tab.fill("#token", token)
        tab.press("#token", "Enter")
        tab.wait_for_url("**/ui/jobs")
        tab.goto("/ui/jobs?limit=200&user=root")
        tab.wait_for_selector("body[data-live='on']")
        tab.evaluate(
            """() => {
              window.seen = {};
              const body = document.getElementById('job-rows');
              const look = () => {
                const now = Date.now() / 1000;
                for (const row of body.rows) {
                  const status = row.querySelector('.status').textContent;
                  const key = row.dataset.id + ' ' + status;
                  if (!(key in window.seen)) window.seen[key] = now;
                  const appeared = row.dataset.id + ' shown';
                  if (!(appeared in window.seen)) window.seen[appeared] = now;
                }
              };
              new MutationObserver(look).observe(body, {subtree: true, childList: true,
                                                        characterData: true});
            }"""
        )
        began = time.monotonic()
        next_at = began
        while time.monotonic() - began < seconds:
            answer = api.post("/jobs", json={"function": "sleeper", "arguments": {"seconds": 0.05}})
            assert answer.status_code == 201, answer.text
            submitted.append(answer.json()["id"])
            next_at += gap
            time.sleep(max(0.0, next_at - time.monotonic()))
        for job_id in submitted:
            api.get(f"/jobs/{job_id}", params={"wait": 60})
        time.sleep(2)
        seen = tab.evaluate("() => window.seen")
        browser.close()
    lags: dict[str, list[float]] = {"row appears": [], "RUNNING shown": [], "DONE shown": []}
    missing = 0
    for job_id in submitted:
        job = api.get(f"/jobs/{job_id}").json()
        for label, key, at in (
            ("row appears", "shown", job["created_at"]),
            ("RUNNING shown", "RUNNING", job["started_at"]),
            ("DONE shown", "DONE", job["ended_at"]),
        ):
            shown = seen.get(f"{job_id} {key}")
            if shown is None:
                if key != "RUNNING":  # a short job may be DONE by the time its news is sent
                    missing += 1
                continue
            lags[label].append(max(0.0, shown - at))
    api.close()
    return {"jobs": len(submitted), "lags": lags, "missing": missing, "gap": gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--events-per-minute", type=int, default=1000)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="qlambda-bench-dashboard-")
    print(f"storing {args.jobs:,} jobs ...", flush=True)
    began = time.perf_counter()
    token = fill(directory, args.jobs)
    print(f"  stored in {time.perf_counter() - began:.1f} s", flush=True)
    process, url = start_serve(directory, ["--workers", "2", "--sandbox", "none"])
    try:
        rows = page_times(url, token, args.repeats, args.jobs)
        print(f"update lag: {args.events_per_minute} job events a minute for "
              f"{args.seconds:.0f} s ...", flush=True)  # fmt: skip
        lag = update_lag(url, token, args.seconds, args.events_per_minute)
    finally:
        stop_serve(process, directory)
    print()
    print(f"Server time of a page, {args.jobs:,} jobs stored ({args.repeats} requests each)")
    print(f"{'page':<44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print("-" * 71)
    for label, times in rows:
        ms = [t * 1000 for t in times]
        print(f"{label:<44} {statistics.median(ms):8.1f} {percentile(ms, 0.95):8.1f} "
              f"{max(ms):8.1f}")  # fmt: skip
    print()
    rate = 60.0 / lag["gap"] * EVENTS_PER_JOB
    print(f"Update lag of the jobs page, {lag['jobs']} jobs at {rate:.0f} events/minute")
    print(f"{'what':<20} {'shown':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print("-" * 54)
    for label, values in lag["lags"].items():
        if not values:
            print(f"{label:<20} {0:>6}")
            continue
        ms = [v * 1000 for v in values]
        print(f"{label:<20} {len(ms):>6} {statistics.median(ms):8.1f} "
              f"{percentile(ms, 0.95):8.1f} {max(ms):8.1f}")  # fmt: skip
    print(f"rows or DONE never shown: {lag['missing']}")
    print("(RUNNING is not shown for a job already DONE when its start is sent)")


if __name__ == "__main__":
    main()
