"""Helpers shared by the simulator tests: hand-built workloads and platforms."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from qlambda.sim.model import Platform
from qlambda.sim.workload import OPS_PER_TRACE_SECOND, Workload


def build_workload(
    arrival: Sequence[float],
    pre: Sequence[float],
    iterations: Sequence[int],
    classical: Sequence[float],
    quantum: Sequence[float],
    post: Sequence[float],
    priority: Sequence[float] | None = None,
    qubits: Sequence[int] | None = None,
) -> Workload:
    """A workload from per-job values in seconds (classical work timed at 1e9 ops/s)."""
    n = len(arrival)
    empty = np.empty(0)
    return Workload(
        arrival=np.asarray(arrival, float),
        qubits=np.asarray(qubits if qubits is not None else [4] * n, np.int64),
        priority=np.asarray(priority if priority is not None else [1.0] * n, float),
        iterations=np.asarray(iterations, np.int64),
        pre_ops=np.asarray(pre, float) * OPS_PER_TRACE_SECOND,
        classical_ops=np.asarray(classical, float) * OPS_PER_TRACE_SECOND,
        quantum_time=np.asarray(quantum, float),
        post_ops=np.asarray(post, float) * OPS_PER_TRACE_SECOND,
        iter_offset=np.empty(0, np.int64),
        iter_classical_ops=empty,
        iter_quantum_time=empty,
    )


def platform(**changes: object) -> Platform:
    values: dict[str, object] = dict(
        C=1, S=1e9, Q=1, c_max=None, q_max=None, duration=1000.0, warmup=0.0, policy="fifo"
    )
    values.update(changes)
    return Platform(**values)  # type: ignore[arg-type]


@pytest.fixture
def workload_of() -> Callable[..., Workload]:
    return build_workload


@pytest.fixture
def platform_of() -> Callable[..., Platform]:
    return platform
