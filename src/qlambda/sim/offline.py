"""The offline optimum: the multiserver problem of [1] (Sec. II-B, eqs. 1-3), solved exactly.

Given every job's arrival time and every task's duration in advance (a clairvoyant
scheduler), find the activation time of each task so that a job's tasks run in
sequence, at most C classical and Q quantum tasks run at once, and the total
delay (eq. 1: the sum over jobs of last task's end minus arrival) is least.
Classical tasks last ``operations / S`` (eq. 5 with no sharing), quantum tasks
their drawn QPU time; tasks are never interrupted (intervals are half-open:
one task may start when another ends).

It is solved as a mixed-integer program with HiGHS (``scipy.optimize.milp``):
start times are continuous; for each pair of same-kind tasks of different jobs,
a binary says which starts first and, with capacity above one, another says
whether the first is still running when the second starts; each task may start
while at most capacity - 1 earlier-started tasks still run (the largest overlap
of intervals is reached at some interval's start, so this bounds every instant).

The same instance is then scheduled online, by the platform's policies, in the
same model (classical tasks first come first served on C workers, quantum tasks
by the policy on Q QPUs, as the simulator does): the gap between the two is how
much any scheduler, even one that knew the future, could gain.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qlambda.core import ConfigurationError
from qlambda.policy import POLICIES, make_policy
from qlambda.sim.reference import WaitingTask
from qlambda.sim.workload import Workload

CLASSICAL, QUANTUM = "c", "q"
DEFAULT_TIME_LIMIT = 60.0


@dataclass(frozen=True)
class Instance:
    """Jobs known in advance: arrival, priority and the sequence of (kind, seconds)."""

    arrival: tuple[float, ...]
    tasks: tuple[tuple[tuple[str, float], ...], ...]
    C: int
    Q: int
    priority: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.arrival) != len(self.tasks):
            raise ConfigurationError("an instance needs one task list per arrival")
        if self.C < 1 or self.Q < 1:
            raise ConfigurationError(f"need C >= 1 and Q >= 1, got C={self.C}, Q={self.Q}")
        for job in self.tasks:
            for kind, duration in job:
                if kind not in (CLASSICAL, QUANTUM) or not duration >= 0:
                    raise ConfigurationError(f"bad task ({kind!r}, {duration}) in an instance")
        if not self.priority:
            object.__setattr__(self, "priority", tuple(1.0 for _ in self.arrival))

    @property
    def jobs(self) -> int:
        return len(self.arrival)

    def capacity(self, kind: str) -> int:
        return self.C if kind == CLASSICAL else self.Q

    def horizon(self) -> float:
        """No task of a left-justified schedule starts later than this."""
        return max(self.arrival, default=0.0) + sum(d for job in self.tasks for _, d in job)

    @classmethod
    def from_workload(
        cls,
        workload: Workload,
        S: float,
        C: int,
        Q: int,
        jobs: int,
        max_iterations: int | None = None,
    ) -> Instance:
        """The busiest ``jobs`` consecutive jobs of a workload (the shortest span of
        arrivals; the platform taken empty before them), each with at most
        ``max_iterations`` iterations: pre, (classical, quantum) per iteration, post."""
        if jobs < 1:
            raise ConfigurationError("an offline instance needs at least one job")
        count = min(jobs, workload.size)
        if count < 1:
            raise ConfigurationError("the workload has no job in its horizon")
        # the busiest stretch: the ``count`` consecutive arrivals closest together
        spans = workload.arrival[count - 1 :] - workload.arrival[: workload.size - count + 1]
        first = int(np.argmin(spans))
        tasks = []
        for j in range(first, first + count):
            n = int(workload.iterations[j])
            if max_iterations is not None:
                n = min(n, max_iterations)
            sequence = [(CLASSICAL, float(workload.pre_ops[j]) / S)]
            for k in range(n):
                sequence.append((CLASSICAL, workload.classical_ops_of(j, k) / S))
                sequence.append((QUANTUM, workload.quantum_time_of(j, k)))
            sequence.append((CLASSICAL, float(workload.post_ops[j]) / S))
            tasks.append(tuple(sequence))
        chosen = slice(first, first + count)
        return cls(
            arrival=tuple(float(t) for t in workload.arrival[chosen] - workload.arrival[first]),
            tasks=tuple(tasks),
            C=C,
            Q=Q,
            priority=tuple(float(p) for p in workload.priority[chosen]),
        )


@dataclass
class Schedule:
    """Start times per job and task, and what they cost."""

    starts: list[list[float]]
    instance: Instance
    status: str = "feasible"  # optimal | time limit | feasible (online) | infeasible
    lower_bound: float = math.nan  # the solver's bound on the optimum (= it when optimal)
    seconds: float = 0.0

    @property
    def delays(self) -> list[float]:
        out = []
        for job, starts in enumerate(self.starts):
            tasks = self.instance.tasks[job]
            end = starts[-1] + tasks[-1][1] if tasks else self.instance.arrival[job]
            out.append(end - self.instance.arrival[job])
        return out

    @property
    def total_delay(self) -> float:
        return float(sum(self.delays))

    def check(self, tolerance: float = 1e-6) -> None:
        """Raise if the schedule breaks eq. 2 (arrivals, sequence, capacities)."""
        inst = self.instance
        intervals: dict[str, list[tuple[float, float]]] = {CLASSICAL: [], QUANTUM: []}
        for job, starts in enumerate(self.starts):
            ready = inst.arrival[job]
            for (kind, duration), start in zip(inst.tasks[job], starts, strict=True):
                if start < ready - tolerance:
                    raise AssertionError(f"job {job}: a task starts at {start} before {ready}")
                ready = start + duration
                if duration > 0:
                    intervals[kind].append((start, start + duration))
        for kind, spans in intervals.items():
            for start, _ in spans:
                running = sum(
                    1 for s, e in spans if s <= start + tolerance and e > start + tolerance
                )
                if running > inst.capacity(kind):
                    raise AssertionError(f"{running} {kind} tasks run at {start}")


# --- the exact solution -------------------------------------------------------------------


def solve_offline(instance: Instance, time_limit: float = DEFAULT_TIME_LIMIT) -> Schedule:
    """Minimum total delay (eq. 1) under eq. 2, as a MILP solved by HiGHS.

    The best online schedule bounds the optimum from above, which bounds how late
    each task of an optimal schedule can start: each start lies in a window
    [earliest, latest], pairs whose windows cannot overlap need no variable, and
    every big-M is as small as the two windows allow. The solver's schedule is
    then rebuilt exactly by the serial generation scheme in its order of starts
    (no task starts later, and no tolerance of the solver remains in it).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    started = time.perf_counter()
    incumbent = min(
        (online_schedule(instance, name) for name in ("fifo", "priority", "lifo")),
        key=lambda schedule: schedule.total_delay,
    )
    # a hair of slack: rounding must not make the incumbent's own schedule infeasible
    model = _Model(instance, incumbent.total_delay * (1 + 1e-9) + 1e-9)
    matrix = None
    if model.rows:
        r, c, v = [], [], []
        for i, row in enumerate(model.rows):
            for column, value in row.items():
                r.append(i)
                c.append(column)
                v.append(value)
        size = (len(model.rows), len(model.integer))
        matrix = coo_array((v, (r, c)), shape=size).tocsr()
    result = milp(
        model.cost,
        integrality=np.asarray(model.integer),
        bounds=Bounds(model.var_lower, model.var_upper),
        constraints=[LinearConstraint(matrix, model.lower, model.upper)]
        if matrix is not None
        else [],
        options={"time_limit": float(time_limit), "mip_rel_gap": 1e-9, "disp": False},
    )
    seconds = time.perf_counter() - started
    if result.x is None:  # the time limit came before any solution: the incumbent stands
        schedule = Schedule(incumbent.starts, instance, status="time limit", seconds=seconds)
        schedule.lower_bound = _bound(result, model.constant)
        return schedule
    solved = [
        [float(result.x[model.of[(job, k)]]) for k in range(len(tasks))]
        for job, tasks in enumerate(instance.tasks)
    ]
    order = sorted(
        ((start, job, k) for job, starts in enumerate(solved) for k, start in enumerate(starts)),
    )
    starts = _serial_starts(instance, [job for _, job, _ in order])
    schedule = Schedule(starts, instance, seconds=seconds)
    if incumbent.total_delay < schedule.total_delay:  # only by the solver's tolerances
        schedule.starts = incumbent.starts
    schedule.status = "optimal" if result.status == 0 else "time limit"
    schedule.lower_bound = (
        schedule.total_delay if result.status == 0 else _bound(result, model.constant)
    )
    return schedule


