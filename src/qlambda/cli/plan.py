"""``qlambda plan``: the cheapest platform configuration that meets service objectives."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES

if TYPE_CHECKING:
    from qlambda.sim.plan import PlanResult
    from qlambda.sim.scenario import Scenario


@click.command("plan")
@click.option(
    "--traces",
    type=click.Path(file_okay=False, path_type=Path),
    help="Recorded traces (qlambda traces export / qlambda demo; their platform.json gives "
    "the rate and priorities). Default: the published traces of [1], 4..10 qubits.",
)
@click.option("--rate", metavar="RATE", help="Poisson arrivals: 6/h, 150/d, or a mean gap: 10m.")
@click.option(
    "--arrivals",
    metavar="SPEC",
    help="Other arrivals: replay:FILE.csv (recorded times), profile:R1,...,R24 (jobs/h per "
    "hour of the day) or profile:FILE.csv.",
)
@click.option(
    "--slo",
    "slos",
    multiple=True,
    metavar="OBJECTIVE",
    help="A job-time objective, e.g. 'p95<2h', 'p99<=1d', 'mean<30m'; repeat for several.",
)
@click.option("--max-drop", metavar="FRACTION", help="Most jobs turned away: 1% or 0.01.")
@click.option(
    "--price",
    "prices",
    multiple=True,
    metavar="KEY=AMOUNT",
    help="worker-hour=, qpu-hour= (per QPU provisioned), qpu-second= (per QPU second used), "
    "shot= (with --shots-per-task); repeat for several.",
)
@click.option("--shots-per-task", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--confidence",
    default="95%",
    show_default=True,
    help="Each objective is met when its one-sided bound at this confidence is.",
)
@click.option("--C", "c_values", default="1..4", show_default=True, help="Workers to try.")
@click.option("--Q", "q_values", default="1..8", show_default=True, help="QPUs to try.")
@click.option(
    "--policy",
    "policies",
    default="fifo,random,priority",
    show_default=True,
    help=f"Policies to try (of {', '.join(POLICIES)}).",
)
@click.option("--c-max", default="40", show_default=True, help="C_max values (none: no limit).")
@click.option(
    "--q-max", default="10,20,none", show_default=True, help="Q_max values (none: no limit)."
)
@click.option("--min-reps", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--max-reps", type=click.IntRange(min=2), default=40, show_default=True)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Scenario parameters of the workload: duration, warmup, S, qubits, priorities, "
    "seed, target_means, synthetic, ... (see docs/simulation.md).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("plan"),
    show_default=True,
    help="Writes plan.csv (every configuration), pareto.png and server.toml here.",
)
@click.option("--top", type=click.IntRange(min=1), default=12, show_default=True)
@click.option(
    "--backend-kind",
    default="aer",
    show_default=True,
    help="Kind of the [[backend]] tables of server.toml (aer, fake, ...).",
)
@click.option("--device", help="device = ... of those backends (e.g. FakeTorino for fake).")
@click.option(
    "--offline-bound",
    is_flag=True,
    help="Also solve the clairvoyant schedule (the multiserver problem of [1], eqs. 1-3) of "
    "a short stretch of the workload on the winning C and Q, and show each policy's gap.",
)
@click.option(
    "--offline-jobs",
    type=click.IntRange(min=2, max=40),
    default=6,
    show_default=True,
    help="Jobs in that stretch (with at most --offline-iterations iterations each).",
)
@click.option("--offline-iterations", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def command(
    traces: Path | None,
    rate: str | None,
    arrivals: str | None,
    slos: tuple[str, ...],
    max_drop: str | None,
    prices: tuple[str, ...],
    shots_per_task: int,
    confidence: str,
    c_values: str,
    q_values: str,
    policies: str,
    c_max: str,
    q_max: str,
    min_reps: int,
    max_reps: int,
    assignments: tuple[str, ...],
    out: Path,
    top: int,
    backend_kind: str,
    device: str | None,
    offline_bound: bool,
    offline_jobs: int,
    offline_iterations: int,
    jobs: int | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Find the cheapest configuration (C, Q, policy, C_max, Q_max) that meets service
    objectives, by simulating every candidate on the same replications.

    \b
    qlambda plan --rate 6/h --slo "p95<2h" --max-drop 1% \\
        --price worker-hour=0.5 --price qpu-hour=96
    qlambda plan --traces DIR --arrivals replay:DIR --slo "p99<=10m" ...
    """
    from qlambda.sim.plan import (
        Prices,
        SearchSpace,
        parse_fraction,
        parse_slo,
        plan,
    )

    if rate is not None and arrivals is not None:
        raise click.UsageError("give --rate or --arrivals, not both")
    if min_reps > max_reps:
        raise click.UsageError(f"--min-reps {min_reps} is above --max-reps {max_reps}")
    try:
        objectives = [parse_slo(text) for text in slos]
        drop = parse_fraction(max_drop) if max_drop is not None else None
        level = parse_fraction(confidence, "--confidence")
        price_table = Prices.parse(prices, shots_per_task)
        space = SearchSpace(
            C=_integers(c_values, "--C"),
            Q=_integers(q_values, "--Q"),
            policies=tuple(p.strip().lower() for p in policies.split(",") if p.strip()),
            c_max=_limits(c_max, "--c-max"),
            q_max=_limits(q_max, "--q-max"),
        )
        base = _base_scenario(traces, rate, arrivals, assignments)
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    if not objectives and drop is None:
        raise click.UsageError("give an objective: --slo 'p95<2h' and/or --max-drop 1%")
    if not price_table.given:
        click.echo(
            "note: no --price given: every configuration costs 0 and the plan picks the\n"
            "one that meets the objectives with the fewest drops",
            err=True,
        )
    candidates = len(space.candidates())
    try:
        with _Progress(not (no_progress or as_json), candidates) as progress:
            result = plan(
                base,
                space,
                objectives,
                drop,
                price_table,
                confidence=level,
                min_reps=min_reps,
                max_reps=max_reps,
                jobs=jobs,
                progress=progress,
            )
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    written = _write(result, out, backend_kind, device)
    bound = None
    if offline_bound:
        bound = _offline(result, base, offline_jobs, offline_iterations)
    if as_json:
        click.echo(json.dumps(_as_json(result, written, bound), default=_json_default))
        return
    _print(result, top)
    if bound is not None:
        from qlambda.sim.offline import print_gaps

        print_gaps(bound)
    for path in written:
        click.echo(f"wrote {path}")


