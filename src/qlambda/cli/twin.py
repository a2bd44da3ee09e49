"""``qlambda twin``: is the simulator right? Run the platform, simulate it, compare."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from qlambda.cli.common import json_option


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas, got {text!r}") from None


def _limit(name: str, text: str) -> int | None:
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise click.BadParameter(f"{name} takes a positive integer or none, got {text!r}")
    return value


@click.command(name="twin")
@click.option(
    "--policy",
    "policies",
    default="fifo,weighted",
    show_default=True,
    help="QPU scheduling policies to run, comma-separated (fifo, lifo, random, weighted, "
    "priority).",
)
@click.option(
    "--load",
    "loads",
    default="0.5,0.8",
    show_default=True,
    help="Offered QPU loads to run, comma-separated (QPU seconds arriving per second / Q).",
)
@click.option(
    "--jobs", default=150, show_default=True, type=click.IntRange(min=10), help="Jobs per run."
)
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Workers (C)."
)
@click.option(
    "--qpus", default=2, show_default=True, type=click.IntRange(min=1), help="QPU slots (Q)."
)
@click.option("--c-max", default="none", show_default=True, help="Admission C_max, or none.")
@click.option("--q-max", default="4", show_default=True, help="Admission Q_max, or none.")
@click.option(
    "--time-scale",
    default=0.015,
    show_default=True,
    help="Fraction of a real device's time a QPU task takes (about 40 ms a task at 0.015).",
)
@click.option(
    "--reps",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Simulator seeds for policies that draw at random.",
)
@click.option("--seed", default=1, show_default=True, help="Seed of the job stream.")
@click.option(
    "--no-overhead",
    is_flag=True,
    help="Simulate without the calibrated platform overhead (recorded service times stay).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to keep the runs, traces, figure and comparison (default: ./.qlambda/twin-*).",
)
@json_option
def command(
    policies: str,
    loads: str,
    jobs: int,
    workers: int,
    qpus: int,
    c_max: str,
    q_max: str,
    time_scale: float,
    reps: int,
    seed: int,
    no_overhead: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Run the embedded platform under a Poisson stream of variational jobs (emulated QPU
    time), simulate the same jobs and configuration, and compare job times per priority
    and size (median, p95, Kolmogorov-Smirnov), drop probability and QPU utilisation."""
    from qlambda.core import ConfigurationError
    from qlambda.twin.session import run_twin

    names = [p.strip().lower() for p in policies.split(",") if p.strip()]
    values = _floats(loads)
    if not names or not values:
        raise click.BadParameter("give at least one policy and one load")
    out = out or Path(".qlambda") / time.strftime("twin-%Y%m%d-%H%M%S")
    try:
        result = run_twin(
            policies=names,
            loads=values,
            jobs=jobs,
            workers=workers,
            qpus=qpus,
            c_max=_limit("--c-max", c_max),
            q_max=_limit("--q-max", q_max),
            time_scale=time_scale,
            seed=seed,
            reps=reps,
            overhead=not no_overhead,
            out=out,
            echo=None if as_json else click.echo,
        )
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(result.data(), indent=2))
