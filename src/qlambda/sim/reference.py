"""The reference engine: the model of Cicconetti [1] (Sec. II-C) written to be read.

It uses the platform's own policy and admission classes and keeps the
remaining work of every classical task, so processor sharing is plain
arithmetic (each of A tasks is served at S*min(1, C/A)) at O(A) per event.
It is the specification the compiled engine (``qlambda.sim.fast``) is tested
against, event for event and draw for draw.

Events at the same instant are handled in a fixed order: quantum completions
(lowest QPU first), then a classical completion, then an arrival. A quantum
task that finds an idle QPU starts at once (lowest idle QPU) without asking the
policy; the policy is asked each time a QPU frees and tasks are waiting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qlambda.policy import AdmissionControl, PendingTask, Policy, RandomSource, make_policy
from qlambda.sim.model import Outcome, Platform
from qlambda.sim.workload import Workload

PRE, CLASSICAL, QUANTUM, POST = "pre", "classical", "quantum", "post"


@dataclass(frozen=True, slots=True)
class WaitingTask:
    """What a policy sees of a waiting quantum task."""

    arrival: float
    priority: float
    job_id: int
    estimated_duration: float


class SlotZeroFIFO:
    """FIFO as the published implementation does it: take slot 0 of the pending vector."""

    name: ClassVar[str] = "fifo"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        if not pending:
            raise ValueError("a policy needs at least one pending task to select from")
        return 0


def policy_for(platform: Platform) -> Policy:
    if platform.reference_compat and platform.policy == "fifo":
        return SlotZeroFIFO()
    return make_policy(platform.policy)


def simulate_reference(
    platform: Platform, workload: Workload, policy_rng: np.random.Generator
) -> Outcome:
    """Run one replication; ``policy_rng`` feeds the policy's draws."""
    workload = platform.overhead.apply(workload, platform.S)
    policy = policy_for(platform)
    admission = AdmissionControl(platform.c_max, platform.q_max)
    stage: dict[int, str] = {}
    iteration: dict[int, int] = {}
    remaining: dict[int, float] = {}  # active classical tasks: job -> operations left
    pending: list[WaitingTask] = []
    running: list[tuple[float, int] | None] = [None] * platform.Q  # (end time, job)
    completed_jobs: list[int] = []
    completion_times: list[float] = []
    out = Outcome(np.empty(0, np.int64), np.empty(0))
    out.drop_from_start = platform.reference_compat
    warmup, end = platform.warmup, platform.duration
    now = 0.0
    next_job = 0

    def start_classical(job: int, operations: float, what: str) -> None:
        stage[job] = what
        remaining[job] = operations

    def start_quantum(job: int) -> None:
        stage[job] = QUANTUM
        duration = workload.quantum_time_of(job, iteration[job])
        for qpu, slot in enumerate(running):
            if slot is None:
                running[qpu] = (now + duration, job)
                return
        pending.append(WaitingTask(now, float(workload.priority[job]), job, duration))

    def after_iteration_or_pre(job: int) -> None:
        if iteration[job] < workload.iterations[job]:
            start_classical(job, workload.classical_ops_of(job, iteration[job]), CLASSICAL)
        else:
            start_classical(job, float(workload.post_ops[job]), POST)

    while True:
        rate = platform.S * min(1.0, platform.C / len(remaining)) if remaining else 0.0
        t_classical, classical_job = math.inf, -1
        for job, left in remaining.items():
            finish = now + max(left, 0.0) / rate
            if finish < t_classical:
                t_classical, classical_job = finish, job
        t_quantum, qpu_done, quantum_job = math.inf, -1, -1
        for qpu, slot in enumerate(running):
            if slot is not None and slot[0] < t_quantum:
                (t_quantum, quantum_job), qpu_done = slot, qpu
        t_arrival = workload.arrival[next_job] if next_job < workload.size else math.inf
        t_next = min(t_quantum, t_classical, t_arrival)
        if t_next > end:
            break
        span = t_next - max(now, warmup)
        if span > 0:
            out.classical_area += len(remaining) * span
            busy = sum(slot is not None for slot in running)
            out.quantum_area += (busy + len(pending)) * span
        for job in remaining:
            remaining[job] -= rate * (t_next - now)
        now = t_next
        out.events += 1

        if t_quantum == t_next:
            job = quantum_job
            running[qpu_done] = None
            if pending:
                chosen = pending_pop(pending, policy.select(pending, policy_rng), platform)
                running[qpu_done] = (now + chosen.estimated_duration, chosen.job_id)
            iteration[job] += 1
            after_iteration_or_pre(job)
        elif t_classical == t_next:
            job = classical_job
            del remaining[job]
            if stage[job] == PRE:
                after_iteration_or_pre(job)
            elif stage[job] == CLASSICAL:
                start_quantum(job)
            else:
                out.completed_total += 1
                if now >= warmup:
                    completed_jobs.append(job)
                    completion_times.append(now)
        else:
            job = next_job
            next_job += 1
            observed = now >= warmup
            out.arrived_total += 1
            out.arrived += observed
            if admission.decide(len(remaining), len(pending)).accepted:
                out.accepted_total += 1
                out.accepted += observed
                iteration[job] = 0
                start_classical(job, float(workload.pre_ops[job]), PRE)
            else:
                out.dropped_total += 1
                out.dropped += observed

    span = end - max(now, warmup)
    if span > 0:
        out.classical_area += len(remaining) * span
        out.quantum_area += (sum(s is not None for s in running) + len(pending)) * span
    out.window = end - warmup
    out.in_flight = len(remaining) + len(pending) + sum(s is not None for s in running)
    out.completed_jobs = np.asarray(completed_jobs, dtype=np.int64)
    out.completion_times = np.asarray(completion_times, dtype=np.float64)
    return out


def pending_pop(pending: list[WaitingTask], index: int, platform: Platform) -> WaitingTask:
    """Remove the chosen task: keeping arrival order, or by swap-remove in compat mode."""
    if platform.reference_compat:
        chosen = pending[index]
        pending[index] = pending[-1]
        pending.pop()
        return chosen
    return pending.pop(index)
