"""The compiled engine: the reference model at millions of events per second.

Same events, same order, same policy draws as ``qlambda.sim.reference``; two
changes make it fast. Processor sharing uses a virtual clock: every active
classical task receives the same service, so a task that starts when the clock
reads V with W operations finishes when it reads V + W; a heap of those tags
gives the next departure in O(log A), and the clock advances by
S*min(1, C/A)*dt between events (it restarts at 0 whenever no task is active,
which keeps tags small and precise). And the loop is compiled with numba.
Policies are re-implemented here by integer code, with the same floating-point
operations as the classes in ``qlambda.policy``; tests hold them to those
classes draw for draw.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from qlambda.core.arrays import FloatArray, IntArray
from qlambda.sim.model import Outcome, Platform
from qlambda.sim.workload import Workload

POLICY_CODES: dict[str, int] = {"fifo": 0, "lifo": 1, "random": 2, "weighted": 3, "priority": 4}
SLOT_ZERO_FIFO = 5  # reference_compat FIFO: the first slot of the pending vector
NO_LIMIT = np.iinfo(np.int64).max

_STAGE_PRE, _STAGE_CLASSICAL, _STAGE_QUANTUM, _STAGE_POST = 0, 1, 2, 3
# Counter slots returned by the kernel.
_ARRIVED, _ACCEPTED, _DROPPED, _ARRIVED_T, _ACCEPTED_T, _DROPPED_T = 0, 1, 2, 3, 4, 5
_COMPLETED_T, _IN_FLIGHT, _EVENTS = 6, 7, 8


@njit(cache=True)
def _before(tag: FloatArray, seq: IntArray, i: int, j: int) -> bool:
    before: bool = tag[i] < tag[j] or (tag[i] == tag[j] and seq[i] < seq[j])
    return before


@njit(cache=True)
def _swap(tag: FloatArray, seq: IntArray, job: IntArray, i: int, j: int) -> None:
    tag[i], tag[j] = tag[j], tag[i]
    seq[i], seq[j] = seq[j], seq[i]
    job[i], job[j] = job[j], job[i]


@njit(cache=True)
def _heap_push(
    tag: FloatArray,
    seq: IntArray,
    job: IntArray,
    size: int,
    new_tag: float,
    new_seq: int,
    new_job: int,
) -> int:
    i = size
    tag[i], seq[i], job[i] = new_tag, new_seq, new_job
    while i > 0:
        parent = (i - 1) // 2
        if _before(tag, seq, parent, i):
            break
        _swap(tag, seq, job, parent, i)
        i = parent
    return size + 1


@njit(cache=True)
def _heap_pop(tag: FloatArray, seq: IntArray, job: IntArray, size: int) -> int:
    size -= 1
    _swap(tag, seq, job, 0, size)
    i = 0
    while True:
        left, right, smallest = 2 * i + 1, 2 * i + 2, i
        if left < size and _before(tag, seq, left, smallest):
            smallest = left
        if right < size and _before(tag, seq, right, smallest):
            smallest = right
        if smallest == i:
            return size
        _swap(tag, seq, job, i, smallest)
        i = smallest


@njit(cache=True)
def _select(
    code: int, arrival: FloatArray, priority: FloatArray, count: int, rng: np.random.Generator
) -> int:
    if code == 0:
        best = 0
        for i in range(1, count):
            if arrival[i] < arrival[best]:
                best = i
        return best
    if code == 1:
        best = count - 1
        for i in range(count - 2, -1, -1):
            if arrival[i] > arrival[best]:
                best = i
        return best
    if code == 2:
        return min(int(rng.random() * count), count - 1)
    if code == 3:
        total = 0.0
        for i in range(count):
            total += priority[i]
        threshold = rng.random() * total
        cumulative = 0.0
        for i in range(count):
            cumulative += priority[i]
            if threshold < cumulative:
                return i
        return count - 1
    if code == 4:
        best = 0
        for i in range(1, count):
            if priority[i] > priority[best] or (
                priority[i] == priority[best] and arrival[i] < arrival[best]
            ):
                best = i
        return best
    return 0


@njit(cache=True)
def _kernel(
    arrival: FloatArray,
    priority: FloatArray,
    iterations: IntArray,
    pre_ops: FloatArray,
    classical_ops: FloatArray,
    quantum_time: FloatArray,
    post_ops: FloatArray,
    iter_offset: IntArray,
    iter_classical_ops: FloatArray,
    iter_quantum_time: FloatArray,
    per_iteration: bool,
    C: float,
    S: float,
    Q: int,
    c_max: int,
    q_max: int,
    duration: float,
    warmup: float,
    code: int,
    swap_remove: bool,
    rng: np.random.Generator,
) -> tuple[IntArray, FloatArray, IntArray, float, float]:
    n = arrival.shape[0]
    stage = np.zeros(n, np.int8)
    done_iterations = np.zeros(n, np.int64)
    h_tag = np.empty(n)
    h_seq = np.empty(n, np.int64)
    h_job = np.empty(n, np.int64)
    h_size = 0
    started = 0
    virtual = 0.0
    p_job = np.empty(n, np.int64)
    p_arrival = np.empty(n)
    p_priority = np.empty(n)
    p_count = 0
    q_end = np.full(Q, np.inf)
    q_job = np.full(Q, -1, np.int64)
    busy = 0
    done_job = np.empty(n, np.int64)
    done_time = np.empty(n)
    done_count = 0
    counters = np.zeros(9, np.int64)
    classical_area = 0.0
    quantum_area = 0.0
    now = 0.0
    next_job = 0

    while True:
        t_classical = np.inf
        rate = 0.0
        if h_size > 0:
            rate = S * min(1.0, C / h_size)
            left = h_tag[0] - virtual
            t_classical = now + max(left, 0.0) / rate
        t_quantum = np.inf
        qpu_done = -1
        for k in range(Q):
            if q_end[k] < t_quantum:
                t_quantum = q_end[k]
                qpu_done = k
        t_arrival = arrival[next_job] if next_job < n else np.inf
        t_next = min(t_quantum, t_classical, t_arrival)
        if t_next > duration:
            break
        span = t_next - max(now, warmup)
        if span > 0:
            classical_area += h_size * span
            quantum_area += (busy + p_count) * span
        virtual += rate * (t_next - now)
        now = t_next
        counters[_EVENTS] += 1

        job = -1
        start_next = False
        if t_quantum == t_next:
            job = q_job[qpu_done]
            q_end[qpu_done] = np.inf
            q_job[qpu_done] = -1
            busy -= 1
            if p_count > 0:
                pick = _select(code, p_arrival, p_priority, p_count, rng)
                chosen = p_job[pick]
                if swap_remove:
                    last = p_count - 1
                    p_job[pick], p_arrival[pick] = p_job[last], p_arrival[last]
                    p_priority[pick] = p_priority[last]
                else:
                    for i in range(pick, p_count - 1):
                        p_job[i] = p_job[i + 1]
                        p_arrival[i] = p_arrival[i + 1]
                        p_priority[i] = p_priority[i + 1]
                p_count -= 1
                if per_iteration:
                    length = iter_quantum_time[iter_offset[chosen] + done_iterations[chosen]]
                else:
                    length = quantum_time[chosen]
                q_end[qpu_done] = now + length
                q_job[qpu_done] = chosen
                busy += 1
            done_iterations[job] += 1
            start_next = True
        elif t_classical == t_next:
            job = h_job[0]
            h_size = _heap_pop(h_tag, h_seq, h_job, h_size)
            if h_size == 0:
                virtual = 0.0
            if stage[job] == _STAGE_PRE:
                start_next = True
            elif stage[job] == _STAGE_CLASSICAL:
                stage[job] = _STAGE_QUANTUM
                if per_iteration:
                    length = iter_quantum_time[iter_offset[job] + done_iterations[job]]
                else:
                    length = quantum_time[job]
                if busy < Q:
                    for k in range(Q):
                        if q_job[k] < 0:
                            q_end[k] = now + length
                            q_job[k] = job
                            busy += 1
                            break
                else:
                    p_job[p_count] = job
                    p_arrival[p_count] = now
                    p_priority[p_count] = priority[job]
                    p_count += 1
            else:
                counters[_COMPLETED_T] += 1
                if now >= warmup:
                    done_job[done_count] = job
                    done_time[done_count] = now
                    done_count += 1
        else:
            job = next_job
            next_job += 1
            observed = now >= warmup
            counters[_ARRIVED_T] += 1
            if observed:
                counters[_ARRIVED] += 1
            if h_size < c_max and p_count < q_max:
                counters[_ACCEPTED_T] += 1
                if observed:
                    counters[_ACCEPTED] += 1
                stage[job] = _STAGE_PRE
                h_size = _heap_push(
                    h_tag, h_seq, h_job, h_size, virtual + pre_ops[job], started, job
                )
                started += 1
            else:
                counters[_DROPPED_T] += 1
                if observed:
                    counters[_DROPPED] += 1

        if start_next:  # after the preparation or a quantum task: next classical task
            if done_iterations[job] < iterations[job]:
                stage[job] = _STAGE_CLASSICAL
                if per_iteration:
                    work = iter_classical_ops[iter_offset[job] + done_iterations[job]]
                else:
                    work = classical_ops[job]
            else:
                stage[job] = _STAGE_POST
                work = post_ops[job]
            h_size = _heap_push(h_tag, h_seq, h_job, h_size, virtual + work, started, job)
            started += 1

    span = duration - max(now, warmup)
    if span > 0:
        classical_area += h_size * span
        quantum_area += (busy + p_count) * span
    counters[_IN_FLIGHT] = h_size + p_count + busy
    return done_job[:done_count], done_time[:done_count], counters, classical_area, quantum_area


def simulate_fast(
    platform: Platform, workload: Workload, policy_rng: np.random.Generator
) -> Outcome:
    """Run one replication with the compiled kernel; same contract as the reference."""
    code = POLICY_CODES[platform.policy]
    if platform.reference_compat and platform.policy == "fifo":
        code = SLOT_ZERO_FIFO
    w = platform.overhead.apply(workload, platform.S)
    jobs, times, counters, classical_area, quantum_area = _kernel(
        w.arrival,
        w.priority,
        w.iterations,
        w.pre_ops,
        w.classical_ops,
        w.quantum_time,
        w.post_ops,
        w.iter_offset,
        w.iter_classical_ops,
        w.iter_quantum_time,
        w.per_iteration,
        float(platform.C),
        float(platform.S),
        int(platform.Q),
        NO_LIMIT if platform.c_max is None else int(platform.c_max),
        NO_LIMIT if platform.q_max is None else int(platform.q_max),
        float(platform.duration),
        float(platform.warmup),
        code,
        bool(platform.reference_compat),
        policy_rng,
    )
    return Outcome(
        completed_jobs=jobs,
        completion_times=times,
        arrived=int(counters[_ARRIVED]),
        accepted=int(counters[_ACCEPTED]),
        dropped=int(counters[_DROPPED]),
        arrived_total=int(counters[_ARRIVED_T]),
        accepted_total=int(counters[_ACCEPTED_T]),
        dropped_total=int(counters[_DROPPED_T]),
        completed_total=int(counters[_COMPLETED_T]),
        in_flight=int(counters[_IN_FLIGHT]),
        events=int(counters[_EVENTS]),
        classical_area=float(classical_area),
        quantum_area=float(quantum_area),
        window=float(platform.duration - platform.warmup),
        drop_from_start=bool(platform.reference_compat),
    )