def _integers(text: str, hint: str) -> tuple[int, ...]:
    from qlambda.sim.scenario import parse_value

    try:
        values = parse_value("C", text)
    except ConfigurationError as error:
        raise ConfigurationError(f"{hint}: {error} (e.g. 1..4 or 1,2,6)") from None
    return tuple(int(v) for v in values)


def _limits(text: str, hint: str) -> tuple[int | None, ...]:
    values: list[int | None] = []
    for part in (p.strip() for p in text.split(",")):
        if part.lower() in ("none", "inf", "unlimited"):
            values.append(None)
        elif part:
            values.extend(_integers(part, hint))
    if not values:
        raise ConfigurationError(f"{hint}: no value given; e.g. 10,20,none")
    return tuple(values)


def _base_scenario(
    traces: Path | None, rate: str | None, arrivals: str | None, assignments: tuple[str, ...]
) -> Scenario:
    from qlambda.sim import preset
    from qlambda.sim.arrivals import RateProfile, RecordedArrivals, parse_gap
    from qlambda.sim.replay import REPLAY_ARRIVALS, Recording, replay_scenario
    from qlambda.sim.scenario import parse_value

    keys = {a.partition("=")[0].strip().lower() for a in assignments}
    forbidden = keys & {"c", "q", "policies", "policy", "c_max", "q_max", "cmax", "qmax"}
    if forbidden:
        raise ConfigurationError(
            f"--set {sorted(forbidden)[0]}=... is what the plan searches: use --C, --Q, "
            "--policy, --c-max, --q-max"
        )
    if traces is not None:
        placeholders = ["C=1", "Q=1"]  # replaced by every candidate's own
        if Recording.load(traces) is None and rate is None and arrivals is None:
            raise ConfigurationError(
                f"{traces} has no platform.json giving the arrival rate: give --rate "
                "(e.g. 6/h) or --arrivals"
            )
        if rate is not None:  # replay's duration follows this gap
            placeholders.append(f"interarrival={parse_gap(rate)!r}")
        elif arrivals is not None:  # its process sets the duration below
            placeholders.append("interarrival=600")
        base = replay_scenario(traces, (*placeholders, *assignments))
    else:
        if rate is None and arrivals is None:
            raise ConfigurationError(
                "how fast do jobs arrive? give --rate (e.g. 6/h), or --arrivals "
                "(replay:FILE.csv or profile:...)"
            )
        base = preset("small").override(assignments)
    changes: dict[str, Any] = {"name": "plan", "policies": ("fifo",), "C": 1, "Q": 1}
    process = parse_value("arrivals", arrivals) if arrivals is not None else None
    # Replications: 2 days, the first 12 hours a warm-up, for Poisson arrivals on the
    # published traces; a recording from an empty platform, once (a real week, from its
    # start) or repeated up to 2,000 arrivals; two whole days of a daily profile after
    # one day of warm-up. Recorded traces keep replay's 2,000 mean gaps.
    span, warmup = (2 * 86400.0, 12 * 3600.0) if traces is None else (None, None)
    if isinstance(process, RecordedArrivals):
        # at least one copy, and long enough for jobs to finish: replay's 2,000 mean gaps
        gaps = REPLAY_ARRIVALS * process.period / len(process.times)
        span, warmup = max(process.period, gaps), 0.0
    elif isinstance(process, RateProfile):
        span, warmup = 3 * process.period, process.period
    if "duration" not in keys and span is not None:
        changes["duration"] = span
    if "warmup" not in keys and warmup is not None:
        changes["warmup"] = warmup
    if rate is not None:
        changes["interarrival"] = parse_gap(rate)
    base = base.replace(**changes)
    if process is not None:
        base = base.replace(arrivals=process)
    return base