def _bound(result: Any, constant: float) -> float:
    bound = getattr(result, "mip_dual_bound", None)
    return float(bound) + constant if bound is not None and math.isfinite(bound) else -math.inf


class _Model:
    """The MILP's arrays: start variables first, then binaries."""

    def __init__(self, instance: Instance, upper_bound: float) -> None:
        self.instance = instance
        self.of: dict[tuple[int, int], int] = {}
        earliest: list[float] = []
        latest: list[float] = []
        work = [sum(d for _, d in tasks) for tasks in instance.tasks]
        for job, tasks in enumerate(instance.tasks):
            # an optimal schedule's total delay is at most the incumbent's, and every
            # other job takes at least its own work: this job ends by then
            finish = instance.arrival[job] + upper_bound - (sum(work) - work[job])
            done = 0.0
            for k, (_, duration) in enumerate(tasks):
                self.of[(job, k)] = len(earliest)
                earliest.append(instance.arrival[job] + done)
                done += duration
                latest.append(finish - (work[job] - done) - duration)
        self.earliest, self.latest = earliest, latest
        self.var_lower = list(earliest)
        self.var_upper = [max(late, early) for late, early in zip(latest, earliest, strict=True)]
        self.integer = [0] * len(earliest)
        self.rows: list[dict[int, float]] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        for job, tasks in enumerate(instance.tasks):
            for k in range(1, len(tasks)):  # a_k >= a_{k-1} + tau_{k-1}
                pair = {self.of[(job, k)]: 1.0, self.of[(job, k - 1)]: -1.0}
                self._add(pair, tasks[k - 1][1], math.inf)
        self.cost = np.zeros(0)
        self.constant = 0.0
        for kind in (CLASSICAL, QUANTUM):
            self._capacity(kind)
        self.cost = np.zeros(len(self.integer))
        for job, tasks in enumerate(instance.tasks):
            if tasks:
                self.cost[self.of[(job, len(tasks) - 1)]] = 1.0
                self.constant += tasks[-1][1] - instance.arrival[job]

    def _add(self, row: dict[int, float], low: float, high: float) -> None:
        self.rows.append(row)
        self.lower.append(low)
        self.upper.append(high)

    def _binary(self) -> int:
        self.integer.append(1)
        self.var_lower.append(0.0)
        self.var_upper.append(1.0)
        return len(self.integer) - 1

    def _capacity(self, kind: str) -> None:
        inst = self.instance
        members = [
            self.of[(job, k)]
            for job, tasks in enumerate(inst.tasks)
            for k, (what, duration) in enumerate(tasks)
            if what == kind and duration > 0
        ]
        job_of = {self.of[key]: key[0] for key in self.of}
        length = {
            self.of[(j, k)]: d
            for j, tasks in enumerate(inst.tasks)
            for k, (_, d) in enumerate(tasks)
        }
        cap = inst.capacity(kind)
        if cap >= len({job_of[m] for m in members}):
            return  # a job runs one task at a time: this capacity never binds
        es, ls = self.earliest, self.latest
        # first[(a, b)]: 1 if a starts no later than b: a constant or a binary variable
        first: dict[tuple[int, int], int | tuple[int, int]] = {}
        running_at: dict[int, dict[int, float]] = {m: {} for m in members}
        for a, b in itertools.combinations(members, 2):
            ta, tb = length[a], length[b]
            if job_of[a] == job_of[b]:  # in sequence already; a comes first (listed first)
                first[(a, b)] = 1
                continue
            if ls[a] + ta <= es[b]:  # a always ends before b can start
                first[(a, b)] = 1
                continue
            if ls[b] + tb <= es[a]:
                first[(a, b)] = 0
                continue
            y = self._binary()
            first[(a, b)] = (y, 1)
            self._add({a: 1.0, b: -1.0, y: ls[a] - es[b]}, -math.inf, ls[a] - es[b])
            self._add({b: 1.0, a: -1.0, y: -(ls[b] - es[a])}, -math.inf, 0.0)
            m_ab, m_ba = ls[a] + ta - es[b], ls[b] + tb - es[a]
            if cap == 1:
                self._add({a: 1.0, b: -1.0, y: m_ab}, -math.inf, m_ab - ta)
                self._add({b: 1.0, a: -1.0, y: -m_ba}, -math.inf, -tb)
                continue
            z_ab, z_ba = self._binary(), self._binary()  # the first still runs at the other's start
            self._add({a: 1.0, b: -1.0, y: m_ab, z_ab: -m_ab}, -math.inf, m_ab - ta)
            self._add({b: 1.0, a: -1.0, y: -m_ba, z_ba: -m_ba}, -math.inf, -tb)
            self._add({z_ab: 1.0, y: -1.0}, -math.inf, 0.0)
            self._add({z_ba: 1.0, y: 1.0}, -math.inf, 1.0)
            running_at[b][z_ab] = 1.0
            running_at[a][z_ba] = 1.0
        for row in running_at.values():
            if row:
                self._add(row, -math.inf, cap - 1)
        if cap > 1:  # ties: "starts no later" must be an order (no cycle of three)
            for a, b, c in itertools.combinations(members, 3):
                terms: dict[int, float] = {}
                constant = 0.0
                for u, v, sign in ((a, b, 1.0), (b, c, 1.0), (a, c, -1.0)):
                    entry = first[(u, v)]
                    if isinstance(entry, tuple):
                        terms[entry[0]] = terms.get(entry[0], 0.0) + sign
                    else:
                        constant += sign * entry
                if terms:  # first(a,b) + first(b,c) - first(a,c) in [0, 1]
                    self._add(terms, -constant, 1.0 - constant)


