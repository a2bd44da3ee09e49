"""The compiled engine's policy picks against the classes of qlambda.policy, draw for draw."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qlambda.policy import make_policy
from qlambda.sim.fast import POLICY_CODES, _select


@dataclass(frozen=True)
class View:
    arrival: float
    priority: float
    job_id: int
    estimated_duration: float | None = None


@pytest.mark.parametrize("name", sorted(POLICY_CODES))
def test_compiled_pick_equals_class_pick(name):
    sizes = np.random.default_rng(1)
    class_rng, kernel_rng = np.random.default_rng(42), np.random.default_rng(42)
    policy = make_policy(name)
    for trial in range(400):
        count = int(sizes.integers(1, 40))
        # arrivals with ties, priorities from the small preset's set
        arrival = np.round(sizes.uniform(0, 10, count), 0)
        priority = sizes.choice([1.0, 2.0, 4.0], count)
        views = [View(a, p, i) for i, (a, p) in enumerate(zip(arrival, priority, strict=True))]
        expected = policy.select(views, class_rng)
        got = _select(POLICY_CODES[name], arrival, priority, count, kernel_rng)
        assert got == expected, (trial, name)
    # both generators consumed the same number of draws
    assert class_rng.random() == kernel_rng.random()
