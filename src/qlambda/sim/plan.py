"""Capacity planning: the cheapest platform that meets service objectives, by simulation.

Every candidate configuration (policy, C, Q, C_max, Q_max) is simulated with the
compiled engine on the same replications: replication r draws its jobs and
arrivals from seed ``seed + r`` whatever the configuration (common random
numbers), so differences between configurations are differences of the
configurations, not of the luck of the draw. Each objective is a statistic of
one replication (its p95 job time, its drop probability); a configuration
*meets* an objective when the one-sided upper confidence bound of its mean over
replications (Student t) is within the limit, *fails* when the lower bound is
beyond it, and is *unsure* otherwise. Unsure configurations that could still be
the cheapest get more replications (doubling, up to a maximum); those still
unsure then are not counted as meeting.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES
from qlambda.sim.model import HOUR, Platform
from qlambda.sim.runner import WorkloadSource, make_workload, resolve_source
from qlambda.sim.scenario import Scenario, parse_seconds
from qlambda.sim.workload import Streams, Workload

SLO_FORMS = "p50<30m, p95<2h, p99<=1d, mean<45m, median<1h (times: s, m, h, d)"
PRICE_KEYS = ("worker-hour", "qpu-hour", "qpu-second", "shot")
MEETS, FAILS, UNSURE = "meets", "fails", "unsure"


@dataclass(frozen=True)
class Objective:
    """A bound on a statistic of the job times of one replication, in seconds."""

    metric: str  # "mean" or "pNN" (a percentile)
    limit: float
    inclusive: bool = False

    @property
    def text(self) -> str:
        return f"{self.metric}{'<=' if self.inclusive else '<'}{_short_time(self.limit)}"

    def value(self, job_times: np.ndarray[Any, Any]) -> float:
        if len(job_times) == 0:
            return math.inf
        if self.metric == "mean":
            return float(np.mean(job_times))
        return float(np.percentile(job_times, float(self.metric[1:])))


def parse_slo(text: str) -> Objective:
    """``p95<2h``, ``p99<=1d``, ``mean<30m``, ``median<1h``; anything else is refused."""
    match = re.fullmatch(r"\s*(mean|median|p\d{1,2}(?:\.\d+)?)\s*(<=|<)\s*(\S+)\s*", text)
    if not match:
        raise ConfigurationError(f"cannot read objective {text!r}; accepted: {SLO_FORMS}")
    metric, operator, limit_text = match.groups()
    metric = "p50" if metric == "median" else metric
    if metric != "mean" and not 0 < float(metric[1:]) < 100:
        raise ConfigurationError(f"percentile in {text!r} must be between 0 and 100")
    try:
        limit = parse_seconds(limit_text)
    except ConfigurationError:
        raise ConfigurationError(
            f"cannot read the time {limit_text!r} in objective {text!r}; accepted: {SLO_FORMS}"
        ) from None
    if not limit > 0 or not math.isfinite(limit):
        raise ConfigurationError(f"the limit of objective {text!r} must be a time > 0")
    return Objective(metric, limit, operator == "<=")


def parse_fraction(text: str, what: str = "--max-drop") -> float:
    """``1%``, ``0.5 %`` or ``0.01``: a fraction in [0, 1]."""
    value = text.strip()
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ConfigurationError(
            f"cannot read {what} {text!r}; accepted: a percentage (1%) or a fraction (0.01)"
        ) from None
    if not 0 <= number <= 1:
        raise ConfigurationError(f"{what} must be between 0 and 100%, got {text!r}")
    return number


@dataclass(frozen=True)
class Prices:
    """What capacity and use cost; any currency, all per hour of operation.

    ``worker_hour`` per classical worker and ``qpu_hour`` per QPU provisioned (paid
    whether busy or not); ``qpu_second`` per QPU second used and ``shot`` per shot
    (``shots_per_task`` shots per quantum task) for pay-per-use QPUs.
    """

    worker_hour: float = 0.0
    qpu_hour: float = 0.0
    qpu_second: float = 0.0
    shot: float = 0.0
    shots_per_task: int = 0

    def __post_init__(self) -> None:
        for name in ("worker_hour", "qpu_hour", "qpu_second", "shot"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"price {name} must be finite and >= 0, got {value}")
        if self.shot > 0 and self.shots_per_task < 1:
            raise ConfigurationError(
                "a price per shot needs the shots of each quantum task: --shots-per-task N"
            )

    @classmethod
    def parse(cls, items: Sequence[str], shots_per_task: int = 0) -> Prices:
        """``worker-hour=0.5``, ``qpu-hour=96``, ``qpu-second=1.6``, ``shot=0.00145``."""
        values: dict[str, float] = {}
        for item in items:
            key, sep, amount = item.partition("=")
            key = key.strip().lower().replace("_", "-")
            if not sep or key not in PRICE_KEYS:
                raise ConfigurationError(
                    f"cannot read price {item!r}; accepted: "
                    + ", ".join(f"{k}=AMOUNT" for k in PRICE_KEYS)
                )
            try:
                values[key.replace("-", "_")] = float(amount)
            except ValueError:
                raise ConfigurationError(f"price {item!r}: {amount!r} is not a number") from None
        return cls(**values, shots_per_task=shots_per_task)

    @property
    def given(self) -> bool:
        return any((self.worker_hour, self.qpu_hour, self.qpu_second, self.shot))

    def per_hour(self, C: int, Q: int, qpu_seconds: float, tasks: float) -> float:
        """Cost of one hour with ``qpu_seconds`` QPU time and ``tasks`` quantum tasks used."""
        return (
            C * self.worker_hour
            + Q * self.qpu_hour
            + qpu_seconds * self.qpu_second
            + tasks * self.shots_per_task * self.shot
        )

    def describe(self) -> str:
        parts = [
            f"{value:g}/{label}"
            for value, label in (
                (self.worker_hour, "worker-hour"),
                (self.qpu_hour, "QPU-hour"),
                (self.qpu_second, "QPU-second"),
                (self.shot, "shot"),
            )
            if value
        ]
        if self.shot:
            parts[-1] += f" ({self.shots_per_task} shots a task)"
        return ", ".join(parts) or "no prices"


@dataclass(frozen=True)
class Candidate:
    """One configuration of the platform."""

    policy: str
    C: int
    Q: int
    c_max: int | None
    q_max: int | None

    def platform(self, base: Scenario) -> Platform:
        return Platform(
            C=self.C,
            S=float(base.S[0]),
            Q=self.Q,
            c_max=self.c_max,
            q_max=self.q_max,
            duration=float(base.duration),
            warmup=float(base.warmup),
            policy=self.policy,
        )


@dataclass(frozen=True)
class SearchSpace:
    """Every combination of these values is a candidate."""

    C: tuple[int, ...] = (1, 2, 3, 4)
    Q: tuple[int, ...] = tuple(range(1, 9))
    policies: tuple[str, ...] = ("fifo", "random", "priority")
    c_max: tuple[int | None, ...] = (40,)
    q_max: tuple[int | None, ...] = (10, 20, None)

    def __post_init__(self) -> None:
        for name in ("C", "Q", "policies", "c_max", "q_max"):
            if not getattr(self, name):
                raise ConfigurationError(f"the search needs at least one value of {name}")
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown:
            raise ConfigurationError(
                f"unknown policy {unknown[0]!r}; accepted: {', '.join(POLICIES)}"
            )
        for name in ("C", "Q"):
            if any(not isinstance(v, int) or v < 1 for v in getattr(self, name)):
                raise ConfigurationError(f"{name} values must be positive integers")
        for name in ("c_max", "q_max"):
            if any(
                v is not None and (not isinstance(v, int) or v < 1) for v in getattr(self, name)
            ):
                raise ConfigurationError(f"{name} values must be positive integers or none")

    def candidates(self) -> list[Candidate]:
        return [
            Candidate(policy, c, q, c_max, q_max)
            for policy, c, q, c_max, q_max in product(
                self.policies, self.C, self.Q, self.c_max, self.q_max
            )
        ]


@dataclass
class Evaluation:
    """A candidate's per-replication measurements (one list entry per seed)."""

    candidate: Candidate
    seeds: list[int] = field(default_factory=list)
    objectives: dict[str, list[float]] = field(default_factory=dict)
    drop: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    qpu_utilisation: list[float] = field(default_factory=list)

    @property
    def reps(self) -> int:
        return len(self.seeds)

    @property
    def mean_cost(self) -> float:
        return float(np.mean(self.cost)) if self.cost else math.inf

    def add(self, seed: int, row: dict[str, Any]) -> None:
        self.seeds.append(seed)
        for key, value in row["objectives"].items():
            self.objectives.setdefault(key, []).append(value)
        self.drop.append(row["drop"])
        self.cost.append(row["cost"])
        self.qpu_utilisation.append(row["qpu_utilisation"])