# --- brute force, for tiny instances ------------------------------------------------------


def brute_force(instance: Instance) -> float:
    """Least total delay over every schedule the serial generation scheme builds.

    Each precedence-feasible order of the tasks is scheduled task by task at the
    earliest time its job and its resource allow (gaps left earlier may be used);
    for a regular objective such as eq. 1 these active schedules contain an
    optimal one. Exponential: a few jobs of a few tasks only.
    """
    counts = [len(tasks) for tasks in instance.tasks]
    if sum(counts) > 14:
        raise ConfigurationError("brute force is for tiny instances (at most 14 tasks)")
    best = math.inf
    order = [job for job, n in enumerate(counts) for _ in range(n)]
    for permutation in _multiset_permutations(order):
        best = min(best, _serial_schedule(instance, permutation))
    return best


def _multiset_permutations(items: list[int]) -> Any:
    ordered = sorted(items)
    yield list(ordered)
    while True:  # next lexicographic permutation
        i = len(ordered) - 2
        while i >= 0 and ordered[i] >= ordered[i + 1]:
            i -= 1
        if i < 0:
            return
        j = len(ordered) - 1
        while ordered[j] <= ordered[i]:
            j -= 1
        ordered[i], ordered[j] = ordered[j], ordered[i]
        ordered[i + 1 :] = reversed(ordered[i + 1 :])
        yield list(ordered)


