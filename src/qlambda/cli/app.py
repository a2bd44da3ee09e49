"""``qlambda app NAME``: the mini-apps, run as jobs with progress, a table and a figure."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from qlambda.cli.common import (
    data_dir_option,
    figure_option,
    remote_client,
    server_options,
    service_call,
)


@click.group(name="app")
def command() -> None:
    """Mini-apps run as platform jobs (embedded, on a server with --url)."""


def _sizes(text: str, hint: str = "--subcircuit-qubits", minimum: int = 2) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < minimum:
        raise click.BadParameter(
            f"{text!r}: accepted: comma-separated integers >= {minimum}, e.g. 4,6",
            param_hint=hint,
        )
    return sizes


@command.command(name="cut")
@click.option("--qubits", default=12, show_default=True, help="Width of the full circuit.")
@click.option(
    "--subcircuit-qubits",
    default="4,6",
    show_default=True,
    help="Subcircuit sizes to cut into, comma-separated: one job each.",
)
@click.option("--reps", default=2, show_default=True, help="EfficientSU2 repetitions.")
@click.option("--shots", default=4096, show_default=True, help="Shots per subexperiment.")
@click.option("--batch", default=8, show_default=True, help="Subexperiments per task.")
@click.option(
    "--qpus",
    default=2,
    show_default=True,
    help="Embedded platform: Aer backends, each as wide as the largest subcircuit.",
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None, help="Engine.")
@click.option(
    "--backends",
    default="auto",
    show_default=True,
    help="Backends to deal tasks over (names, comma-separated; auto: the platform's choice).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the circuit's angles.")
@figure_option("circuit_cutting.png")
@server_options
@data_dir_option
def cut(
    qubits: int,
    subcircuit_qubits: str,
    reps: int,
    shots: int,
    batch: int,
    qpus: int,
    engine: str | None,
    backends: str,
    seed: int,
    figure: Path,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
) -> None:
    """Cut an EfficientSU2 circuit, run its subexperiments as quantum tasks, compare
    the reconstructed <mean Z> and the wall time with a full simulation."""
    from rich.console import Console

    from qlambda.apps import circuit_cutting

    sizes = _sizes(subcircuit_qubits)
    if qubits < 3 or max(sizes) >= qubits:
        raise click.BadParameter(
            f"subcircuits must be narrower than the circuit's {qubits} qubits, got {sizes}",
            param_hint="--subcircuit-qubits",
        )
    for name, value in (("shots", shots), ("batch", batch), ("qpus", qpus), ("reps", reps)):
        if value < 1:
            raise click.BadParameter(f"must be a positive integer, got {value}", param_hint=name)
    names = [name.strip() for name in backends.split(",") if name.strip()] or ["auto"]
    console = Console()
    if url:
        client = remote_client(url, token)
    else:
        import qlambda

        names = names if backends != "auto" else [f"qpu-{i + 1}" for i in range(qpus)]
        configs = [
            {"name": f"qpu-{i + 1}", "kind": "aer", "num_qubits": max(sizes)} for i in range(qpus)
        ]
        data_dir = data_dir or Path(".qlambda") / time.strftime("cut-%Y%m%d-%H%M%S")
        with console.status("starting the embedded platform"):
            client = qlambda.Client(data_dir=data_dir, backends=configs, engine=engine)
            client.wait_ready()
    console.print(
        f"[bold]circuit cutting[/]: EfficientSU2 of {qubits} qubits (reps={reps}) into "
        f"subcircuits of {', '.join(map(str, sizes))} qubits over {', '.join(names)}"
    )
    try:
        rows = [
            _run_one(
                console, client, circuit_cutting.run, size, qubits, reps, shots, batch, names, seed
            )
            for size in sizes
        ]
    finally:
        client.close()
    console.print(_table(rows))
    _figure(rows, figure)
    console.print(f"figure: {figure}")


def _run_one(
    console: Any,
    client: Any,
    function: Any,
    size: int,
    qubits: int,
    reps: int,
    shots: int,
    batch: int,
    names: list[str],
    seed: int,
) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    job = service_call(
        lambda: client.run(
            function,
            qubits=qubits,
            subcircuit_qubits=size,
            reps=reps,
            shots=shots,
            batch=batch,
            backends=names,
            seed=seed,
        )
    )
    columns = (
        TextColumn(f"{size:>3}-qubit subcircuits"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=None)
        while not job.wait(0.5):
            status = job.sub_status() or ""
            if status.startswith("subexperiments "):
                done, _, total = status.split()[1].partition("/")
                progress.update(task, completed=int(done), total=int(total))
        if job.status().value == "DONE":
            done = progress.tasks[0].total or 1
            progress.update(task, completed=done, total=done)
    from qlambda.core.errors import JobError

    try:
        result: dict[str, Any] = job.result(1)
    except JobError as exc:
        raise click.ClickException(f"job {job.id} {exc.status}: {exc.reason}") from None
    return result


def _table(rows: list[dict[str, Any]]) -> Any:
    from rich import box
    from rich.table import Table

    exact = rows[0]["exact"]
    caption = "exact: none (too wide)" if exact is None else f"exact <mean Z> = {exact:.4f}"
    table = Table(
        title="Circuit cutting against a full simulation", caption=caption, box=box.SIMPLE_HEAD
    )
    for name in ("sub q", "cuts", "subexp", "tasks", "value", "σ", "error", "cut s"):
        table.add_column(name, justify="right")
    table.add_column("full s", justify="right")
    for row in rows:
        error = "-" if row["error"] is None else f"{row['error']:+.4f}"
        full = "-" if row["full_seconds"] is None else f"{row['full_seconds']:.2f}"
        table.add_row(
            str(row["subcircuit_qubits"]),
            str(row["cuts"]),
            str(row["subexperiments"]),
            str(row["tasks"]),
            f"{row['value']:.4f}",
            f"{row['sigma']:.3f}",
            error,
            f"{row['cut_seconds']:.1f}",
            full,
        )
    return table


def _figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['subcircuit_qubits']}q\n{r['subexperiments']} sub" for r in rows]
    times = [r["cut_seconds"] for r in rows]
    full = [r["full_seconds"] for r in rows if r["full_seconds"] is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar(labels + (["full sim"] if full else []), times + full[:1], color="tab:blue")
    left.set_ylabel("wall time (s)")
    left.set_yscale("log")
    left.set_title(f"{rows[0]['num_qubits']}-qubit EfficientSU2")
    errors = [abs(r["error"]) if r["error"] is not None else 0.0 for r in rows]
    right.bar(labels, errors, yerr=[r["sigma"] for r in rows], color="tab:orange", capsize=4)
    right.set_ylabel("|reconstructed - exact| (bar: σ bound)")
    right.set_title("error of <mean Z>")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@command.command(name="ensemble")
@click.option(
    "--circuits",
    default="16,64",
    show_default=True,
    help="Ensemble sizes (task counts), comma-separated: one run each.",
)
@click.option("--qubits", default=8, show_default=True, help="Width of every circuit.")
@click.option("--reps", default=1, show_default=True, help="EfficientSU2 repetitions.")
@click.option("--shots", default=1024, show_default=True, help="Shots per circuit.")
@click.option("--workers", default=2, show_default=True, help="The pilot's cores (W).")
@click.option("--qpus", default=2, show_default=True, help="The pilot's Aer backends (Q).")
@click.option(
    "--mode",
    type=click.Choice(["backends", "workers"]),
    default="backends",
    show_default=True,
    help="backends: a sampler task per circuit over the Q backends; workers: a classical "
    "task per circuit simulated on one of the W workers.",
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also time the same simulations on a bare ProcessPoolExecutor of W processes.",
)
@figure_option("circuit_execution.png")
def ensemble(
    circuits: str,
    qubits: int,
    reps: int,
    shots: int,
    workers: int,
    qpus: int,
    mode: str,
    engine: str,
    baseline: bool,
    figure: Path,
) -> None:
    """Run ensembles of mirror circuits on a pilot; throughput by task count."""
    from concurrent.futures import ProcessPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from qlambda.apps import circuit_execution as app
    from qlambda.pilot import PilotDescription, PilotManager

    sizes = _sizes(circuits, "--circuits", minimum=1)
    for name, value in (("--workers", workers), ("--qpus", qpus), ("--shots", shots)):
        if value < 1:
            raise click.BadParameter(f"must be a positive integer, got {value}", param_hint=name)
    if qubits < 2:
        raise click.BadParameter(f"must be 2 or more, got {qubits}", param_hint="--qubits")
    console = Console()
    qpu_configs = [
        {"name": f"qpu-{i + 1}", "kind": "aer", "num_qubits": qubits} for i in range(qpus)
    ]
    names = [f"qpu-{i + 1}" for i in range(qpus)]
    rows: list[dict[str, Any]] = []
    manager = PilotManager()
    with console.status(f"starting a {engine} pilot: {workers} workers, {qpus} backends"):
        pilot = manager.create_pilot(
            PilotDescription(engine=engine, cores=workers, qpus=qpu_configs)
        )
        pilot.engine.wait_ready(180)
    pool = ProcessPoolExecutor(workers) if baseline else None
    try:
        if pool is not None:
            app.run_bare(workers, qubits, workers, reps=reps, shots=shots, pool=pool)  # warm
        columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn())
        with Progress(*columns, console=console) as progress:
            for size in sizes:
                bar = progress.add_task(f"{size:>6} circuits", total=size)

                def advance(done: int, total: int, bar: Any = bar) -> None:
                    progress.update(bar, completed=done)

                if mode == "backends":
                    summary, _ = app.run_on_backends(
                        pilot, size, qubits, names, reps=reps, shots=shots, on_progress=advance
                    )
                else:
                    summary, _ = app.run_on_workers(
                        pilot, size, qubits, reps=reps, shots=shots, on_progress=advance
                    )
                row = summary.to_dict()
                if pool is not None:
                    bare, _ = app.run_bare(size, qubits, workers, reps=reps, shots=shots, pool=pool)
                    row["bare_seconds"], row["bare_throughput"] = bare.seconds, bare.throughput
                rows.append(row)
    finally:
        if pool is not None:
            pool.shutdown()
        manager.cancel()
    console.print(_ensemble_table(rows, mode, engine, workers, qpus))
    _ensemble_figure(rows, figure, mode)
    console.print(f"figure: {figure}")
    wrong = [row for row in rows if row["correct"] != row["circuits"]]
    if wrong:
        raise click.ClickException(
            f"{sum(r['circuits'] - r['correct'] for r in wrong)} results were not their circuit's"
        )


def _ensemble_table(
    rows: list[dict[str, Any]], mode: str, engine: str, workers: int, qpus: int
) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"Ensembles on a {engine} pilot ({mode}: W={workers}, Q={qpus})",
        box=box.SIMPLE_HEAD,
    )
    for name in ("tasks", "seconds", "tasks/s", "correct", "bare s", "bare tasks/s"):
        table.add_column(name, justify="right")
    for row in rows:
        bare = "bare_seconds" in row
        table.add_row(
            str(row["circuits"]),
            f"{row['seconds']:.2f}",
            f"{row['throughput']:.1f}",
            f"{row['correct']}/{row['circuits']}",
            f"{row['bare_seconds']:.2f}" if bare else "-",
            f"{row['bare_throughput']:.1f}" if bare else "-",
        )
    return table


def _ensemble_figure(rows: list[dict[str, Any]], path: Path, mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [r["circuits"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(tasks, [r["throughput"] for r in rows], "o-", label=f"qlambda pilot ({mode})")
    if all("bare_throughput" in r for r in rows):
        ax.plot(tasks, [r["bare_throughput"] for r in rows], "s--", label="bare processes")
    ax.set_xscale("log")
    ax.set_xlabel("tasks (circuits)")
    ax.set_ylabel("circuits per second")
    ax.set_title(f"{rows[0]['qubits']}-qubit mirror circuits, {rows[0]['shots']} shots")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@command.command(name="qml")
@click.option("--classes", default="3,5", show_default=True, help="The two digits to tell apart.")
@click.option("--features", default=4, show_default=True, help="PCA features = qubits.")
@click.option("--layers", default=2, show_default=True, help="Re-uploading layers.")
@click.option("--steps", default=20, show_default=True, help="Adam steps (gradient evaluations).")
@click.option("--rate", default=0.1, show_default=True, help="Adam's learning rate.")
@click.option(
    "--train-samples",
    type=int,
    default=None,
    help="Keep this many training samples (default: all, about 255 for two digits).",
)
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    help="Worker counts, comma-separated: one training each, on a platform of W workers "
    "and W simulator slots, the training set in W shards (with --url: shard counts).",
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also train bare: the same shards on a ProcessPoolExecutor of W, on Aer.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the split and weights.")
@figure_option("qml_classifier.png")
@server_options
@data_dir_option
def qml(
    classes: str,
    features: int,
    layers: int,
    steps: int,
    rate: float,
    train_samples: int | None,
    workers: str,
    engine: str,
    baseline: bool,
    seed: int,
    figure: Path,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
) -> None:
    """Train a variational classifier of scikit-learn's digits, data-parallel: each
    step one job per shard, each job one estimator request; accuracy against a
    logistic regression and the speed-up with workers."""
    from rich.console import Console

    from qlambda.apps import qml_classifier as app

    counts = _sizes(workers, "--workers", minimum=1)
    for name, value in (("--steps", steps), ("--layers", layers)):
        if value < 1:
            raise click.BadParameter(f"must be a positive integer, got {value}", param_hint=name)
    if not rate > 0:
        raise click.BadParameter(f"must be positive, got {rate}", param_hint="--rate")
    try:
        pair = [int(part) for part in classes.split(",")]
        task = app.load_digits_task(pair, features, train_samples=train_samples, seed=seed)
        task.shards(max(counts))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    console = Console()
    baseline_accuracy = app.classical_baseline(task)
    console.print(
        f"[bold]QML[/]: digits {task.classes[0]} vs {task.classes[1]}, {features} PCA "
        f"features on {features} qubits, {layers} layers "
        f"({app.number_of_weights(features, layers)} weights), "
        f"{len(task.y_train)} training and {len(task.y_test)} test samples; "
        f"logistic regression: {baseline_accuracy:.1%} test accuracy"
    )
    rows = []
    for count in counts:
        row = _train_on_platform(
            console, app, task, count, layers, steps, rate, seed, engine, url, token, data_dir
        ).to_dict()
        if baseline:
            row["bare"] = _train_bare(console, app, task, count, layers, steps, rate, seed)
        rows.append(row)
    console.print(_qml_table(rows, engine if not url else "server", baseline_accuracy, task))
    _qml_figure(rows, figure)
    console.print(f"figure: {figure}")


def _step_progress(console: Any, label: str, steps: int) -> tuple[Any, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn(f"{label:<24}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
    )
    bar = progress.add_task("", total=steps, loss="-")

    def on_step(done: int, total: int, loss: float) -> None:
        progress.update(bar, completed=done, loss=f"{loss:.3f}")

    return progress, on_step


def _train_on_platform(
    console: Any,
    app: Any,
    task: Any,
    count: int,
    layers: int,
    steps: int,
    rate: float,
    seed: int,
    engine: str,
    url: str | None,
    token: str | None,
    data_dir: Path | None,
) -> Any:
    from qlambda.core.errors import JobError

    if url:
        client = remote_client(url, token)
    else:
        import qlambda

        folder = (data_dir or Path(".qlambda") / time.strftime("qml-%Y%m%d-%H%M%S")) / f"w{count}"
        backends = [{"name": "aer", "kind": "aer", "concurrency": count}]
        with console.status(f"starting a {engine} platform: {count} workers, {count} slots"):
            client = qlambda.Client(
                data_dir=folder, workers=count, backends=backends, engine=engine
            )
            client.wait_ready(300)
    try:
        # warm: every worker has imported the app and the simulator has the circuit
        weights = app.initial_weights(task.features, layers, seed).tolist()
        warm = [
            client.run(
                app.shard_gradient, x=x.tolist(), y=y.tolist(), weights=weights, layers=layers
            )
            for x, y in task.shards(count)
        ]
        for job in warm:
            job.result(300)
        progress, on_step = _step_progress(console, f"qlambda, W={count}", steps)
        with progress:
            return service_call(
                lambda: app.train(
                    client,
                    task,
                    count,
                    layers=layers,
                    steps=steps,
                    rate=rate,
                    seed=seed,
                    workers=count,
                    where=engine if not url else "server",
                    on_step=on_step,
                )
            )
    except JobError as exc:
        raise click.ClickException(f"a training job {exc.status}: {exc.reason}") from None
    finally:
        client.close()


def _train_bare(
    console: Any, app: Any, task: Any, count: int, layers: int, steps: int, rate: float, seed: int
) -> dict[str, Any]:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(count) as pool:
        weights = app.initial_weights(task.features, layers, seed)
        for future in [  # warm: imports and Aer in every process
            pool.submit(app.bare_gradient, x, y, weights, 0.0, layers)
            for x, y in task.shards(count)
        ]:
            future.result()
        progress, on_step = _step_progress(console, f"bare, W={count}", steps)
        with progress:
            result = app.train_bare(
                task,
                count,
                pool,
                layers=layers,
                steps=steps,
                rate=rate,
                seed=seed,
                on_step=on_step,
            )
    return {"seconds_per_step": result.seconds_per_step, "test_accuracy": result.test_accuracy}


def _qml_table(rows: list[dict[str, Any]], where: str, baseline_accuracy: float, task: Any) -> Any:
    from rich import box
    from rich.table import Table

    chance = max(float((task.y_test > 0).mean()), float((task.y_test < 0).mean()))
    table = Table(
        title=f"Data-parallel training on {where}: speed-up over W={rows[0]['shards']}",
        caption=f"test accuracy: logistic regression {baseline_accuracy:.1%}, "
        f"majority class {chance:.1%}",
        box=box.SIMPLE_HEAD,
    )
    names = ("W", "s/step", "speed-up", "effic.", "bare s/step", "bare ×", "loss", "train", "test")
    for name in names:
        table.add_column(name, justify="right")
    first = rows[0]
    first_bare = first.get("bare")
    for row in rows:
        speedup = first["seconds_per_step"] / row["seconds_per_step"]
        bare = row.get("bare")
        bare_speedup = (
            first_bare["seconds_per_step"] / bare["seconds_per_step"]
            if bare and first_bare
            else None
        )
        table.add_row(
            str(row["shards"]),
            f"{row['seconds_per_step']:.2f}",
            f"{speedup:.2f}x",
            f"{speedup * first['shards'] / row['shards']:.0%}",
            f"{bare['seconds_per_step']:.2f}" if bare else "-",
            f"{bare_speedup:.2f}x" if bare_speedup else "-",
            f"{row['losses'][-1]:.3f}",
            f"{row['train_accuracy']:.1%}",
            f"{row['test_accuracy']:.1%}",
        )
    return table


def _qml_figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for row in rows:
        left.plot(range(1, len(row["losses"]) + 1), row["losses"], label=f"W={row['shards']}")
    left.set_xlabel("step")
    left.set_ylabel("training loss (MSE)")
    left.set_title(f"{rows[0]['features']} qubits, {rows[0]['layers']} layers")
    left.legend()
    counts = [row["shards"] for row in rows]
    base = rows[0]["seconds_per_step"]
    right.plot(counts, [c / counts[0] for c in counts], "k:", label="ideal")
    right.plot(counts, [base / r["seconds_per_step"] for r in rows], "o-", label="qlambda")
    if all("bare" in r for r in rows):
        bare = rows[0]["bare"]["seconds_per_step"]
        right.plot(
            counts, [bare / r["bare"]["seconds_per_step"] for r in rows], "s--", label="bare"
        )
    from matplotlib.ticker import MaxNLocator

    for axis in (left.xaxis, right.xaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("workers W (W shards)")
    right.set_ylabel(f"speed-up over {counts[0]} worker(s)")
    right.set_title("gradient steps per second")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@command.command(name="vqe-workload")
@click.option(
    "--sizes",
    default="4-12",
    show_default=True,
    help="Graph sizes (qubits): even numbers, comma-separated or a range (4-24: the "
    "published sizes).",
)
@click.option("--runs", default=3, show_default=True, help="Jobs per size (published: 20).")
@click.option("--maxiter", default=1500, show_default=True, help="COBYLA's cap (published: 1500).")
@click.option("--shots", default=10_000, show_default=True, help="Shots of the final sampling.")
@click.option("--workers", default=1, show_default=True, help="The platform's workers.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the first run's graph.")
@click.option(
    "--traces",
    "traces_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to export the traces (default: DATA_DIR/traces).",
)
@click.option(
    "--published",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Traces to compare with (default: the published ones shipped with qlambda).",
)
@figure_option("vqe_workload.png")
@data_dir_option
def vqe_workload(
    sizes: str,
    runs: int,
    maxiter: int,
    shots: int,
    workers: int,
    engine: str,
    seed: int,
    traces_dir: Path | None,
    published: Path | None,
    figure: Path,
    data_dir: Path | None,
) -> None:
    """Run the VQE MaxCut workload of the published traces (EfficientSU2, COBYLA, one
    job after another), export its traces and compare them with the published ones."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import qlambda
    from qlambda.apps import vqe_workload as app

    try:
        chosen = app.parse_sizes(sizes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from None
    for name, value in (("--runs", runs), ("--maxiter", maxiter), ("--shots", shots)):
        if value < 1:
            raise click.BadParameter(f"must be a positive integer, got {value}", param_hint=name)
    if workers < 1:
        raise click.BadParameter(
            f"must be a positive integer, got {workers}", param_hint="--workers"
        )
    missing = sorted(set(chosen) - set(app.published_sizes(published)))
    if missing:
        raise click.BadParameter(
            f"the traces to compare with have no samples for {missing} qubits; accepted: "
            f"{', '.join(map(str, app.published_sizes(published)))}",
            param_hint="--sizes",
        )
    console = Console()
    data_dir = data_dir or Path(".qlambda") / time.strftime("vqe-%Y%m%d-%H%M%S")
    traces_dir = traces_dir or data_dir / "traces"
    console.print(
        f"[bold]VQE workload[/]: {runs} jobs per size for n_qubits {', '.join(map(str, chosen))}, "
        f"EfficientSU2 (reps=1), COBYLA maxiter {maxiter}, a final {shots}-shot sampling; "
        f"one job after another on {workers} worker(s), engine {engine}"
    )
    with console.status("starting the embedded platform"):
        client = qlambda.Client(
            data_dir=data_dir,
            workers=workers,
            backends=[{"name": "aer", "kind": "aer"}],
            engine=engine,
        )
        client.wait_ready(300)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[now]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("jobs", total=len(chosen) * runs, now="")

            def on_status(number: int, status: str) -> None:
                progress.update(bar, now=f"job {number}: {status[:40]}")

            def on_job(done: int, total: int, size: int, result: dict[str, Any]) -> None:
                progress.update(bar, completed=done)

            app.run_workload(
                client, chosen, runs, maxiter=maxiter, shots=shots, seed=seed,
                on_job=on_job, on_status=on_status,
            )  # fmt: skip
    except (RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
    _, sampling = app.export(data_dir, traces_dir)
    console.print(f"traces: {traces_dir} (replay: qlambda simulate replay --traces {traces_dir})")
    rows, compared = app.compare(traces_dir, published, sampling=sampling)
    click.echo(app.comparison_table(rows, compared))
    app.plot_comparison(traces_dir, compared, figure, published, sampling=sampling)
    console.print(f"figure: {figure}")