class _Progress:
    """A progress bar of replications on stderr (its total grows when unsure
    configurations get more replications)."""

    def __init__(self, enabled: bool, candidates: int) -> None:
        self.enabled, self.candidates = enabled, candidates
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn(f"[bold]simulating {self.candidates} configurations"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("replications"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task("", total=None)
        return self.advance

    def advance(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write(result: PlanResult, out: Path, kind: str, device: str | None) -> list[Path]:
    from qlambda.sim.plan import pareto_figure, serve_config

    out.mkdir(parents=True, exist_ok=True)
    written = []
    table = out / "plan.csv"
    result.table().to_csv(table, index=False)
    written.append(table)
    if result.objectives:
        written.append(pareto_figure(result, out / "pareto.png"))
    if result.best is not None:
        config = out / "server.toml"
        config.write_text(serve_config(result, kind, device))
        written.append(config)
    return written


def _offline(result: PlanResult, base: Scenario, jobs: int, iterations: int) -> Any:
    from qlambda.sim.offline import offline_gaps

    best = result.best
    chosen = best.candidate if best is not None else None
    if chosen is None:
        click.echo("note: no configuration meets the objectives; no offline bound", err=True)
        return None
    policies = sorted({e.candidate.policy for e in result.evaluations})
    try:
        return offline_gaps(base, chosen.C, chosen.Q, policies, jobs, iterations)
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None


def _print(result: PlanResult, top: int) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console() if Console().is_terminal else Console(width=80)
    base = result.base
    wanted = [o.text for o in result.objectives]
    if result.max_drop is not None:
        wanted.append(f"drop<={result.max_drop:.3g}")
    console.print(
        f"[bold]plan[/]: {len(result.evaluations)} configurations, "
        f"{result.replications} replications in {result.wall_seconds:.1f} s"
    )
    arrivals = (
        base.arrivals.describe()
        if base.arrivals is not None
        else f"Poisson, {3600 / base.interarrival[0]:.3g} jobs/h"
    )
    console.print(
        f"arrivals: {arrivals}; S={base.S[0]:.0e} ops/s; "
        f"{_span(base.duration)} per replication, warm-up {_span(base.warmup)}"
    )
    console.print(
        f"objectives: {', '.join(wanted)}, each at {result.confidence:.0%} confidence; "
        f"prices: {result.prices.describe()}"
    )
    table_data = result.table()
    limit = result.objectives[0].limit if result.objectives else 0.0
    unit, scale = ("h", 3600.0) if limit >= 7200 else ("min", 60.0) if limit >= 120 else ("s", 1.0)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("#", "policy", "C", "Q", "C_max/\nQ_max", "cost/h"):
        table.add_column(header, justify="left" if header == "policy" else "right", no_wrap=True)
    first = result.objectives[0].text if result.objectives else None
    if first is not None:
        table.add_column(f"{result.objectives[0].metric}\n{unit}", justify="right", no_wrap=True)
        table.add_column("\nbound", justify="right", no_wrap=True)
    table.add_column("drop\n%", justify="right", no_wrap=True)
    table.add_column("\nbound", justify="right", no_wrap=True)
    table.add_column("reps", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for index, row in enumerate(table_data.head(top).to_dict(orient="records"), start=1):
        cells = [
            str(index),
            row["policy"],
            str(row["C"]),
            str(row["Q"]),
            f"{_limit_cell(row['C_max'])}/{_limit_cell(row['Q_max'])}",
            f"{row['cost_per_hour']:.4g}",
        ]
        if first is not None:
            cells += [_time_cell(row[first], scale), _time_cell(row[f"{first} upper"], scale)]
        cells += [
            f"{100 * row['drop']:.2f}",
            _percent_cell(row["drop upper"]),
            str(row["reps"]),
            row["verdict"],
        ]
        table.add_row(*cells)
    console.print(table)
    console.print(
        "bound: one-sided upper confidence bound of the mean over replications; "
        "meets: every bound within its objective",
        style="dim",
    )
    best = result.best
    if best is None:
        console.print(
            "[red]no configuration meets the objectives[/]: widen the search (--C, --Q, "
            "--q-max), relax the objectives, or add replications (--max-reps)"
        )
        return
    c = best.candidate
    console.print(
        f"[bold green]cheapest[/]: policy={c.policy} C={c.C} Q={c.Q} "
        f"C_max={_limit_cell(c.c_max)} Q_max={_limit_cell(c.q_max)}, "
        f"{best.mean_cost:.4g} an hour"
    )


def _limit_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    return str(int(value))


def _time_cell(seconds: float, scale: float) -> str:
    return "inf" if not math.isfinite(seconds) else f"{seconds / scale:.3g}"


def _percent_cell(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{100 * max(value, 0.0):.2f}"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _as_json(result: PlanResult, written: list[Path], bound: Any) -> dict[str, Any]:
    best = result.best
    records = [
        {key: _finite(value) for key, value in row.items()}
        for row in result.table().to_dict(orient="records")
    ]
    return {
        "configurations": len(result.evaluations),
        "replications": result.replications,
        "wall_seconds": result.wall_seconds,
        "best": None if best is None else {**best.candidate.__dict__, "cost": best.mean_cost},
        "table": records,
        "offline": None
        if bound is None
        else [{k: _finite(v) for k, v in r.items()} for r in bound.to_records()],
        "files": [str(p) for p in written],
    }


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: None stands for both (no limit, no bound)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)