def _serial_schedule(instance: Instance, jobs_in_order: Sequence[int]) -> float:
    starts = _serial_starts(instance, jobs_in_order)
    return Schedule(starts, instance).total_delay


def _serial_starts(instance: Instance, jobs_in_order: Sequence[int]) -> list[list[float]]:
    """Schedule the next task of each job named, in turn, as early as possible."""
    placed: dict[str, list[tuple[float, float]]] = {CLASSICAL: [], QUANTUM: []}
    starts: list[list[float]] = [[] for _ in range(instance.jobs)]
    ready = list(instance.arrival)
    for job in jobs_in_order:
        kind, duration = instance.tasks[job][len(starts[job])]
        start = _earliest(placed[kind], ready[job], duration, instance.capacity(kind))
        if duration > 0:
            placed[kind].append((start, start + duration))
        starts[job].append(start)
        ready[job] = start + duration
    return starts


def _earliest(spans: list[tuple[float, float]], release: float, duration: float, cap: int) -> float:
    if duration <= 0:
        return release
    for start in sorted({release, *(e for _, e in spans if e > release)}):
        end = start + duration
        points = [start, *(s for s, _ in spans if start < s < end)]
        if all(sum(1 for s, e in spans if s <= p < e) < cap for p in points):
            return start
    raise AssertionError("unreachable: after every task has ended the resource is free")


# --- online policies, same model ----------------------------------------------------------


def online_schedule(instance: Instance, policy: str, seed: int = 0) -> Schedule:
    """What an online scheduler does with the same jobs: classical tasks first come first
    served on C workers, quantum tasks picked by ``policy`` when a QPU frees (a task
    that finds an idle QPU starts at once), as in the simulator; same-instant events:
    quantum completions, then classical completions, then arrivals."""
    chooser = make_policy(policy)
    rng = np.random.default_rng(seed)
    starts: list[list[float]] = [[] for _ in range(instance.jobs)]
    events: list[tuple[float, int, int, int]] = []  # (time, order, sequence, job)
    counter = itertools.count()
    for job, arrival in enumerate(instance.arrival):
        heapq.heappush(events, (arrival, 2, next(counter), job))
    free = {CLASSICAL: instance.C, QUANTUM: instance.Q}
    workers: deque[int] = deque()
    pending: list[WaitingTask] = []

    def begin(job: int, now: float) -> None:
        kind, duration = instance.tasks[job][len(starts[job])]
        starts[job].append(now)
        if duration > 0:
            free[kind] -= 1
        order = 0 if kind == QUANTUM else 1
        heapq.heappush(events, (now + duration, order, next(counter), job))

    def ready(job: int, now: float) -> None:
        if len(starts[job]) == len(instance.tasks[job]):
            return
        kind, duration = instance.tasks[job][len(starts[job])]
        if duration <= 0 or free[kind] > 0:
            begin(job, now)
        elif kind == CLASSICAL:
            workers.append(job)
        else:
            pending.append(WaitingTask(now, instance.priority[job], job, duration))

    while events:
        now, order, _, job = heapq.heappop(events)
        if order == 2:
            ready(job, now)
            continue
        kind, duration = instance.tasks[job][len(starts[job]) - 1]
        if duration > 0:
            free[kind] += 1
            if kind == QUANTUM and pending:
                begin(pending.pop(chooser.select(pending, rng)).job_id, now)
            elif kind == CLASSICAL and workers:
                begin(workers.popleft(), now)
        ready(job, now)
    return Schedule(starts, instance, status="online")


