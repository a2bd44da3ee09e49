"""``qlambda demo``: a stream of QAOA MaxCut jobs on the embedded platform.

Two simulated QPUs that take (a scaled fraction of) the time a real device would,
jobs of 4-12 qubits with priorities 1, 2 and 4 arriving as a Poisson stream: the
QPU queues fill up, the scheduling policy decides, and the tables at the end show
what that meant for each priority and size.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import click

SIZES = (4, 6, 8, 10, 12)
PRIORITIES = (1, 2, 4)


@click.command(name="demo")
@click.option("--jobs", "num_jobs", default=40, show_default=True, help="How many jobs.")
@click.option(
    "--interarrival", default=0.7, show_default=True, help="Mean seconds between submissions."
)
@click.option(
    "--policy",
    default="weighted",
    show_default=True,
    type=click.Choice(["fifo", "lifo", "random", "weighted", "priority"]),
    help="QPU scheduling policy.",
)
@click.option(
    "--time-scale",
    default=0.016,
    show_default=True,
    help="Fraction of a real device's estimated time each QPU task takes (0 = no emulation).",
)
@click.option("--maxiter", default=60, show_default=True, help="COBYLA iterations at most.")
@click.option("--seed", default=7, show_default=True, help="Seed of the workload and policy.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep this run (default: a new folder under ./.qlambda/).",
)
def command(
    num_jobs: int,
    interarrival: float,
    policy: str,
    time_scale: float,
    maxiter: int,
    seed: int,
    data_dir: Path | None,
) -> None:
    """Run QAOA MaxCut jobs of mixed sizes and priorities on two simulated QPUs."""
    from rich.console import Console

    import qlambda
    from qlambda.apps import qaoa_maxcut

    if num_jobs < 1 or interarrival < 0 or time_scale < 0 or maxiter < 1:
        raise click.BadParameter("jobs and maxiter must be positive; times not negative")
    console = Console()
    data_dir = data_dir or Path(".qlambda") / time.strftime("demo-%Y%m%d-%H%M%S")
    emulate = time_scale > 0
    backends = [
        {
            "name": name,
            "kind": "aer",
            "num_qubits": 16,
            "emulate_qpu_time": emulate,
            "time_scale": time_scale if emulate else 1.0,
            "seed": seed,
        }
        for name in ("qpu-a", "qpu-b")
    ]
    console.print(
        f"[bold]qlambda demo[/]: {num_jobs} QAOA MaxCut jobs, policy [cyan]{policy}[/], "
        f"2 simulated QPUs" + (f" taking {time_scale:g} x a real device's time" if emulate else "")
    )
    started = time.perf_counter()
    with console.status("starting the embedded platform (warm workers, QPU executors)"):
        client = qlambda.Client(data_dir=data_dir, backends=backends, policy=policy, seed=seed)
        client.wait_ready()
    console.print(f"platform ready in {time.perf_counter() - started:.1f} s; data in {data_dir}")
    try:
        submitted = _run_stream(
            console, client, qaoa_maxcut.run, num_jobs, interarrival, maxiter, seed
        )
        _report(console, client, submitted, data_dir)
    finally:
        client.close()


def _run_stream(
    console: Any,
    client: Any,
    function: Any,
    num_jobs: int,
    interarrival: float,
    maxiter: int,
    seed: int,
) -> list[dict[str, Any]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    rng = random.Random(seed)
    plan = [
        {
            "nodes": rng.choice(SIZES),
            "priority": rng.choice(PRIORITIES),
            "gap": rng.expovariate(1 / interarrival) if interarrival else 0.0,
            "seed": rng.randrange(2**31),
        }
        for _ in range(num_jobs)
    ]
    submitted: list[dict[str, Any]] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as progress:
        sent = progress.add_task("submitted", total=num_jobs, detail="")
        ended = progress.add_task("ended    ", total=num_jobs, detail="")
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            while plan and now >= next_at:
                item = plan.pop(0)
                job = client.run(
                    function,
                    priority=item["priority"],
                    nodes=item["nodes"],
                    maxiter=maxiter,
                    seed=item["seed"],
                )
                submitted.append({**item, "job": job})
                progress.advance(sent)
                if plan:
                    next_at += plan[0]["gap"]
            done = sum(1 for s in submitted if s["job"].done())
            progress.update(ended, completed=done, detail=_queues(client))
            if not plan and done == len(submitted):
                break
            time.sleep(0.1)
    return submitted


def _queues(client: Any) -> str:
    """Tasks waiting per QPU, short enough for an 80-column line."""
    return "waiting: " + ", ".join(f"{b['backend']} {b['pending']}" for b in client.backends())


def _report(console: Any, client: Any, submitted: list[dict[str, Any]], data_dir: Path) -> None:
    from rich.table import Table

    from qlambda.cli.common import invocation
    from qlambda.platform.traces import export_traces

    rows = []
    for item in submitted:
        info = item["job"].info()
        seconds = (info.ended_at - info.created_at) if info.ended_at else float("nan")
        rows.append({**item, "status": info.status.value, "seconds": seconds})
    for key, title in (("priority", "priority"), ("nodes", "qubits")):
        table = Table(f"job time by {title}", "jobs", "done", "mean s", "median s", "max s")
        for value in sorted({r[key] for r in rows}):
            group = [r for r in rows if r[key] == value]
            times = [r["seconds"] for r in group if r["status"] == "DONE"]
            table.add_row(
                str(value),
                str(len(group)),
                str(len(times)),
                *(
                    (
                        f"{statistics.mean(times):.2f}",
                        f"{statistics.median(times):.2f}",
                        f"{max(times):.2f}",
                    )
                    if times
                    else ("-", "-", "-")
                ),
            )
        console.print(table)
    qpu_table = Table("QPU", "tasks", "busy s", "utilization")
    for backend in client.backends():
        utilization = backend["utilization"]
        qpu_table.add_row(
            backend["backend"],
            str(backend["completed"]),
            f"{backend['busy_seconds']:.1f}",
            "-" if utilization is None else f"{100 * utilization:.1f} %",
        )
    console.print(qpu_table)
    failed = [r for r in rows if r["status"] != "DONE"]
    for row in failed:
        console.print(f"[red]job {row['job'].id} {row['status']}[/]: {row['job'].info().reason}")
    qlambda = invocation()
    console.print("\n[bold]next[/]: the jobs of this run, and what one of them printed:")
    console.print(f"  {qlambda} jobs --data-dir {data_dir}", soft_wrap=True)
    console.print(f"  {qlambda} logs {rows[0]['job'].id} --data-dir {data_dir}", soft_wrap=True)
    traces = data_dir / "traces"
    platform = client.platform
    qpus = sum(b.concurrency for b in platform.backends)
    try:
        written = export_traces(
            platform.store,
            traces,
            workers=platform.config.workers,
            qpus=qpus,
            policy=platform.config.policy,
            c_max=platform.config.c_max,
            q_max=platform.config.q_max,
        )
    except ValueError as exc:
        console.print(f"no trace written: {exc}")
        return
    if "platform" not in written:
        console.print(f"this run's trace, in the simulator's input format: {traces}")
        return
    console.print(
        f"this run's trace is in {traces}; replay it in the simulator under every policy, "
        f"with {qpus} to {qpus + 3} QPUs (a few seconds):"
    )
    console.print(
        f"  {qlambda} simulate replay --traces {traces} --set Q={qpus}..{qpus + 3}",
        soft_wrap=True,
    )
