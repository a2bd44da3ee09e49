"""QML data-parallel training: seconds per gradient step and speed-up by workers
(Pilot-Quantum's QML efficiency curve at this machine's scale), on qlambda against
bare training on a process pool measured in the same run, and test accuracy against
a logistic regression on the same features.

Each row trains the digits classifier (qlambda.apps.qml_classifier) for --steps Adam
steps with the training set in W shards: ``qlambda`` on an embedded platform of W
workers and an Aer backend of W slots (each step W jobs, each one estimator request of
2P + 1 PUBs), ``bare`` with the same shards on a ProcessPoolExecutor of W processes
running Aer's own estimator. With --ray a third column trains on a platform whose
engine is a private local Ray of W cpus.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_qml_classifier.py
     [--workers 1 2] [--steps 20] [--features 4] [--layers 2] [--ray]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import qlambda
from qlambda.apps import qml_classifier as app


def on_platform(task: Any, workers: int, args: argparse.Namespace, engine: str) -> Any:
    backends = [{"name": "aer", "kind": "aer", "concurrency": workers}]
    with (
        tempfile.TemporaryDirectory() as folder,
        qlambda.Client(
            data_dir=folder, workers=workers, backends=backends, engine=engine
        ) as client,
    ):
        client.wait_ready(300)
        weights = app.initial_weights(task.features, args.layers, 0).tolist()
        warm = [  # every worker imports the app, the simulator keeps the circuit
            client.run(app.shard_gradient, x=x.tolist(), y=y.tolist(), weights=weights)
            for x, y in task.shards(workers)
        ]
        for job in warm:
            job.result(300)
        return app.train(
            client, task, workers, layers=args.layers, steps=args.steps, workers=workers
        )


def bare(task: Any, workers: int, args: argparse.Namespace) -> Any:
    with ProcessPoolExecutor(workers) as pool:
        weights = app.initial_weights(task.features, args.layers, 0)
        shards = task.shards(workers)
        for f in [
            pool.submit(app.bare_gradient, x, y, weights, 0.0, args.layers) for x, y in shards
        ]:
            f.result()
        return app.train_bare(task, workers, pool, layers=args.layers, steps=args.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also train on a Ray platform")
    args = parser.parse_args()
    task = app.load_digits_task(features=args.features)
    print(
        f"\ndigits {task.classes[0]} vs {task.classes[1]}: {len(task.y_train)} training, "
        f"{len(task.y_test)} test samples, {args.features} qubits, {args.layers} layers,\n"
        f"{args.steps} steps; logistic regression: {app.classical_baseline(task):.1%} test "
        f"accuracy; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
    )
    columns = ["qlambda", "bare"] + (["qlambda ray"] if args.ray else [])
    print("s/step (speed-up over the first row) per column; test accuracy")
    print(f"{'W':>3} " + " ".join(f"{c:>17}" for c in columns) + f" {'test acc':>9}")
    first: dict[str, float] = {}
    for workers in args.workers:
        results = {
            "qlambda": on_platform(task, workers, args, "local"),
            "bare": bare(task, workers, args),
        }
        if args.ray:
            results["qlambda ray"] = on_platform(task, workers, args, "ray")
        accuracies = {round(r.test_accuracy, 9) for r in results.values()}
        assert len(accuracies) == 1, f"the runs disagree: {accuracies}"  # exact values
        cells = []
        for name in columns:
            seconds = results[name].seconds_per_step
            first.setdefault(name, seconds)
            cells.append(f"{seconds:7.3f} ({first[name] / seconds:4.2f}x)")
        accuracy = results["qlambda"].test_accuracy
        print(
            f"{workers:>3} " + " ".join(f"{c:>17}" for c in cells) + f" {accuracy:>9.1%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