# --- the report -----------------------------------------------------------------------------


@dataclass
class GapReport:
    """The optimum of one instance and each online policy's total delay on it."""

    optimum: Schedule
    online: dict[str, Schedule] = field(default_factory=dict)

    def gap(self, policy: str) -> float:
        """How much more delay the policy has than the optimum (fraction of the optimum)."""
        best = self.optimum.total_delay
        return (self.online[policy].total_delay - best) / best if best > 0 else 0.0

    def to_records(self) -> list[dict[str, Any]]:
        jobs = self.optimum.instance.jobs
        records = [
            {
                "schedule": "offline optimum",
                "total_delay": self.optimum.total_delay,
                "mean_job_time": self.optimum.total_delay / jobs,
                "gap": 0.0,
                "status": self.optimum.status,
                "lower_bound": self.optimum.lower_bound,
                "solver_seconds": self.optimum.seconds,
            }
        ]
        for name, schedule in self.online.items():
            records.append(
                {
                    "schedule": name,
                    "total_delay": schedule.total_delay,
                    "mean_job_time": schedule.total_delay / jobs,
                    "gap": self.gap(name),
                    "status": "online",
                    "lower_bound": None,
                    "solver_seconds": None,
                }
            )
        return records


def gaps(
    instance: Instance,
    policies: Sequence[str] = tuple(POLICIES),
    seed: int = 0,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> GapReport:
    optimum = solve_offline(instance, time_limit)
    report = GapReport(optimum)
    for name in policies:
        report.online[name] = online_schedule(instance, name, seed)
    return report


def offline_gaps(
    base: Any,
    C: int,
    Q: int,
    policies: Sequence[str],
    jobs: int,
    iterations: int,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> GapReport:
    """The gap report of the busiest ``jobs`` jobs of ``base``'s first replication."""
    from qlambda.sim.runner import make_workload, resolve_source

    source = resolve_source(base)
    workload, _ = make_workload(base, source, float(base.interarrival[0]), base.seed)
    instance = Instance.from_workload(workload, float(base.S[0]), C, Q, jobs, iterations)
    return gaps(instance, policies, base.seed, time_limit)


def print_gaps(report: GapReport) -> None:
    """The report as a table that reads at 80 columns."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console() if Console().is_terminal else Console(width=80)
    inst = report.optimum.instance
    tasks = sum(len(t) for t in inst.tasks)
    console.print(
        f"[bold]offline bound[/]: {inst.jobs} jobs, {tasks} tasks, C={inst.C}, Q={inst.Q}; "
        f"HiGHS: {report.optimum.status} in {report.optimum.seconds:.1f} s"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("schedule", "total delay s", "mean job s", "gap to optimum"):
        table.add_column(header, justify="left" if header == "schedule" else "right")
    for record in report.to_records():
        table.add_row(
            str(record["schedule"]),
            f"{record['total_delay']:.4g}",
            f"{record['mean_job_time']:.4g}",
            f"{100 * record['gap']:+.1f}%",
        )
    console.print(table)
    if report.online and max(report.gap(name) for name in report.online) <= 1e-9:
        console.print(
            "note: in this stretch the online policies are already optimal (little or no "
            "waiting): more jobs or iterations (--offline-jobs, --offline-iterations) or a "
            "burstier recording give the solver something to gain",
            style="dim",
        )
    if report.optimum.status != "optimal":
        console.print(
            f"[yellow]note[/]: the solver stopped at its time limit; the optimum lies "
            f"between {report.optimum.lower_bound:.4g} s and the schedule shown",
        )