def confidence_bounds(values: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """(mean, lower, upper): one-sided Student-t bounds of the mean at ``confidence``."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0:
        return math.nan, -math.inf, math.inf
    if np.isinf(data).any():  # a replication where no job completed
        return math.inf, math.inf if np.isinf(data).all() else -math.inf, math.inf
    mean = float(data.mean())
    if len(data) < 2:
        return mean, -math.inf, math.inf
    spread = float(data.std(ddof=1)) / math.sqrt(len(data))
    margin = float(stats.t.ppf(confidence, len(data) - 1)) * spread
    return mean, mean - margin, mean + margin


def _verdict(values: Sequence[float], limit: float, inclusive: bool, confidence: float) -> str:
    _, lower, upper = confidence_bounds(values, confidence)
    if upper < limit or (inclusive and upper <= limit):
        return MEETS
    if lower > limit or (not inclusive and lower >= limit):
        return FAILS
    return UNSURE


@dataclass
class PlanResult:
    """Every candidate's evaluation, and what was asked of them."""

    evaluations: list[Evaluation]
    objectives: tuple[Objective, ...]
    max_drop: float | None
    confidence: float
    prices: Prices
    base: Scenario
    wall_seconds: float = 0.0

    def verdict(self, evaluation: Evaluation) -> str:
        verdicts = [
            _verdict(evaluation.objectives[o.text], o.limit, o.inclusive, self.confidence)
            for o in self.objectives
        ]
        if self.max_drop is not None:
            verdicts.append(_verdict(evaluation.drop, self.max_drop, True, self.confidence))
        if FAILS in verdicts:
            return FAILS
        return UNSURE if UNSURE in verdicts else MEETS

    @property
    def best(self) -> Evaluation | None:
        """The cheapest configuration that meets every objective (ties: fewer drops, faster)."""
        meeting = [e for e in self.evaluations if self.verdict(e) == MEETS]
        return min(meeting, key=_rank_key) if meeting else None

    @property
    def replications(self) -> int:
        return sum(e.reps for e in self.evaluations)

    def table(self) -> pd.DataFrame:
        """One row per candidate: meeting ones first, cheapest first."""
        rows = []
        for e in self.evaluations:
            c = e.candidate
            row: dict[str, Any] = {
                "policy": c.policy,
                "C": c.C,
                "Q": c.Q,
                "C_max": c.c_max,
                "Q_max": c.q_max,
                "reps": e.reps,
                "cost_per_hour": e.mean_cost,
                "verdict": self.verdict(e),
            }
            for o in self.objectives:
                mean, _, upper = confidence_bounds(e.objectives[o.text], self.confidence)
                row[o.text] = mean
                row[f"{o.text} upper"] = upper
            mean, _, upper = confidence_bounds(e.drop, self.confidence)
            row["drop"] = mean
            row["drop upper"] = upper
            row["qpu_utilisation"] = float(np.mean(e.qpu_utilisation))
            rows.append(row)
        table = pd.DataFrame(rows)
        order = {MEETS: 0, UNSURE: 1, FAILS: 2}
        table["_order"] = table["verdict"].map(order)
        keys = ["_order", "cost_per_hour", "drop"] + [o.text for o in self.objectives[:1]]
        table = table.sort_values(keys, kind="stable", ignore_index=True)
        return table.drop(columns="_order")

    def pareto(self) -> list[Evaluation]:
        """Configurations no other one beats on both cost and the first objective's mean,
        among those that meet the drop objective (dropping jobs is not a way to be fast)."""
        if not self.objectives:
            return []
        key = self.objectives[0].text
        pool = [
            e
            for e in self.evaluations
            if self.max_drop is None
            or _verdict(e.drop, self.max_drop, True, self.confidence) != FAILS
        ]
        pool.sort(key=lambda e: (e.mean_cost, float(np.mean(e.objectives[key]))))
        front: list[Evaluation] = []
        best = math.inf
        for e in pool:
            value = float(np.mean(e.objectives[key]))
            if value < best:
                front.append(e)
                best = value
        return front


def _rank_key(e: Evaluation) -> tuple[float, float, float]:
    """Cheapest first; among equally cheap ones, fewest drops, then fastest."""
    first = next(iter(e.objectives.values()), [0.0])
    return (round(e.mean_cost, 9), round(float(np.mean(e.drop)), 12), float(np.mean(first)))


# --- one replication of one candidate -----------------------------------------------------


def measure(
    candidate: Candidate,
    base: Scenario,
    workload: Workload,
    seed: int,
    objectives: Sequence[Objective],
    prices: Prices,
) -> dict[str, Any]:
    """Simulate one candidate on one replication's workload; its per-replication figures."""
    from qlambda.sim.fast import simulate_fast

    platform = candidate.platform(base)
    outcome = simulate_fast(platform, workload, Streams.from_seed(seed).policy)
    jobs = outcome.completed_jobs
    times = outcome.completion_times - workload.arrival[jobs]
    hours = outcome.window / HOUR
    iterations = workload.iterations[jobs]
    if workload.per_iteration:
        qpu = float(
            sum(
                workload.iter_quantum_time[
                    workload.iter_offset[j] : workload.iter_offset[j + 1]
                ].sum()
                for j in jobs
            )
        )
    else:
        qpu = float((workload.quantum_time[jobs] * iterations).sum())
    tasks = float(iterations.sum())
    return {
        "objectives": {o.text: o.value(times) for o in objectives},
        "drop": outcome.drop_probability,
        "cost": prices.per_hour(candidate.C, candidate.Q, qpu / hours, tasks / hours),
        "qpu_utilisation": qpu / (outcome.window * candidate.Q),
    }


_STATE: dict[str, Any] = {}


def _setup(base: Scenario, source: WorkloadSource, objectives: Any, prices: Prices) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    _STATE.clear()
    _STATE.update(base=base, source=source, objectives=objectives, prices=prices, cache={})


def _workload(seed: int) -> Workload:
    cache: dict[int, Workload] = _STATE["cache"]
    if seed not in cache:
        base: Scenario = _STATE["base"]
        cache[seed] = make_workload(base, _STATE["source"], float(base.interarrival[0]), seed)[0]
    return cache[seed]


def _evaluate(candidate: Candidate, seeds: Sequence[int]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (
            seed,
            measure(
                candidate,
                _STATE["base"],
                _workload(seed),
                seed,
                _STATE["objectives"],
                _STATE["prices"],
            ),
        )
        for seed in seeds
    ]


def plan(
    base: Scenario,
    space: SearchSpace,
    objectives: Sequence[Objective],
    max_drop: float | None = None,
    prices: Prices | None = None,
    *,
    confidence: float = 0.95,
    min_reps: int = 5,
    max_reps: int = 40,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PlanResult:
    """Evaluate every candidate of ``space`` on ``base``'s workload and arrivals.

    ``base`` gives everything but the platform: traces or distributions, qubits,
    priorities, S (its first value), arrivals (its first interarrival, or its
    arrival process), duration, warm-up and the first seed. ``progress(done,
    total)`` is called as replications finish (the total grows when unsure
    candidates get more replications).
    """
    if not objectives and max_drop is None:
        raise ConfigurationError("give at least one objective: --slo and/or --max-drop")
    if not 0.5 <= confidence < 1:
        raise ConfigurationError(f"confidence must be in [0.5, 1), got {confidence}")
    if min_reps < 2 or max_reps < min_reps:
        raise ConfigurationError(
            f"need 2 <= min_reps <= max_reps, got min_reps={min_reps}, max_reps={max_reps}"
        )
    if len(base.S) > 1 or len(base.interarrival) > 1:
        raise ConfigurationError("a plan takes one S and one arrival rate")
    prices = prices or Prices()
    started = time.perf_counter()
    source = resolve_source(base)
    candidates = space.candidates()
    evaluations = {c: Evaluation(c) for c in candidates}
    result = PlanResult(
        list(evaluations.values()), tuple(objectives), max_drop, confidence, prices, base
    )
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigurationError(f"jobs must be >= 1, got {workers}")
    done = 0
    total = len(candidates) * min_reps
    with _Executor(workers, base, source, tuple(objectives), prices) as execute:
        batch = {c: list(range(base.seed, base.seed + min_reps)) for c in candidates}
        while batch:
            for candidate, rows in execute(batch):
                for seed, row in rows:
                    evaluations[candidate].add(seed, row)
                done += len(rows)
                if progress is not None:
                    progress(done, total)
            batch = _refine(result, max_reps)
            total += sum(len(seeds) for seeds in batch.values())
    result.wall_seconds = time.perf_counter() - started
    return result


def _refine(result: PlanResult, max_reps: int) -> dict[Candidate, list[int]]:
    """More replications for unsure candidates that could be cheaper than the best one."""
    best = result.best
    ceiling = best.mean_cost if best is not None else math.inf
    batch = {}
    for e in result.evaluations:
        if e.reps >= max_reps or result.verdict(e) != UNSURE or e.mean_cost > ceiling:
            continue
        start = result.base.seed + e.reps
        batch[e.candidate] = list(range(start, result.base.seed + min(2 * e.reps, max_reps)))
    return batch


class _Executor:
    """Runs batches of (candidate, seeds) in this process or in a pool of processes."""

    def __init__(
        self,
        workers: int,
        base: Scenario,
        source: WorkloadSource,
        objectives: tuple[Objective, ...],
        prices: Prices,
    ) -> None:
        self.workers = workers
        self.args = (base, source, objectives, prices)
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Callable[[dict[Candidate, list[int]]], Iterator[Any]]:
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, initializer=_setup, initargs=self.args
            )
        else:
            _setup(*self.args)
        return self.run

    def run(self, batch: dict[Candidate, list[int]]) -> Iterator[Any]:
        if self.pool is None:
            for candidate, seeds in batch.items():
                yield candidate, _evaluate(candidate, seeds)
            return
        futures = {self.pool.submit(_evaluate, c, seeds): c for c, seeds in batch.items()}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


# --- outputs ----------------------------------------------------------------------------


def serve_config(result: PlanResult, backend_kind: str = "aer", device: str | None = None) -> str:
    """The best configuration as a ``qlambda serve --config`` TOML file."""
    best = result.best
    if best is None:
        raise ConfigurationError("no configuration meets the objectives: nothing to write")
    c = best.candidate
    wanted = ", ".join([o.text for o in result.objectives] + _drop_text(result))
    lines = [
        "# Written by qlambda plan: the cheapest configuration found that meets",
        f"# {wanted} at {result.confidence:.0%} confidence",
        f"# ({best.reps} simulated replications, cost {best.mean_cost:.4g} an hour at "
        f"{result.prices.describe()}).",
        f"# {c.Q} QPU slot(s): one [[backend]] each. Replace kind (and device) by the",
        "# QPUs you run; keep one task at a time per backend for the plan to hold.",
        "",
        "[platform]",
        f"workers = {c.C}",
        f'policy = "{c.policy}"',
    ]
    if c.c_max is not None:
        lines.append(f"c_max = {c.c_max}")
    if c.q_max is not None:
        lines.append(f"q_max = {c.q_max}")
    for index in range(c.Q):
        lines += ["", "[[backend]]", f'name = "qpu-{index + 1}"', f'kind = "{backend_kind}"']
        if device is not None:
            lines.append(f'device = "{device}"')
    return "\n".join(lines) + "\n"


def _drop_text(result: PlanResult) -> list[str]:
    return [] if result.max_drop is None else [f"drop<={result.max_drop:.3g}"]


def pareto_figure(result: PlanResult, path: str | Path) -> Path:
    """Cost against the first objective's statistic, the Pareto front and the winner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    if not result.objectives:
        raise ConfigurationError("the Pareto figure needs a job-time objective (--slo)")
    objective = result.objectives[0]
    key = objective.text
    hours = 3600.0
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = {
        MEETS: ("tab:green", "o", "meets every objective"),
        UNSURE: ("tab:orange", "^", "unsure at this confidence"),
        FAILS: ("tab:gray", "x", "fails an objective"),
    }
    for verdict, (color, marker, label) in styles.items():
        chosen = [e for e in result.evaluations if result.verdict(e) == verdict]
        if not chosen:
            continue
        ax.scatter(
            [e.mean_cost for e in chosen],
            [max(float(np.mean(e.objectives[key])), 1.0) / hours for e in chosen],
            c=color,
            marker=marker,
            s=18,
            alpha=0.7,
            label=f"{label} ({len(chosen)})",
        )
    front = result.pareto()
    if front:
        ax.step(
            [e.mean_cost for e in front],
            [float(np.mean(e.objectives[key])) / hours for e in front],
            where="post",
            color="tab:blue",
            lw=1.2,
            label="Pareto front (drop objective met)",
        )
    ax.axhline(objective.limit / hours, color="tab:red", ls="--", lw=1, label=f"{key}")
    best = result.best
    if best is not None:
        c = best.candidate
        ax.scatter(
            [best.mean_cost],
            [float(np.mean(best.objectives[key])) / hours],
            marker="*",
            s=220,
            c="gold",
            edgecolors="black",
            zorder=5,
            label=f"cheapest: {c.policy} C={c.C} Q={c.Q} "
            f"C_max={_limit(c.c_max)} Q_max={_limit(c.q_max)}",
        )
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("cost per hour")
    ax.set_ylabel(f"job time {objective.metric} (h, mean over replications)")
    ax.set_title(f"{len(result.evaluations)} configurations, {result.replications} replications")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _limit(value: int | None) -> str:
    return "none" if value is None else str(value)


def _short_time(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and (seconds / size) == round(seconds / size, 3):
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
